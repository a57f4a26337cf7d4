namespace Coproc.Fast.Driver.VidMm.Residency;

// The LRU half of ResidencyManager: per-context working-set lists and one global list, both intrusive through _m
// (head = least recently used), so touching, unlinking and choosing a victim never scan all allocations.
// Eviction order (seed 001 §5.5 "eviction policy", docs/memory.md): the requesting context's own working set first;
// then the working sets of lower-priority contexts, least recent first; then everyone else's by global recency. With
// OwnWorkingSetOnly a request stops after the first step, so the caller can split the current context's buffer to fit
// its own working set before it takes memory from another context.
public sealed partial class ResidencyManager
{
    private readonly Dictionary<int, (int Head, int Tail)> _contextLists = new();
    private int _globalHead = -1, _globalTail = -1;
    private int _contextCursor = -1, _lowerCursor = -1, _globalCursor = -1;
    private int _requesterPriority;
    private bool _ownWorkingSetOnly;
    private readonly Dictionary<int, int> _priorities = new();

    /// <summary>
    /// Records the scheduling priority of <paramref name="contextId"/> (higher runs first); working sets of contexts of
    /// lower priority than a requester are evicted before those of equal or higher priority. Unknown contexts count as 0.
    /// </summary>
    public void SetContextPriority(int contextId, int priority) => _priorities[contextId] = priority;

    private int PriorityOf(int contextId) => _priorities.TryGetValue(contextId, out int p) ? p : 0;

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
        _lowerCursor = _ownWorkingSetOnly ? -1 : _globalHead;
        _globalCursor = _ownWorkingSetOnly ? -1 : _globalHead;
        _requesterPriority = PriorityOf(contextId);
    }

    // The next eviction candidate of the current request: the current context's working set first, least recent
    // first, then lower-priority contexts' allocations by global recency, then every other resident allocation by global
    // recency. Members of the set being made resident and allocations the plan already evicted are skipped; cursors
    // only move forward, so a request walks each list at most twice.
    private bool NextVictim(out int victim)
    {
        while (_contextCursor != -1)
        {
            int s = _contextCursor;
            _contextCursor = _m[s].CNext;
            if (Eligible(s)) { victim = s; return true; }
        }
        while (_lowerCursor != -1)
        {
            int s = _lowerCursor;
            _lowerCursor = _m[s].GNext;
            if (PriorityOf(_m[s].LastContext) < _requesterPriority && Eligible(s)) { victim = s; return true; }
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

    /// <summary>
    /// Contexts whose working sets requests may not evict while it is non-empty (their allocations are never victims).
    /// VidSch fills it for the length of one request: a context getting back memory it lent to higher-priority work does
    /// not page out the working sets of higher-priority contexts with work on its way (seed 001 §5.5).
    /// </summary>
    internal HashSet<int> ProtectedContexts { get; } = new();

    // A CPU-mapped allocation is pinned where it is (VideoMemoryManager.MapToCpu): never a victim.
    private bool Eligible(int s) => _m[s].SetEpoch != _epoch && PlannedResident(s) && !IsCpuPinned(s)
        && (ProtectedContexts.Count == 0 || !ProtectedContexts.Contains(_m[s].LastContext));
}
