using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// The basic model's ready queue (seed 001 §3.3, §13): DMA buffers ordered by priority (higher first), then by
/// round — each context's n-th outstanding buffer is in round n, so equals interleave App1, App2, App3, App1, …
/// (Fig. 2, §5.5) — then by submission order. Insertion keeps the order (behaviour 2); a context's buffers stay in
/// submission order because their rounds increase.
/// </summary>
internal sealed class ReadyQueue
{
    private readonly List<DmaBuffer> _items = new();

    public int Count => _items.Count;

    public DmaBuffer this[int index] => _items[index];

    public void Insert(DmaBuffer buffer)
    {
        int lo = 0, hi = _items.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Compare(_items[mid], buffer) <= 0) lo = mid + 1;
            else hi = mid;
        }
        _items.Insert(lo, buffer);
    }

    public bool TryTake(out DmaBuffer buffer)
    {
        if (_items.Count == 0) { buffer = null!; return false; }
        buffer = _items[0];
        _items.RemoveAt(0);
        return true;
    }

    /// <summary>Removes every buffer of <paramref name="owner"/> into <paramref name="removed"/>.</summary>
    public void RemoveOwnedBy(object owner, List<DmaBuffer> removed)
    {
        for (int i = _items.Count - 1; i >= 0; i--)
        {
            if (!ReferenceEquals(_items[i].Owner, owner)) continue;
            removed.Add(_items[i]);
            _items.RemoveAt(i);
        }
        removed.Reverse();
    }

    private static int Compare(DmaBuffer a, DmaBuffer b)
    {
        int c = b.Priority.CompareTo(a.Priority);
        if (c != 0) return c;
        c = a.Round.CompareTo(b.Round);
        return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
    }
}
