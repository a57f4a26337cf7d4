using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>Where a context's memory stands against higher-priority work (VidSchScheduler.Lending.cs).</summary>
internal enum LendState : byte
{
    /// <summary>Its chunks pin their memory; it runs as usual.</summary>
    None,
    /// <summary>Asked to lend: still pinned, being switched off its engine.</summary>
    Requested,
    /// <summary>Off its engine (confirmed by the device): its chunks pin nothing and it is never loaded.</summary>
    Lent,
    /// <summary>Its memory is resident and pinned again; loadable once that paging has executed.</summary>
    Returning,
}

// Memory lending: a pinned lower-priority chunk is preempted and unpinned when higher-priority work cannot become
// resident (seed 001 §5.5: strict priority and the eviction policy — evict lower priorities before waiting; §3.5: a
// buffer that cannot be made resident is preempted and its memory evicted; seed 000 claim 11: a preempted buffer
// resumes exactly where it stopped). Without it, a long lower-priority chunk on one engine kept the memory a
// higher-priority buffer of another engine needed until it retired, and that engine idled with work queued.
//
// Invariant (L): VidMm moves an allocation that a chunk in a ring (or parked beside it) references only while that
// chunk's context cannot be on an engine:
//  - None / Requested: the context's chunks are pinned, as every chunk is (SchedulerGroup invariant 1);
//  - Lent: the device has reported a CONTEXT_SWITCH away from it written after the request (or it was not on the engine
//    and NEXT_CONTEXT does not name it), and this driver names it in neither CONTEXT_SWITCH nor NEXT_CONTEXT (Best
//    skips it) until it is None again; only then do its chunks stop pinning (BuildRequest, IsPinned, HasPinned);
//  - Returning: everything its chunks reference was made resident again beside every pinned chunk and is pinned; it
//    becomes None — loadable — only once each engine's paging fence, read from memory, has passed the paging buffers
//    that moved any of it (ReturnWait).
// A suspended chunk's operands stay right wherever its memory went: every managed allocation is patched through its
// kernel-view alias, which each move retargets (VideoMemoryManager.KernelAlias.cs), and the device re-reads the packet
// it stopped in from the DMA buffer, with only its progress in the save area (native-layout.md §11).
//
// Who lends: when a chunk at its smallest split does not fit beside the pinned chunks (Prepare), the fewest contexts of
// lower priority than the requester — lowest priority first — whose pinned bytes, once released, let the request's
// footprint fit the resident budget; a Returning context (not loadable yet, so not on its engine) lends again at once.
// Engines without mid-buffer preemption never lend. A lent context's new buffers are parked (nothing new is prepared
// for it) and it returns when no higher priority waits for memory and its chunks fit beside the pinned ones again
// without evicting the working set of a higher-priority context with work on its way (retried after each retirement
// or release). The return runs in the scheduling pass (no modeled preparation time).
public sealed partial class VidSchScheduler
{
    private readonly List<VidSchContext> _lendCandidates = new();
    private readonly List<LendState> _lendStates = new();
    private readonly List<InFlightChunk> _returnPaging = new(); // return paging buffers not yet in the paging ring
    private int _lendingCount; // this engine's contexts whose Lending is not None

    /// <summary>Times a context of this engine was asked to lend its pinned memory to higher-priority work.</summary>
    internal long MemoryLends { get; private set; }

    /// <summary>Times a context of this engine got its lent memory back and became loadable again.</summary>
    internal long MemoryReturns { get; private set; }

    private static bool PinsMemory(VidSchContext c) => c.Lending != LendState.Lent;

    private static bool IsLending(VidSchContext c) => c.Lending != LendState.None;

    /// <summary>
    /// The chunk [<paramref name="firstRef"/>, <paramref name="endRef"/>) of <paramref name="requester"/>'s buffer does
    /// not fit beside the pinned chunks: asks the fewest lowest-priority contexts below it to lend their memory
    /// (invariant L). False when no set of lower-priority lenders would make it fit.
    /// </summary>
    private bool RequestLending(VidSchContext requester, ReadOnlySpan<ResourceReference> refs, int firstRef, int endRef)
    {
        var candidates = _lendCandidates;
        candidates.Clear();
        foreach (var s in _group.Members)
        {
            if (!s._o.Preemption) continue; // lending takes the engine mid-buffer
            foreach (var c in s._contexts)
            {
                if (c.Priority >= requester.Priority || c.Resetting) continue;
                // A returning context is not on its engine: it lends again at once (its return paging, recorded earlier,
                // runs before the eviction that follows it, SchedulerGroup (2)).
                if ((c.Lending == LendState.None && (c.InFlight.Count > 0 || c.ParkedChunk is not null)) || c.Lending == LendState.Returning)
                    candidates.Add(c);
            }
        }
        if (candidates.Count == 0) return false;
        candidates.Sort(static (a, b) => a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : a.Id.CompareTo(b.Id));
        int lenders = 0;
        // Trial: mark lenders Lent one by one (so BuildRequest leaves their chunks out) until the request fits by size.
        var states = _lendStates;
        states.Clear();
        foreach (var c in candidates) states.Add(c.Lending);
        for (int k = 0; k < candidates.Count && lenders == 0; k++)
        {
            candidates[k].Lending = LendState.Lent;
            int n = BuildRequest(refs, firstRef, endRef);
            if (_rm.FootprintOf(_request.AsSpan(0, n)) <= _rm.ResidentBudget) lenders = k + 1;
        }
        for (int k = 0; k < candidates.Count; k++) candidates[k].Lending = states[k];
        for (int k = 0; k < lenders; k++)
        {
            var c = candidates[k];
            c.Scheduler.RequestLend(c, requester);
        }
        return lenders > 0;
    }

    // Starts taking c off its engine for `requester` (invariant L).
    private void RequestLend(VidSchContext c, VidSchContext requester)
    {
        c.LentFor = requester.Id;
        MemoryLends++;
        if (c.Lending == LendState.Returning)
        {
            // Not loadable yet, so not on the engine: its chunks stop pinning at once.
            c.Lending = LendState.Lent;
            NotifyPinsReleased();
            return;
        }
        c.Lending = LendState.Requested;
        _lendingCount++;
        c.LendNeedsSwitch = true; // confirmed by a reported switch, unless plainly off the engine (AdvanceLending)
        AdvanceLending(allowReturn: false);
    }

    /// <summary>
    /// Moves this engine's lending contexts on (invariant L): switches a requested one off the engine, confirms it lent,
    /// returns a lent one's memory when it fits again, and makes a returning one loadable once its paging executed.
    /// </summary>
    private void AdvanceLending(bool allowReturn)
    {
        if (_lendingCount == 0) return; // the common case: one test per pass, not a walk of every context
        bool released = false;
        foreach (var c in _contexts)
        {
            switch (c.Lending)
            {
                case LendState.Requested:
                    if (c.Resetting) break; // the reset takes it off and releases its chunks (FinishResets)
                    bool named = ReferenceEquals(_loaded, c) || _nextRegister == c.SaveArea.Encoded;
                    if (!c.LendNeedsSwitch && !_switchPending && named) c.LendNeedsSwitch = true; // back on: again
                    if (c.LendNeedsSwitch)
                    {
                        if (!OffEngineNow(c)) { IssueLendSwitch(c); break; }
                    }
                    else if (_switchPending || named) break; // the switch away from it is not reported yet
                    c.Lending = LendState.Lent;
                    released = true;
                    break;
                case LendState.Lent:
                    if (allowReturn) TryReturn(c);
                    break;
                case LendState.Returning:
                    if (_returnPaging.Count == 0 && PagingReached(c.ReturnWait))
                    {
                        c.Lending = LendState.None;
                        _lendingCount--;
                        MemoryReturns++;
                        UnparkIfRoom(c);
                    }
                    break;
            }
        }
        if (released) NotifyPinsReleased();
    }

    // Released pins are like retired chunks: a preparation deferred for room retries now, on every engine.
    private void NotifyPinsReleased()
    {
        _group.Retirements++;
        foreach (var s in _group.Members)
        {
            if (!s._preparationDeferred) continue;
            s._retryDeferred = true;
            s.StartPreparation();
        }
    }

    /// <summary>
    /// True when <paramref name="c"/>, not loaded as far as this driver knows, is off the engine and cannot come back by
    /// itself (invariant L, without waiting for a switch): NEXT_CONTEXT is taken off it first, then CURRENT_CONTEXT (a read
    /// sees every write posted before it, IDeviceBus) must show exactly the context this driver believes loaded — so no
    /// switch is unreported (the engine did not reach c through NEXT_CONTEXT, nor set c aside for a user queue), and a
    /// pending CONTEXT_SWITCH is not to c. A running non-interruptible paging buffer therefore does not delay lending.
    /// </summary>
    private bool OffEngineNow(VidSchContext c)
    {
        if (ReferenceEquals(_loaded, c) || (_switchPending && _switchTarget == c.SaveArea.Encoded)) return false;
        if (_nextRegister == c.SaveArea.Encoded) SetNext(null);
        ulong current = _bus.ReadRegister(_engineBase + CurrentContextRegister);
        if (current == c.SaveArea.Encoded || current != (_loaded?.SaveArea.Encoded ?? 0)) return false;
        c.LendNeedsSwitch = false;
        return true;
    }

    /// <summary>
    /// Takes <paramref name="c"/> off the engine with a CONTEXT_SWITCH whose report orders every earlier switch (reports
    /// arrive in order): to the loaded context when that is another runnable one (it only reloads), else to the best
    /// runnable context, else idle. Lending is confirmed once that switch is reported (AdvanceLending).
    /// </summary>
    private void IssueLendSwitch(VidSchContext c)
    {
        if (_switchPending) return; // decide again after the outstanding switch's report
        var cur = _loaded;
        var to = cur is not null && !ReferenceEquals(cur, c) && !cur.Resetting && !IsLending(cur)
            && (cur.InFlight.Count > 0 || ReferenceEquals(cur, _pagingContext)) ? cur : Best(exclude: c);
        if (ReferenceEquals(_loaded, c))
        {
            c.Preemptions++;
            PreemptionCount++;
            Emit(ScheduleEventKind.ContextPreempted, c.Id, c.InFlight.Count > 0 ? c.InFlight[0].Buffer?.SubmissionId ?? 0 : 0, (ulong)(to?.Id ?? 0));
        }
        if (_nextRegister == c.SaveArea.Encoded) SetNext(null);
        SwitchTo(to);
        c.LendNeedsSwitch = false;
    }

    private ulong _groupPagingSeen; // sum of the group's paging fences at the last pass (WakeForOtherEnginesPaging)

    /// <summary>
    /// A chunk or paging buffer of this engine may wait (WAIT_FENCE) for another engine's paging fence — lending makes
    /// that common (an eviction of a lent context's memory waits for the page-in that brought it). The engine re-reads a
    /// waited-on fence only when it runs, and a deterministic device whose engines all wait is not stepped: when a group
    /// member's paging fence moved since the last pass, this engine is kicked so it looks again.
    /// </summary>
    private void WakeForOtherEnginesPaging()
    {
        ulong sum = 0;
        foreach (var s in _group.Members) sum += s.PagingCompletedInMemory;
        if (sum == _groupPagingSeen) return;
        _groupPagingSeen = sum;
        if (PagingHasWork || _inFlightCount > 0) _bus.Kick();
    }

    // True when a buffer of higher priority than `priority`, on any engine (this one included), waits for memory.
    private bool AnyWaiterAbove(int priority)
    {
        foreach (var s in _group.Members)
            if (s._waitingForMemory && s._preparing?.Owner is VidSchContext waiter && waiter.Priority > priority) return true;
        return false;
    }

    /// <summary>True while a context of the group is being switched off its engine to lend its memory.</summary>
    private bool LendersPending()
    {
        foreach (var s in _group.Members)
            foreach (var c in s._contexts)
                if (c.Lending == LendState.Requested && !c.Resetting) return true;
        return false;
    }

    // Lent → Returning: make everything c's chunks reference resident again beside the pinned chunks (invariant L).
    private void TryReturn(VidSchContext c)
    {
        if (c.LendRetrySeen == _group.Retirements || AnyWaiterAbove(c.Priority)) return;
        // Paging order (class remarks, invariant 2): a paging buffer recorded earlier goes to the ring first.
        if (_returnPaging.Count > 0 || _prepared is { Chunk.Paging: not null }) return;
        c.LendRetrySeen = _group.Retirements;
        int own = 0;
        foreach (var f in c.InFlight) AddChunk(ref own, f);
        if (c.ParkedChunk is { } parked) AddChunk(ref own, parked);
        // An allocation freed meanwhile cannot be made resident (nor can the chunk use it): left out of the request.
        int live = 0;
        for (int i = 0; i < own; i++) if (_vidmm.IsLive(_request[i].Handle)) _request[live++] = _request[i];
        own = live;
        c.Lending = LendState.Returning; // pins from here: BuildRequest now includes its chunks (after `own`)
        int n = AppendPinned(own);
        _pagingOps.Clear();
        // A return is never urgent: it takes no memory from the working set of a higher-priority context with work on its
        // way (queued, being prepared or in a ring), which would page it out between two of its buffers and make that
        // work wait for the page-out and page-in. It waits instead (retried after the next retirement).
        var rm = _rm as ResidencyManager;
        if (rm is not null)
            foreach (var s in _group.Members)
                foreach (var h in s._contexts)
                    if (h.Priority > c.Priority && !h.Resetting && (h.Queued > 0 || h.InFlight.Count > 0)) rm.ProtectedContexts.Add(h.Id);
        var outcome = _rm.MakeResident(_request.AsSpan(0, n), c.Id, _pagingOps);
        rm?.ProtectedContexts.Clear();
        if (outcome == ResidencyOutcome.DoesNotFit)
        {
            c.Lending = LendState.Lent;
            return;
        }
        CheckPinnedNotMoved();
        var chunk = RentChunk();
        if (_pagingOps.Count > 0 || ForeignPagingPending())
        {
            BuildChunkPaging(chunk, c, 0);
            chunk.PagingOnly = true;
        }
        SetPagingWaits(chunk, _request.AsSpan(0, own));
        Array.Copy(chunk.PagingWait, c.ReturnWait, c.ReturnWait.Length);
        _rm.Touch(_request.AsSpan(0, own), c.Id);
        if (chunk.Paging is not null)
        {
            _returnPaging.Add(chunk);
            IssueReturnPaging();
        }
        else ReturnChunk(chunk);
    }

    // Writes return paging buffers into the paging ring, in the order they were recorded.
    private void IssueReturnPaging()
    {
        while (_returnPaging.Count > 0)
        {
            var chunk = _returnPaging[0];
            if (!TryIssuePaging(chunk)) return; // ring full: after the next paging retires
            _returnPaging.RemoveAt(0);
            ReturnChunk(chunk);
        }
    }

    /// <summary>
    /// True when this engine has work that could run now (the auditor's "runnable work"): a prepared or parked chunk,
    /// paging, the ring of a context that is not lending its memory, and queued buffers — unless its preparation waits
    /// for memory that only higher-priority chunks hold. Waiting for a higher priority is the policy (strict priority;
    /// a lower holder would have lent its memory, invariant L), and so is a lent (or returning) context's work. Memory an
    /// equal or lower priority holds (a hung equal, an engine without preemption) keeps the work runnable.
    /// </summary>
    internal bool HasRunnableWork
    {
        get
        {
            if (_prepared is not null || PagingHasWork || _returnPaging.Count > 0) return true;
            bool blocked = MemoryBlockedByHigher();
            if (!blocked && (_ready.Count > 0 || _preparing is not null)) return true;
            foreach (var c in _contexts)
            {
                if (LendsMemory(c)) continue;
                if (c.ParkedChunk is not null) return true;
                if (c.InFlight.Count > 0 && !c.Resetting) return true;
                if (!blocked && c.Queued > 0) return true;
            }
            return false;
        }
    }

    // The preparation waits for memory (or behind a higher priority's wait for memory) and every chunk pinning memory,
    // apart from the waiter's own context's, belongs to a higher priority.
    private bool MemoryBlockedByHigher()
    {
        if (!_preparationDeferred || _preparing?.Owner is not VidSchContext w) return false;
        if (!_waitingForMemory) return true; // deferred because a higher priority waits for memory (Prepare)
        if (LendersPending()) return false;
        foreach (var s in _group.Members)
        {
            if (s._prepared is { } p && !ReferenceEquals(p.Context, w) && p.Context.Priority <= w.Priority) return false;
            foreach (var c in s._contexts)
                if (!ReferenceEquals(c, w) && PinsMemory(c) && (c.InFlight.Count > 0 || c.ParkedChunk is not null) && c.Priority <= w.Priority) return false;
        }
        return true;
    }

    /// <summary>True when <paramref name="c"/> lends its memory (lent or returning): its work is not runnable.</summary>
    internal static bool LendsMemory(VidSchContext c) => c.Lending is LendState.Lent or LendState.Returning;
}
