using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm.Residency;

// The placement half of ResidencyManager: MakeResident plans page-ins, evictions and relocations against the local
// segment with an undo log, then commits the plan (seed 001 §3.5: evict when there is no room; relocate when free
// space is fragmented; fail — the caller splits — when even that cannot make the set fit).
public sealed partial class ResidencyManager
{
    private enum UndoKind : byte { Alloc, Free, Owner, Plan }
    private enum StepKind : byte { PageIn, Evict, Relocate }

    private readonly record struct Undo(UndoKind Kind, int Slot, PhysicalExtent Extent, bool PrevResident, ulong PrevEpoch, LocalHome Home = default);
    private readonly record struct Step(StepKind Kind, int Slot, LocalHome From, LocalHome To);

    private readonly List<Undo> _undo = new(32);
    private readonly List<Step> _plan = new(32);
    private readonly List<int> _need = new(16);
    private readonly List<int> _inPlace = new(4);
    private readonly List<int> _displaced = new(8);
    private readonly List<(ulong Start, ulong Pages)> _claims = new(8);
    private readonly int[] _owner; // per local page: managed slot + 1 (planned state), 0 = free or pinned
    private Comparison<int>? _largestFirstCache; // cached: sorting must not allocate a delegate per request

    private Comparison<int> LargestFirst => _largestFirstCache ??= (a, b) => _m[b].Bytes.CompareTo(_m[a].Bytes);

    /// <inheritdoc />
    public ResidencyOutcome MakeResidentWithinWorkingSet(ReadOnlySpan<ResourceReference> resources, int contextId, List<PagingOperation> commands)
    {
        _ownWorkingSetOnly = true;
        try { return MakeResident(resources, contextId, commands); }
        finally { _ownWorkingSetOnly = false; }
    }

    /// <inheritdoc />
    public ResidencyOutcome MakeResident(ReadOnlySpan<ResourceReference> resources, int contextId, List<PagingOperation> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        ulong footprint = FootprintOf(resources); // stamps the set with a fresh epoch; throws for a dead handle first
        _need.Clear();
        _inPlace.Clear();
        foreach (var r in resources)
        {
            // PlanEpoch doubles as "already listed" here: FootprintOf just moved _epoch past every older stamp.
            if (!TryManagedSlot(r.Handle, out int s)) continue;
            // Used where it is, or moved below: either way after its last paging on any channel (Order.cs).
            NotePriorPaging(s);
            if (_m[s].Resident || _m[s].PlanEpoch == _epoch) continue;
            _m[s].PlanEpoch = _epoch;
            _m[s].PlanResident = false;
            _m[s].PlanLocal = default;
            // CPU-mapped: used in its backing store (system memory the device reaches through the page tables).
            if (IsCpuPinned(s)) _inPlace.Add(s);
            else _need.Add(s);
        }
        if (footprint > ResidentBudget) return ResidencyOutcome.DoesNotFit;
        if (_need.Count == 0)
        {
            Touch(resources, contextId);
            return AddInPlace(commands) ? ResidencyOutcome.PagingRequired : ResidencyOutcome.AlreadyResident;
        }
        // Largest first: big contiguous extents are the hard ones to place.
        _need.Sort(LargestFirst);
        _undo.Clear();
        _plan.Clear();
        ReleaseInTransitForPlan(); // the plan's paging is ordered after what vacated it (InTransit.cs)
        StartVictimSearch(contextId);
        foreach (int s in _need)
        {
            if (!TryPlace(s))
            {
                RollBack(0);
                _plan.Clear();
                EndPlanRefused();
                return ResidencyOutcome.DoesNotFit;
            }
        }
        Commit(commands);
        EndPlanCommitted();
        AddInPlace(commands);
        Touch(resources, contextId);
        return ResidencyOutcome.PagingRequired;
    }

    // The advanced model (SchedulingModel.Advanced): an evicted allocation's GPU mappings were made invalid (V = 0) so its next use faults; one that is
    // CPU-mapped is not paged in, so its mappings are made valid again where it is — a PageIn of 0 bytes, which copies
    // nothing and rewrites the mappings to the backing store (ResidencyManager.PagingBuffer.cs).
    private bool AddInPlace(List<PagingOperation> commands)
    {
        if (!InvalidateEvictedMappings) return false;
        bool any = false;
        foreach (int s in _inPlace)
        {
            if (_vidmm.Allocations.Get(_m[s].Handle).GpuMappings is not { Count: > 0 }) continue;
            var at = _m[s].Backing.Address;
            commands.Add(new PagingOperation(PagingOperationKind.PageIn, _m[s].Handle, at, at, 0, false, false));
            any = true;
        }
        return any;
    }

    private bool PlannedResident(int s) => _m[s].PlanEpoch == _epoch ? _m[s].PlanResident : _m[s].Resident;

    private LocalHome PlannedLocal(int s) => _m[s].PlanEpoch == _epoch ? _m[s].PlanLocal : _m[s].Local;

    // Finds a local home for s: one free block, else defragment into one block, else several free blocks
    // (discontiguous residency), else evict one victim and retry. So an allocation up to the local memory not held by
    // pinned allocations can always be made resident, however the pinned pages split the buddy blocks.
    private bool TryPlace(int s)
    {
        ulong bytes = _m[s].Bytes, align = _m[s].Alignment;
        while (true)
        {
            if (TryAllocLocal(bytes, align, out var home))
            {
                SetOwner(home, s + 1);
                SetPlan(s, true, home);
                _plan.Add(new Step(StepKind.PageIn, s, _m[s].Backing, home));
                return true;
            }
            if (_vidmm.Local.FreeBytes >= bytes && (TryCompact(s) || TryScatter(s))) return true;
            if (!NextVictim(out int v)) return false;
            var local = PlannedLocal(v);
            for (int i = 0; i < local.Count; i++)
            {
                FreeLocal(local[i]);
                SetOwner(local[i], 0);
            }
            SetPlan(v, false, default);
            _plan.Add(new Step(StepKind.Evict, v, local, _m[v].Backing));
        }
    }

    // Enough free pages, but no aligned block and no window compaction can clear: gather free blocks (at most
    // MemorySegment.MaxExtents), largest first. The page tables make the pieces one linear range for the device.
    private bool TryScatter(int s)
    {
        _scratch.Clear();
        if (_vidmm.Local.TryAllocate(_m[s].Bytes, _m[s].Alignment, contiguous: false, _scratch) is not null) return false;
        var pieces = _scratch.ToArray();
        foreach (var piece in pieces)
        {
            _undo.Add(new Undo(UndoKind.Alloc, -1, piece, false, 0));
            SetOwner(piece, s + 1);
        }
        var home = new LocalHome(pieces);
        SetPlan(s, true, home);
        _plan.Add(new Step(StepKind.PageIn, s, _m[s].Backing, home));
        return true;
    }

    // Free space exists but not as one aligned block: pick the aligned window of the needed buddy order that holds
    // no pinned page and no member of the set, with the fewest managed pages in it; move those out (Relocate), then
    // place s in the window. Scans the local page map once (only on this fragmented path).
    private bool TryCompact(int s)
    {
        ulong pages = _m[s].Bytes >> 12;
        int order = Math.Max(BuddyAllocator.OrderFor(pages), System.Numerics.BitOperations.Log2(_m[s].Alignment) - 12);
        ulong window = 1UL << order, total = (ulong)_owner.Length;
        if (window > total) return false;
        ulong best = ulong.MaxValue, bestCost = ulong.MaxValue;
        for (ulong w = 0; w + window <= total; w += window)
        {
            ulong cost = 0;
            bool ok = true;
            for (ulong p = w; p < w + window; p++)
            {
                int o = _owner[p];
                if (o == 0)
                {
                    if (!_vidmm.Local.Pages.IsFree(p)) { ok = false; break; } // pinned (or planned for the set)
                    continue;
                }
                int d = o - 1;
                if (_m[d].SetEpoch == _epoch || IsCpuPinned(d)) { ok = false; break; }
                if (!PlannedLocal(d).IsContiguous) { ok = false; break; } // scattered allocations are not relocated
                var ext = PlannedLocal(d).Single;
                ulong end = (ext.Address.Offset + ext.Bytes) >> 12;
                ulong inWindow = Math.Min(end, w + window) - p;
                cost += inWindow;
                p += inWindow - 1;
            }
            if (ok && cost < bestCost) { best = w; bestCost = cost; }
        }
        if (best == ulong.MaxValue || bestCost == 0) return false;

        int mark = _undo.Count, planMark = _plan.Count;
        // Occupy the window's free pages so the relocation targets land outside it.
        _claims.Clear();
        _displaced.Clear();
        for (ulong p = best; p < best + window;)
        {
            int o = _owner[p];
            if (o != 0)
            {
                var ext = PlannedLocal(o - 1).Single;
                _displaced.Add(o - 1);
                p = (ext.Address.Offset + ext.Bytes) >> 12;
                continue;
            }
            ulong run = p;
            while (run < best + window && _owner[run] == 0) run++;
            if (!_vidmm.Local.Pages.TryAllocateAt(p, run - p)) { RollBack(mark); TruncatePlan(planMark); return false; }
            var claim = new PhysicalExtent(PhysicalAddress.Local(p << 12), (run - p) << 12);
            _undo.Add(new Undo(UndoKind.Alloc, -1, claim, false, 0));
            _claims.Add((p, run - p));
            p = run;
        }
        foreach (int d in _displaced)
        {
            var from = PlannedLocal(d).Single;
            if (!TryAllocLocal(_m[d].Bytes, _m[d].Alignment, out var to)) { RollBack(mark); TruncatePlan(planMark); return false; }
            SetOwner(from, 0);
            SetOwner(to, d + 1);
            SetPlan(d, true, to);
            _plan.Add(new Step(StepKind.Relocate, d, from, to));
        }
        // Only now vacate the window: freeing a source earlier would let the next relocation land back inside it.
        for (int i = planMark; i < _plan.Count; i++) FreeLocal(_plan[i].From.Single);
        foreach (var (start, n) in _claims) FreeLocal(new PhysicalExtent(PhysicalAddress.Local(start << 12), n << 12));
        if (!TryAllocLocal(_m[s].Bytes, _m[s].Alignment, out var home)) { RollBack(mark); TruncatePlan(planMark); return false; }
        SetOwner(home, s + 1);
        SetPlan(s, true, home);
        _plan.Add(new Step(StepKind.PageIn, s, _m[s].Backing, home));
        return true;
    }

    private bool TryAllocLocal(ulong bytes, ulong align, out PhysicalExtent extent)
    {
        _scratch.Clear();
        if (_vidmm.Local.TryAllocate(bytes, align, contiguous: true, _scratch) is not null) { extent = default; return false; }
        extent = _scratch[0];
        _undo.Add(new Undo(UndoKind.Alloc, -1, extent, false, 0));
        return true;
    }

    private void FreeLocal(PhysicalExtent extent)
    {
        _vidmm.Local.Free(extent);
        _undo.Add(new Undo(UndoKind.Free, -1, extent, false, 0));
    }

    private void SetOwner(PhysicalExtent extent, int ownerPlusOne)
    {
        _undo.Add(new Undo(UndoKind.Owner, _owner[extent.Address.Offset >> 12], extent, false, 0));
        SetOwnerRaw(extent, ownerPlusOne);
    }

    private void SetOwnerRaw(PhysicalExtent extent, int ownerPlusOne) =>
        _owner.AsSpan((int)(extent.Address.Offset >> 12), (int)(extent.Bytes >> 12)).Fill(ownerPlusOne);

    private void SetPlan(int s, bool resident, LocalHome local)
    {
        ref var m = ref _m[s];
        _undo.Add(new Undo(UndoKind.Plan, s, default, m.PlanResident, m.PlanEpoch, m.PlanLocal));
        m.PlanEpoch = _epoch;
        m.PlanResident = resident;
        m.PlanLocal = local;
    }

    // Undoes every logged change above mark, newest first, so each inverse meets exactly the state it left.
    private void RollBack(int mark)
    {
        for (int i = _undo.Count - 1; i >= mark; i--)
        {
            var u = _undo[i];
            switch (u.Kind)
            {
                case UndoKind.Alloc: _vidmm.Local.Free(u.Extent); break;
                case UndoKind.Free:
                    if (!_vidmm.Local.Pages.TryAllocateAt(u.Extent.Address.Offset >> 12, u.Extent.Bytes >> 12))
                        throw new InvalidOperationException("residency undo log is inconsistent");
                    break;
                case UndoKind.Owner: SetOwnerRaw(u.Extent, u.Slot); break;
                case UndoKind.Plan:
                    ref var m = ref _m[u.Slot];
                    m.PlanLocal = u.Home;
                    m.PlanResident = u.PrevResident;
                    m.PlanEpoch = u.PrevEpoch;
                    break;
            }
        }
        _undo.RemoveRange(mark, _undo.Count - mark);
    }

    private void TruncatePlan(int count) => _plan.RemoveRange(count, _plan.Count - count);

    // Applies the plan to the records, the LRU lists and VidMm's allocation records, and appends the command list.
    private void Commit(List<PagingOperation> commands)
    {
        foreach (var step in _plan)
        {
            ref var m = ref _m[step.Slot];
            switch (step.Kind)
            {
                case StepKind.Evict:
                    ApplyEvicted(step.Slot); // notes the victim's last paging (any channel): it runs before this eviction reads it
                    AddEvictOperations(commands, step.Slot, step.From);
                    for (int i = 0; i < step.From.Count; i++) _vacated.Add(step.From[i]); // read by the COPY: in transit
                    break;
                case StepKind.PageIn:
                    m.Resident = true;
                    m.Local = step.To;
                    m.PagingValue = ulong.MaxValue;
                    _residentBytes += m.Bytes;
                    var (first, more) = step.To.Split();
                    _vidmm.MoveManaged(m.Handle, first, more);
                    MoveToMostRecent(step.Slot, m.LastContext);
                    // One PageIn per local piece, each from the same offset of the backing store.
                    ulong offset = 0;
                    for (int i = 0; i < step.To.Count; i++)
                    {
                        var piece = step.To[i];
                        // Pre: the target may be a range an earlier evict/relocate frees only after its copy (§3.6 merge rule).
                        commands.Add(new PagingOperation(PagingOperationKind.PageIn, m.Handle, m.Backing.Address.Add(offset), piece.Address,
                            piece.Bytes, OverlapsFreedSource(commands, piece), true, offset));
                        offset += piece.Bytes;
                    }
                    break;
                case StepKind.Relocate:
                    NotePriorPaging(step.Slot);
                    m.Local = step.To;
                    m.PagingValue = ulong.MaxValue;
                    _vacated.Add(step.From.Single); // read by the COPY: in transit
                    _vidmm.MoveManaged(m.Handle, step.To.Single, null);
                    commands.Add(new PagingOperation(PagingOperationKind.Relocate, m.Handle, step.From.Single.Address, step.To.Single.Address, m.Bytes,
                        OverlapsFreedSource(commands, step.To.Single), true));
                    break;
            }
        }
        _plan.Clear();
        _undo.Clear();
    }

    // True when an earlier operation of the list vacates (Evict / Relocate source) part of the target range.
    private static bool OverlapsFreedSource(List<PagingOperation> commands, PhysicalExtent target)
    {
        ulong a = target.Address.Offset, b = a + target.Bytes;
        foreach (var op in commands)
        {
            if (op.Kind == PagingOperationKind.PageIn || op.From.Location != MemoryLocation.Local) continue;
            ulong c = op.From.Offset, d = c + op.Bytes;
            if (a < d && c < b) return true;
        }
        return false;
    }
}
