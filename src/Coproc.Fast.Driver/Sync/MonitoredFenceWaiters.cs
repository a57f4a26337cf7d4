namespace Coproc.Fast.Driver.Sync;

/// <summary>A blocked CPU waiter: the value it waits for and whether a signal released it. Pooled by its fence.</summary>
internal sealed class MonitoredFenceWaiter
{
    public ulong Target;
    public bool Released;
    public int HeapIndex = -1;
}

/// <summary>
/// Waiters of one <see cref="MonitoredFence"/>, kept sorted as a binary min-heap on the wrap-safe fence order, so a
/// signal pops exactly the satisfied waiters (O(k log n) for k woken) and never touches the rest. Not thread-safe: the
/// fence guards it with its lock.
/// </summary>
internal sealed class MonitoredFenceWaiters
{
    private MonitoredFenceWaiter[] _heap = new MonitoredFenceWaiter[16];

    public int Count { get; private set; }

    public void Push(MonitoredFenceWaiter w)
    {
        if (Count == _heap.Length) Array.Resize(ref _heap, Count * 2);
        _heap[Count] = w;
        w.HeapIndex = Count;
        Count++;
        Up(Count - 1);
    }

    /// <summary>The waiter with the smallest target, if its target has been reached by <paramref name="current"/>.</summary>
    public bool TryPopReached(ulong current, out MonitoredFenceWaiter waiter)
    {
        if (Count == 0 || !FenceValue.IsReached(current, _heap[0].Target))
        {
            waiter = null!;
            return false;
        }
        waiter = _heap[0];
        RemoveAt(0);
        return true;
    }

    public void Remove(MonitoredFenceWaiter w)
    {
        if (w.HeapIndex >= 0) RemoveAt(w.HeapIndex);
    }

    private void RemoveAt(int i)
    {
        var removed = _heap[i];
        Count--;
        if (i != Count)
        {
            _heap[i] = _heap[Count];
            _heap[i].HeapIndex = i;
            _heap[Count] = null!;
            Down(i);
            Up(i);
        }
        else _heap[Count] = null!;
        removed.HeapIndex = -1;
    }

    private void Up(int i)
    {
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (!FenceValue.Precedes(_heap[i].Target, _heap[p].Target)) break;
            Swap(i, p);
            i = p;
        }
    }

    private void Down(int i)
    {
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, m = i;
            if (l < Count && FenceValue.Precedes(_heap[l].Target, _heap[m].Target)) m = l;
            if (r < Count && FenceValue.Precedes(_heap[r].Target, _heap[m].Target)) m = r;
            if (m == i) return;
            Swap(i, m);
            i = m;
        }
    }

    private void Swap(int a, int b)
    {
        (_heap[a], _heap[b]) = (_heap[b], _heap[a]);
        _heap[a].HeapIndex = a;
        _heap[b].HeapIndex = b;
    }
}
