namespace Coproc.Fast.Driver.VidMm.Residency;

// The LRU half of ResidencyManager: per-context working-set lists and one global list, both intrusive through _m
// (head = least recently used), so touching, unlinking and choosing a victim never scan all allocations
// (seed 001 §5.5: evict from the current context's working set first, then from the others, least recent first).
public sealed partial class ResidencyManager
{
    private readonly Dictionary<int, (int Head, int Tail)> _contextLists = new();
    private int _globalHead = -1, _globalTail = -1;
    private int _contextCursor = -1, _globalCursor = -1;

    /// <summary>Resident managed allocations in the working set of <paramref name="contextId"/>, least recently used first.</summary>
    public List<AllocationHandle> WorkingSet(int contextId)
    {
        var list = new List<AllocationHandle>();
        if (_contextLists.TryGetValue(contextId, out var ends))
            for (int s = ends.Head; s != -1; s = _m[s].CNext) list.Add(_m[s].Handle);
        return list;
    }

    /// <summary>Every resident managed allocation, least recently used first (across contexts).</summary>
    public List<AllocationHandle> ResidentByRecency()
    {
        var list = new List<AllocationHandle>();
        for (int s = _globalHead; s != -1; s = _m[s].GNext) list.Add(_m[s].Handle);
        return list;
    }

    // Makes s the most recently used allocation, in contextId's working set.
    private void MoveToMostRecent(int s, int contextId)
    {
        Unlink(s);
        ref var m = ref _m[s];
        m.LastContext = contextId;
        (int Head, int Tail) ends = _contextLists.TryGetValue(contextId, out var e) ? e : (-1, -1);
        m.CPrev = ends.Tail;
        m.CNext = -1;
        if (ends.Tail != -1) _m[ends.Tail].CNext = s; else ends.Head = s;
        ends.Tail = s;
        _contextLists[contextId] = ends;
        m.GPrev = _globalTail;
        m.GNext = -1;
        if (_globalTail != -1) _m[_globalTail].GNext = s; else _globalHead = s;
        _globalTail = s;
    }

    // Removes s from both lists (no-op when it is in neither).
    private void Unlink(int s)
    {
        ref var m = ref _m[s];
        bool inGlobal = m.GPrev != -1 || _globalHead == s;
        if (!inGlobal) return;
        if (m.GPrev != -1) _m[m.GPrev].GNext = m.GNext; else _globalHead = m.GNext;
        if (m.GNext != -1) _m[m.GNext].GPrev = m.GPrev; else _globalTail = m.GPrev;
        var ends = _contextLists[m.LastContext];
        if (m.CPrev != -1) _m[m.CPrev].CNext = m.CNext; else ends.Head = m.CNext;
        if (m.CNext != -1) _m[m.CNext].CPrev = m.CPrev; else ends.Tail = m.CPrev;
        if (ends.Head == -1) _contextLists.Remove(m.LastContext); else _contextLists[m.LastContext] = ends;
        m.CPrev = m.CNext = m.GPrev = m.GNext = -1;
    }

    private void StartVictimSearch(int contextId)
    {
        _contextCursor = _contextLists.TryGetValue(contextId, out var ends) ? ends.Head : -1;
        _globalCursor = _globalHead;
    }

    // The next eviction candidate of the current request: the current context's working set first, least recent
    // first, then every other resident allocation by global recency. Members of the set being made resident and
    // allocations the plan already evicted are skipped; cursors only move forward, so a request walks each list once.
    private bool NextVictim(out int victim)
    {
        while (_contextCursor != -1)
        {
            int s = _contextCursor;
            _contextCursor = _m[s].CNext;
            if (Eligible(s)) { victim = s; return true; }
        }
        while (_globalCursor != -1)
        {
            int s = _globalCursor;
            _globalCursor = _m[s].GNext;
            if (Eligible(s)) { victim = s; return true; }
        }
        victim = -1;
        return false;
    }

    // A CPU-mapped allocation is pinned where it is (VideoMemoryManager.MapToCpu): never a victim.
    private bool Eligible(int s) => _m[s].SetEpoch != _epoch && PlannedResident(s) && !IsCpuPinned(s);
}
