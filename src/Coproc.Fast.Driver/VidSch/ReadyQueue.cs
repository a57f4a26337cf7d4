using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// Where a ready item stands (seed 001 §5.5, §13): higher <paramref name="Priority"/> first; among equals the lower
/// <paramref name="Round"/> first — the turn the item belongs to, so equals interleave App1, App2, App3, App1, … (Fig. 2)
/// — then the lower <paramref name="Sequence"/> (arrival, or a fixed tie-break). The one ready order of every engine
/// back end the kernel drives: the kernel path orders DMA buffers by it, the run-list back end the contexts it lists.
/// </summary>
internal readonly record struct ReadyKey(int Priority, ulong Round, long Sequence) : IComparable<ReadyKey>
{
    public int CompareTo(ReadyKey other)
    {
        int c = other.Priority.CompareTo(Priority);
        if (c != 0) return c;
        c = Round.CompareTo(other.Round);
        return c != 0 ? c : Sequence.CompareTo(other.Sequence);
    }
}

/// <summary>How a ready queue finds an item's <see cref="ReadyKey"/> (a struct, so the lookup is inlined per item type).</summary>
internal interface IReadyKeyOf<in T>
{
    static abstract ReadyKey KeyOf(T item);
}

/// <summary>
/// The ready queue of the kernel's engine back ends (seed 001 §3.3, §13), ordered by <see cref="ReadyKey"/>: the basic
/// model's DMA buffers (<see cref="ReadyQueue"/>: each context's n-th outstanding buffer is in round n, then submission
/// order, so a context's buffers stay in submission order — behaviour 2) and the run-list back end's candidates (round:
/// the context's last turn, so the least recently served equal is listed first; RunListScheduler.RunList.cs). Insertion
/// keeps the order; equal keys keep insertion order.
/// </summary>
/// <remarks>
/// Stored as the sorted window [_head, _tail) of one array so a scheduling decision is O(1) in the count
/// (docs/performance.md goals 6–7): taking the head only advances <c>_head</c>, and an insert shifts only the items
/// that sort after the new one — none in the common round-robin case, where the next buffer of a context goes to
/// the end of its round. The window is slid back to 0 when it reaches the array's end (amortised O(1) per take);
/// the array grows only when the queue holds more items than ever before.
/// </remarks>
internal class ReadyQueue<T, TKey> where TKey : IReadyKeyOf<T>
{
    private T[] _items = new T[16];
    private int _head, _tail;

    public int Count => _tail - _head;

    public T this[int index] =>
        (uint)index < (uint)Count ? _items[_head + index] : throw new ArgumentOutOfRangeException(nameof(index));

    public void Insert(T item)
    {
        // Binary search for the first item that sorts after the new one (equals keep insertion order).
        var key = TKey.KeyOf(item);
        int lo = _head, hi = _tail;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (TKey.KeyOf(_items[mid]).CompareTo(key) <= 0) lo = mid + 1;
            else hi = mid;
        }
        if (_tail == _items.Length)
        {
            int shift = _head;
            MakeRoom();
            lo -= shift - _head;
        }
        int after = _tail - lo;
        if (after > 0) Array.Copy(_items, lo, _items, lo + 1, after);
        _items[lo] = item;
        _tail++;
    }

    public bool TryTake(out T item)
    {
        if (_head == _tail) { item = default!; return false; }
        item = _items[_head];
        _items[_head++] = default!; // drop the reference: a buffer may go back to its pool
        if (_head == _tail) _head = _tail = 0;
        return true;
    }

    /// <summary>Takes the first item (in queue order) that <paramref name="accept"/> admits.</summary>
    public bool TryTakeFirst(Func<T, bool> accept, out T item)
    {
        for (int i = _head; i < _tail; i++)
        {
            var b = _items[i];
            if (!accept(b)) continue;
            if (i == _head) return TryTake(out item);
            Array.Copy(_items, i + 1, _items, i, _tail - i - 1);
            _items[--_tail] = default!;
            item = b;
            return true;
        }
        item = default!;
        return false;
    }

    /// <summary>Removes every item <paramref name="match"/> selects into <paramref name="removed"/>, in queue order.</summary>
    public void RemoveWhere<TState>(TState state, Func<T, TState, bool> match, List<T> removed)
    {
        int w = _head;
        for (int r = _head; r < _tail; r++)
        {
            var b = _items[r];
            if (match(b, state)) removed.Add(b);
            else _items[w++] = b;
        }
        Array.Clear(_items, w, _tail - w);
        _tail = w;
        if (_head == _tail) _head = _tail = 0;
    }

    /// <summary>Empties the queue (the array is kept).</summary>
    public void Clear()
    {
        Array.Clear(_items, _head, _tail - _head);
        _head = _tail = 0;
    }

    // The window reached the array's end: slide it back to 0 if at least a quarter is free, else double the array.
    private void MakeRoom()
    {
        int count = Count;
        if (_head >= _items.Length / 4)
        {
            Array.Copy(_items, _head, _items, 0, count);
            Array.Clear(_items, count, _tail - count);
        }
        else
        {
            var bigger = new T[_items.Length * 2];
            Array.Copy(_items, _head, bigger, 0, count);
            _items = bigger;
        }
        _head = 0;
        _tail = count;
    }
}

/// <summary>The basic model's ready queue: DMA buffers by (priority, the context's round, submission order).</summary>
internal sealed class ReadyQueue : ReadyQueue<DmaBuffer, ReadyQueue.BufferKey>
{
    internal readonly struct BufferKey : IReadyKeyOf<DmaBuffer>
    {
        public static ReadyKey KeyOf(DmaBuffer b) => new(b.Priority, b.Round, b.Sequence);
    }

    private static readonly Func<DmaBuffer, object, bool> s_ownedBy = static (b, owner) => ReferenceEquals(b.Owner, owner);

    /// <summary>Removes every buffer of <paramref name="owner"/> into <paramref name="removed"/>, in queue order.</summary>
    public void RemoveOwnedBy(object owner, List<DmaBuffer> removed) => RemoveWhere(owner, s_ownedBy, removed);
}
