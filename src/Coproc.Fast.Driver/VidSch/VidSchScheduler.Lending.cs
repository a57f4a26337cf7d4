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
//    becomes None — loadable — only once the paging queue's fence, read from memory, has passed the paging buffers
//    that moved any of it (ReturnWait).
// A suspended chunk's operands stay right wherever its memory went: every managed allocation is patched through its
// kernel-view alias, which each move retargets (VideoMemoryManager.KernelAlias.cs), and the device re-reads the packet
// it stopped in from the DMA buffer, with only its progress in the save area (native-layout.md §11).
//
// Who gives memory up, when a chunk at its smallest split does not fit beside the pinned chunks (Prepare) — or a lent
// context's return does not (TryReturn) — the cheapest release that makes the request's footprint fit the resident
// budget (RequestLending):
//  1. chunks of lower priorities prepared but not in a ring (invariant U below): no engine changes hands;
//  2. else the fewest contexts, lowest priority first, then equals of other engines whose turn is over (invariant E),
//     are switched off their engines and lend; a Returning lower context (not loadable yet, so not on its engine) lends
//     again at once. Engines without mid-buffer preemption never lend (only their unlaunched chunks are released).
// A lent context's new buffers are parked (nothing new is prepared for it) and it returns when no other buffer of its
// priority or higher waits for memory, the context it lent to for a return (LendsToReturnOf) has returned, and its
// chunks fit beside the pinned ones again without evicting the working set of a higher-priority context with work on
// its way (retried after each retirement or release, and when an equal's turn ends). When they do not fit and it would
// run at once, it asks in turn, as a preparation does (unless a higher priority's protected working set is in the way:
// the trial weighs pinned memory only). The return runs in the scheduling pass (no modeled preparation time).
//
// Invariant (E), equals share memory by turns (seed 001 §5.5 fair share by time among equals, §13: an engine idle with
// work queued is starvation): an equal of another engine holding memory that a buffer (or a return) of the same
// priority needs lends it once its turn is over, and only then, and only to work that would run at once (no higher
// priority has work in the requester's engine's ring). Its turn begins when it starts holding memory (a chunk launched
// into its empty ring, or its return recorded; HoldsMemory, MemorySince) and ends when it has been loaded on its engine
// for max(one quantum, its memory's arrival — the cycles from then to its first load, i.e. the paging), or when it is off
// its engine with its memory in place and has held it for max(one quantum, twice the arrival) (TurnEnd). So the memory
// changes hands at most once per turn, each turn at least a quantum of useful time and at least as long as the paging
// that bought it: paging takes at most about half of the time, never a swap per quantum. A requester whose holder's
// turn is not over retries at its end (_turnRetryAt, ArmTimer). Equals of one engine share it, and so its memory, by the
// quantum (rule 2); they never lend to each other.
//
// Invariant (U), un-preparing: a lower-priority chunk prepared but not in a ring (this engine's prepared slot, or parked
// beside its context's ring) stops pinning when higher-priority work needs its memory: its buffer goes back to where it
// was before that chunk was prepared (its next chunk starts there again; its place in the ready queue, or first among
// its context's parked buffers), and it is prepared — and patched — again later. Paging recorded for it still runs in
// its order: every paging buffer goes to the machine's paging queue when its moves are recorded (before the chunk is
// prepared), so nothing of it is held back by un-preparing. Unprepared counts these.
public sealed partial class VidSchScheduler
{
    private readonly List<VidSchContext> _lendCandidates = new();
    private readonly List<LendState> _lendStates = new();
    private int _lendingCount; // this engine's contexts whose Lending is not None

    /// <summary>Times a context of this engine was asked to lend its pinned memory to higher-priority work.</summary>
    internal long MemoryLends { get; private set; }

    /// <summary>Times a context of this engine got its lent memory back and became loadable again.</summary>
    internal long MemoryReturns { get; private set; }

    /// <summary>Of <see cref="MemoryLends"/>, those to an equal of another engine at the end of the lender's turn.</summary>
    internal long EqualLends { get; private set; }

    /// <summary>Chunks of this engine un-prepared (prepared, not in a ring) to give their memory to higher-priority work.</summary>
    internal long Unprepared { get; private set; }

    private ulong _turnRetryAt = ulong.MaxValue; // when the turn of an equal holding memory this engine waits for ends

    // c's turn with its memory starts now (invariant E).
    private void StartHolding(VidSchContext c)
    {
        c.HoldsMemory = true;
        c.MemorySince = _bus.Cycle;
        c.MemoryRunCycles = 0;
        c.MemoryArrival = ulong.MaxValue;
    }

    /// <summary>
    /// The turn of an equal holding memory this engine waits for has ended (the timer ArmTimer set for it): a deferred
    /// preparation, and the return of each context of this engine lending its memory, are tried again now — they ask
    /// that equal to lend (invariant E).
    /// </summary>
    private void CheckTurnRetry()
    {
        if (_turnRetryAt == ulong.MaxValue || _bus.Cycle < _turnRetryAt) return;
        _turnRetryAt = ulong.MaxValue;
        if (_preparationDeferred) _retryDeferred = true;
        if (_lendingCount == 0) return;
        foreach (var c in _contexts)
            if (c.Lending == LendState.Lent) c.LendRetrySeen = -1;
    }

    // Engine time c has been loaded since it began holding its memory.
    private static ulong HeldRun(VidSchContext c, ulong now)
    {
        ulong run = c.MemoryRunCycles;
        ulong from = Math.Max(c.LoadedAt, c.MemorySince);
        if (c.Loaded && now > from) run += now - from;
        return run;
    }

    /// <summary>
    /// The device cycle at which the turn of <paramref name="c"/> (holding memory) ends — at most <paramref name="now"/>
    /// when it has ended (invariant E). A turn is one quantum of its engine's time, and at least as long as its memory
    /// took to arrive (the paging before its first load), so a swap's paging takes at most about half of the time:
    /// either it has been loaded that long with the memory, or it is off its engine with its memory in place (its next
    /// chunk's paging executed) and has held it for the quantum and twice the arrival. While its memory is still being
    /// paged in and it is not loaded, it is looked at again a quantum later.
    /// </summary>
    private static ulong TurnEnd(VidSchContext c, ulong now)
    {
        ulong q = c.Scheduler._o.QuantumCycles;
        ulong arrival = c.MemoryArrival == ulong.MaxValue ? 0 : c.MemoryArrival;
        ulong turn = Math.Max(q, arrival);
        ulong run = HeldRun(c, now);
        if (run >= turn) return now;
        if (c.Loaded) return now + (turn - run);
        bool inPlace = c.InFlight.Count == 0 || c.Scheduler.PagingReached(c.InFlight[0].PagingWait);
        if (!inPlace) return now + q;
        ulong end = c.MemorySince + Math.Max(q, 2 * arrival);
        return end <= now ? now : end;
    }

    private static bool PinsMemory(VidSchContext c) => c.Lending != LendState.Lent;

    private static bool IsLending(VidSchContext c) => c.Lending != LendState.None;

    /// <summary>
    /// <paramref name="requester"/>'s residency request — its own entries are <see cref="_request"/>[0, <paramref
    /// name="own"/>): a chunk being prepared, or its lent chunks' return — does not fit beside the pinned chunks. Frees
    /// room the cheapest way that makes it fit (invariants L, E and U): first by un-preparing lower-priority chunks that
    /// are prepared but not in a ring (no engine changes hands); else by asking the fewest contexts — lower priorities
    /// first, then equals of other engines whose turn with the memory is over — to lend their memory (their unlaunched
    /// chunks are un-prepared too). False when nothing would make it fit; an equal whose turn is not over yet sets the
    /// retry timer at its turn's end.
    /// </summary>
    private bool RequestLending(VidSchContext requester, int own)
    {
        // Contexts already being switched off to lend still pin: asking more now would lend more than needed. The
        // request is tried again when they are off (NotifyPinsReleased).
        if (LendersPending()) return true;
        ulong now = _bus.Cycle;
        var candidates = _lendCandidates;
        candidates.Clear();
        // Trial 1 (invariant U): lower-priority chunks prepared but not launched pin memory no engine is using.
        foreach (var s in _group.Members)
            foreach (var c in s._contexts)
                if (c.Priority < requester.Priority && !c.Resetting && HasUnlaunchedChunk(c)) candidates.Add(c);
        if (candidates.Count > 0)
        {
            candidates.Sort(s_lendOrder);
            int k = TrialFit(candidates, own, lend: false);
            if (k > 0)
            {
                for (int i = 0; i < k; i++) candidates[i].Scheduler.Unprepare(candidates[i]);
                NotifyPinsReleased();
                return true;
            }
        }

        // Trial 2 (invariants L and E): contexts switched off their engines lend their memory.
        candidates.Clear();
        // Equals share memory by turns only when the requester would run at once: memory lent to work that then waits
        // behind a higher priority of its own engine would only idle.
        bool equals = NothingHigherRuns(requester);
        foreach (var s in _group.Members)
        {
            foreach (var c in s._contexts)
            {
                if (ReferenceEquals(c, requester) || c.Resetting || c.Priority > requester.Priority) continue;
                bool lower = c.Priority < requester.Priority;
                bool pins = c.Lending == LendState.None && (c.InFlight.Count > 0 || c.ParkedChunk is not null);
                if (!s._o.Preemption) // lending takes the engine mid-buffer: here only unlaunched chunks can be released
                {
                    if (lower && HasUnlaunchedChunk(c)) candidates.Add(c);
                    continue;
                }
                if (lower)
                {
                    // A returning context is not on its engine: it lends again at once (its return paging, recorded earlier,
                    // runs before the eviction that follows it, SchedulerGroup (2)).
                    if (pins || c.Lending == LendState.Returning || HasUnlaunchedChunk(c)) candidates.Add(c);
                    continue;
                }
                // An equal of another engine (equals of one engine share it, and its memory, by the quantum: rule 2).
                if (!equals || !pins || ReferenceEquals(s, requester.Scheduler)) continue;
                ulong end = TurnEnd(c, now);
                if (end <= now) candidates.Add(c);
                else if (end < _turnRetryAt) _turnRetryAt = end; // asked again when its turn ends (CheckTurnRetry)
            }
        }
        if (candidates.Count == 0) return false;
        candidates.Sort(s_lendOrder);
        int lenders = TrialFit(candidates, own, lend: true);
        bool unprepared = false;
        for (int k = 0; k < lenders; k++)
        {
            var c = candidates[k];
            var s = c.Scheduler;
            if (!s._o.Preemption)
            {
                unprepared |= s.Unprepare(c); // as in the trial: only its unlaunched chunks
                continue;
            }
            // A lender's chunk in the prepared slot would pin until launched (and then come back unpinned but not in its
            // return): it is un-prepared. Its parked chunk is lent with its ring and comes back with it (invariant L).
            unprepared |= s.UnprepareSlotOf(c);
            if (c.InFlight.Count > 0 || c.ParkedChunk is not null || c.Lending == LendState.Returning) s.RequestLend(c, requester);
        }
        // Un-prepared chunks pin nothing from now on; lenders being switched off release theirs when confirmed (AdvanceLending).
        if (unprepared) NotifyPinsReleased();
        return lenders > 0;
    }

    // Lenders: lowest priority first; among equals the longest holder, then the oldest context (deterministic).
    private static readonly Comparison<VidSchContext> s_lendOrder = static (a, b) =>
        a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority)
        : a.MemorySince != b.MemorySince ? a.MemorySince.CompareTo(b.MemorySince) : a.Id.CompareTo(b.Id);

    /// <summary>
    /// The fewest leading <paramref name="candidates"/> whose release lets the request (own entries [0, <paramref
    /// name="own"/>) of <see cref="_request"/>) fit the resident budget beside what stays pinned, or 0. Each is marked
    /// released in turn — its prepared-but-unlaunched chunks left out and, when <paramref name="lend"/>, marked Lent so
    /// its chunks in the ring are left out too (AppendPinned) — and every mark is undone before returning.
    /// </summary>
    private int TrialFit(List<VidSchContext> candidates, int own, bool lend)
    {
        var states = _lendStates;
        states.Clear();
        foreach (var c in candidates) states.Add(c.Lending);
        int found = 0;
        for (int k = 0; k < candidates.Count && found == 0; k++)
        {
            var c = candidates[k];
            c.TrialUnprepared = true;
            if (lend && c.Scheduler._o.Preemption) c.Lending = LendState.Lent;
            int n = AppendPinned(own);
            if (_rm.FootprintOf(_request.AsSpan(0, n)) <= _rm.ResidentBudget) found = k + 1;
        }
        for (int k = 0; k < candidates.Count; k++)
        {
            candidates[k].Lending = states[k];
            candidates[k].TrialUnprepared = false;
        }
        return found;
    }

    // c has a chunk prepared but not in a ring (its engine's prepared slot, or parked beside it) that pins memory.
    private static bool HasUnlaunchedChunk(VidSchContext c) =>
        c.Lending == LendState.None && (c.ParkedChunk is { Buffer: not null }
            || c.Scheduler._prepared is { Chunk.Buffer: not null } p && ReferenceEquals(p.Context, c));

    /// <summary>
    /// True when no context of higher priority than <paramref name="r"/> has work in a ring on r's engine: r would run as
    /// soon as its memory is resident.
    /// </summary>
    private static bool NothingHigherRuns(VidSchContext r)
    {
        foreach (var c in r.Scheduler._contexts)
            if (c.Priority > r.Priority && c.InFlight.Count > 0 && !c.Resetting && !IsLending(c)) return false;
        return true;
    }

    // Starts taking c off its engine for `requester` (invariant L).
    private void RequestLend(VidSchContext c, VidSchContext requester)
    {
        c.LentFor = requester.Id;
        c.LendsToReturnOf = requester.Lending == LendState.Lent ? requester : null; // a return's lender waits for it (TryReturn)
        c.HoldsMemory = false; // its turn with the memory ends (invariant E)
        MemoryLends++;
        if (c.Priority == requester.Priority) EqualLends++;
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
                    // A return without paging (or whose paging already passed) completes now: no interrupt would come
                    // to finish it later.
                    if (c.Lending != LendState.Returning) break;
                    goto case LendState.Returning;
                case LendState.Returning:
                    if (PagingReached(c.ReturnWait))
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
            && (cur.InFlight.Count > 0 || (cur is not null && ReferenceEquals(cur, _pagingContext))) ? cur : Best(exclude: c);
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

    private ulong _pagingSeen; // the paging queue's fence at the last pass (WakeForPaging)

    /// <summary>
    /// A chunk of this engine may wait (WAIT_FENCE) for the paging queue's fence, which another engine's context (the
    /// paging engine's) writes. The engine re-reads a waited-on fence only when it runs, and a deterministic device whose
    /// engines all wait is not stepped: when the fence moved since the last pass, this engine is kicked so it looks again.
    /// </summary>
    private void WakeForPaging()
    {
        ulong done = _group.Paging.Completed;
        if (done == _pagingSeen) return;
        _pagingSeen = done;
        if (PagingHasWork || _inFlightCount > 0) _bus.Kick();
    }

    // True when a buffer of another context of c's priority or higher, on any engine (this one included), waits for memory.
    private bool AnyWaiterAtOrAbove(VidSchContext c)
    {
        foreach (var s in _group.Members)
            if (s._waitingForMemory && s._preparing?.Owner is VidSchContext waiter && waiter.Priority >= c.Priority && !ReferenceEquals(waiter, c))
                return true;
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
        // Invariant E: an equal waiting for memory (as a higher one) goes first — a return that took the memory just lent
        // to it back before its preparation retried would only make it ask again, a paging round trip for nothing. And a
        // context that lent to another's return waits for that return (else the two would take it from each other).
        if (c.LendRetrySeen == _group.Retirements || AnyWaiterAtOrAbove(c)) return;
        if (c.LendsToReturnOf is { Lending: LendState.Lent }) return;
        c.LendRetrySeen = _group.Retirements;
        int own = 0;
        foreach (var f in c.InFlight) AddChunk(ref own, f);
        if (c.ParkedChunk is { } parked) AddChunk(ref own, parked);
        // An allocation freed meanwhile cannot be made resident (nor can the chunk use it): left out of the request.
        int live = 0;
        for (int i = 0; i < own; i++) if (_vidmm.IsLive(_request[i].Handle)) _request[live++] = _request[i];
        own = live;
        c.Lending = LendState.Returning; // pins from here: BuildRequest now includes its chunks (after `own`)
        StartHolding(c); // a new turn with the memory, its return paging included in its arrival (invariant E)
        int n = AppendPinned(own);
        _pagingOps.Clear();
        // A return is never urgent: it takes no memory from the working set of a higher-priority context with work on its
        // way (queued, being prepared or in a ring), which would page it out between two of its buffers and make that
        // work wait for the page-out and page-in. It waits instead (retried after the next retirement).
        var rm = _rm as ResidencyManager;
        bool protectedAny = false;
        if (rm is not null)
            foreach (var s in _group.Members)
                foreach (var h in s._contexts)
                    if (h.Priority > c.Priority && !h.Resetting && (h.Queued > 0 || h.InFlight.Count > 0))
                    {
                        rm.ProtectedContexts.Add(h.Id);
                        protectedAny = true;
                    }
        var outcome = _rm.MakeResident(_request.AsSpan(0, n), c.Id, _pagingOps);
        rm?.ProtectedContexts.Clear();
        if (outcome == ResidencyOutcome.DoesNotFit)
        {
            c.Lending = LendState.Lent;
            c.HoldsMemory = false;
            // Pinned chunks keep it out: lower priorities lend to it, and equals of other engines whose turn is over
            // (invariant E: it gets its memory back in turn). Only when it would run at once, and only when no higher
            // priority's working set is protected — the lending trial weighs pinned memory only, so a return refused for
            // a protected working set would make others lend for nothing; it waits for a retirement instead.
            if (!protectedAny && NothingHigherRuns(c) && RequestLending(c, own)) c.LendsToReturnOf = null;
            return;
        }
        CheckPinnedNotMoved();
        // Its return paging goes to the paging queue now (in record order, behind every earlier move); the context is
        // loadable once the queue's fence passed it and the earlier paging of what its chunks reference (AdvanceLending).
        var chunk = RentChunk();
        if (_pagingOps.Count > 0) BuildChunkPaging(chunk, c, 0);
        SetPagingWaits(chunk, _request.AsSpan(0, own));
        c.ReturnWait = chunk.PagingWait;
        _rm.Touch(_request.AsSpan(0, own), c.Id);
        ReturnChunk(chunk);
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
            if (_prepared is not null || PagingHasWork) return true;
            bool blocked = MemoryBlockedByHigher();
            if (!blocked && (_ready.Count > 0 || _preparing is not null)) return true;
            foreach (var c in _contexts)
            {
                if (LendsMemory(c)) continue;
                if (c.ParkedChunk is not null) return true;
                // A ring whose next chunk waits for paging on the paging engine waits for memory, not for this engine.
                if (c.InFlight.Count > 0 && !c.Resetting && !WaitsForPaging(c)) return true;
                if (!blocked && c.Queued > 0) return true;
            }
            return false;
        }
    }

    // The preparation waits for memory (or behind a higher priority's wait for memory), and only chunks of higher
    // priorities or of equals of other engines within their turn keep it out (computed when it was deferred, Prepare;
    // every change that could alter it — a retirement, a release, an equal's turn ending — retries the preparation).
    private bool MemoryBlockedByHigher()
    {
        if (!_preparationDeferred || _preparing?.Owner is not VidSchContext) return false;
        if (!_waitingForMemory) return true; // deferred because a higher priority waits for memory (Prepare)
        if (LendersPending()) return false;
        return _memoryWaitByPolicy;
    }

    /// <summary>
    /// True when the request (own entries [0, <paramref name="own"/>) of <see cref="_request"/>) would fit the resident
    /// budget if every chunk of a lower priority than <paramref name="requester"/>, and of an equal other than one of
    /// another engine within its turn (invariant E), pinned nothing — i.e. when memory that policy does not reserve for
    /// others keeps it out (an engine without preemption, a hung equal of its own engine): runnable work for the
    /// auditor. Its own chunks stay pinned (they retire by themselves).
    /// </summary>
    private bool FitsWithoutLowerOrSpentEquals(VidSchContext requester, int own)
    {
        ulong now = _bus.Cycle;
        var marked = _lendCandidates;
        marked.Clear();
        foreach (var s in _group.Members)
            foreach (var c in s._contexts)
            {
                if (ReferenceEquals(c, requester) || c.Priority > requester.Priority || !PinsMemory(c)) continue;
                if (c.Priority == requester.Priority && s._o.Preemption && !ReferenceEquals(s, this) && c.InFlight.Count > 0 && TurnEnd(c, now) > now) continue;
                marked.Add(c);
            }
        if (marked.Count == 0) return false;
        var states = _lendStates;
        states.Clear();
        foreach (var c in marked)
        {
            states.Add(c.Lending);
            c.Lending = LendState.Lent;
            c.TrialUnprepared = true;
        }
        int n = AppendPinned(own);
        bool fits = _rm.FootprintOf(_request.AsSpan(0, n)) <= _rm.ResidentBudget;
        for (int k = 0; k < marked.Count; k++)
        {
            marked[k].Lending = states[k];
            marked[k].TrialUnprepared = false;
        }
        return fits;
    }

    /// <summary>True when <paramref name="c"/> lends its memory (lent or returning): its work is not runnable.</summary>
    internal static bool LendsMemory(VidSchContext c) => c.Lending is LendState.Lent or LendState.Returning;
}
