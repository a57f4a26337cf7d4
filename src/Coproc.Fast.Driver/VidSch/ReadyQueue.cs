using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// The basic model's ready queue (seed 001 §3.3, §13): DMA buffers ordered by priority (higher first), then by
/// round — each context's n-th outstanding buffer is in round n, so equals interleave App1, App2, App3, App1, …
/// (Fig. 2, §5.5) — then by submission order. Insertion keeps the order (behaviour 2); a context's buffers stay in
/// submission order because their rounds increase.
/// </summary>
/// <remarks>
/// Stored as the sorted window [_head, _tail) of one array so a scheduling decision is O(1) in the count
/// (docs/performance.md goals 6–7): taking the head only advances <c>_head</c>, and an insert shifts only the buffers
/// that sort after the new one — none in the common round-robin case, where the next buffer of a context goes to
/// the end of its round. The window is slid back to 0 when it reaches the array's end (amortised O(1) per take);
/// the array grows only when the queue holds more buffers than ever before.
/// </remarks>
internal sealed class ReadyQueue
{
    private DmaBuffer?[] _items = new DmaBuffer?[16];
    private int _head, _tail;

    public int Count => _tail - _head;

    public DmaBuffer this[int index] =>
        (uint)index < (uint)Count ? _items[_head + index]! : throw new ArgumentOutOfRangeException(nameof(index));

    public void Insert(DmaBuffer buffer)
    {
        // Binary search for the first buffer that sorts after the new one (equals keep insertion order).
        int lo = _head, hi = _tail;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Compare(_items[mid]!, buffer) <= 0) lo = mid + 1;
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
        _items[lo] = buffer;
        _tail++;
    }

    public bool TryTake(out DmaBuffer buffer)
    {
        if (_head == _tail) { buffer = null!; return false; }
        buffer = _items[_head]!;
        _items[_head++] = null; // drop the reference: the buffer may go back to its pool
        if (_head == _tail) _head = _tail = 0;
        return true;
    }

    /// <summary>Takes the first buffer (in queue order) that <paramref name="accept"/> admits.</summary>
    public bool TryTakeFirst(Func<DmaBuffer, bool> accept, out DmaBuffer buffer)
    {
        for (int i = _head; i < _tail; i++)
        {
            var b = _items[i]!;
            if (!accept(b)) continue;
            if (i == _head) return TryTake(out buffer);
            Array.Copy(_items, i + 1, _items, i, _tail - i - 1);
            _items[--_tail] = null;
            buffer = b;
            return true;
        }
        buffer = null!;
        return false;
    }

    /// <summary>Removes every buffer of <paramref name="owner"/> into <paramref name="removed"/>, in queue order.</summary>
    public void RemoveOwnedBy(object owner, List<DmaBuffer> removed)
    {
        int w = _head;
        for (int r = _head; r < _tail; r++)
        {
            var b = _items[r]!;
            if (ReferenceEquals(b.Owner, owner)) removed.Add(b);
            else _items[w++] = b;
        }
        Array.Clear(_items, w, _tail - w);
        _tail = w;
        if (_head == _tail) _head = _tail = 0;
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
            var bigger = new DmaBuffer?[_items.Length * 2];
            Array.Copy(_items, _head, bigger, 0, count);
            _items = bigger;
        }
        _head = 0;
        _tail = count;
    }

    private static int Compare(DmaBuffer a, DmaBuffer b)
    {
        int c = b.Priority.CompareTo(a.Priority);
        if (c != 0) return c;
        c = a.Round.CompareTo(b.Round);
        return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
    }
}
