using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Driver.VidMm.Paging;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Run lists driven by VidSch (seed 001 §6; behaviours 20–22). The scheduler's "running context" is the current run list;
// a new list is submitted only when none is pending — otherwise the change is remembered and made by the handler that
// sees the confirmation (§6.2). Order: priority (VidMm's context takes the paging list's), VidMm first among equals,
// then least recently served, then id. Two-element lists obey rules 1 and 2 against the current list; a
// head that is already the current head is left alone (the device is on it or will be: it walks its list by itself),
// unless VidMm's context has work and is not on the list.
public sealed partial class RunListScheduler
{
    // The contexts with work on the lane being rebuilt, in the kernel's one ready order (VidSch/ReadyQueue.cs).
    private readonly ReadyQueue<Candidate, CandidateKey> _candidates = new();
    private readonly ulong[] _list = new ulong[RunListRegisters.MaxEntriesValue];
    private bool _timerArmed;

    /// <summary>Contexts stopped by timeout detection.</summary>
    public long Timeouts { get; private set; }

    // Invariant (seed 001 §13, docs/scheduling-policy.md "timeouts"): only active time counts — the intervals between
    // two ticks at which the same context was the engine's running context, with work outstanding, summed since its
    // fence last moved. Waiting for a turn adds nothing; progress (the fence moving) starts again from zero.
    private void CheckTimeout(Lane lane, ulong running, ulong now)
    {
        if (running == 0 || !_bySaveArea.TryGetValue(running, out var ctx) || ctx.State != VaContextState.Ready) return;
        ulong fence = ctx.CompletedFence;
        if (fence != ctx.ProgressFence || !ctx.HasWork)
        {
            ctx.ProgressFence = fence;
            ctx.ActiveWithoutProgress = 0;
            return;
        }
        // Counted across turns (the engine time it held since its fence last moved), not only in one stretch.
        if (running == lane.LastTickRunning) ctx.ActiveWithoutProgress += now - lane.LastTickCycle;
        if (ctx.ActiveWithoutProgress < Options.TimeoutCycles) return;
        Timeouts++;
        Fail(ctx, $"timeout: no progress for {ctx.ActiveWithoutProgress} cycles on the engine", 0);
        Reschedule();
    }

    private readonly record struct Candidate(ulong SaveArea, int Priority, bool IsPaging, ulong LastTurnEnded, uint Id);

    private readonly List<ulong[]> _submittedLists = new();

    /// <summary>Every run list submitted, in order (save-area PAs; a copy).</summary>
    public ulong[][] SubmittedLists { get { lock (KernelLock) return _submittedLists.ToArray(); } }

    /// <summary>VidMm's context priority now: the highest effective priority on the paging list or waiting for its buffers (§5.6).</summary>
    public int PagingContextPriority { get { lock (KernelLock) return VidMmPriority(Clock()); } }

    /// <summary>Run lists submitted.</summary>
    public long RunListsSubmitted { get; private set; }

    /// <summary>Reprioritizations deferred because a pending list was outstanding (behaviour 21).</summary>
    public long RunListsDeferred { get; private set; }

    // The ready order (ReadyKey): priority; among equals VidMm's context first (round 0), then the least recently served
    // (round: its last turn's end + 1); then id.
    private readonly struct CandidateKey : IReadyKeyOf<Candidate>
    {
        public static ReadyKey KeyOf(Candidate c) => new(c.Priority, c.IsPaging ? 0 : c.LastTurnEnded + 1, c.Id);
    }

    // Invariant (seed 001 §5.5 fair share among equals): equal-priority contexts are listed least recently served first.
    // A turn ends when the engine leaves the context — it ran empty, stopped on a WAIT or a fault, or a new list took the
    // engine (history records, two-element switch interrupts) — or when its quantum expires while others wait (OnTimer).
    // Ending turns only at quantum expiry let a context whose buffers are shorter than the quantum keep its place at
    // the front for ever: listed by id, the first contexts of a full engine took every turn and the last ones starved.
    private ulong _turnSerial;

    private void EndTurn(VaContext ctx) => ctx.LastTurnEnded = ++_turnSerial;

    // Every engine's lists (each engine runs only its own contexts; VidMm's paging context is on the first).
    private void Reschedule()
    {
        foreach (var lane in _lanes) Reschedule(lane);
        _headWaitMayBeOver = false;
        // Invariant: while any context has work, a quantum tick is armed. A list left unchanged arms none (Reschedule(lane)
        // arms it only when it submits), and a head that stopped on a WAIT comes back only at a tick (OnTimer); without
        // one, work that arrived after the last tick found nothing to do would wait for ever with the engine idle.
        if (AnyWork()) ArmTimer(Clock());
        AuditPass();
    }

    private bool AnyWork()
    {
        if (Paging.HasWork) return true;
        foreach (var c in _contexts)
            if (c.State == VaContextState.Ready && c.HasWork) return true;
        return false;
    }

    /// <summary>The auditor watching this back end (Diagnostics/SchedulingAuditor.cs), or null: no cost.</summary>
    internal Diagnostics.SchedulingAuditor? Auditor;
    internal Diagnostics.SchedulingAuditor.RunListAudit? AuditorState;

    // VidMm's paging context with work to do (the auditor counts it as busy, not idle); caller holds the kernel lock.
    internal bool IsBusyKernelContext(ulong saveArea) => saveArea != 0 && saveArea == Paging.Context.SaveArea.Encoded && Paging.HasWork;

    // After every scheduling pass (a handler run, a submission, paging, a quantum tick): each engine's running context.
    private void AuditPass()
    {
        if (Auditor is not { } auditor) return;
        ulong now = Clock();
        foreach (var lane in _lanes) auditor.OnRunListPass(AuditorState!, lane.Engine, lane.Submitter.RunningContext, now);
    }

    private void Reschedule(Lane lane)
    {
        var runLists = lane.Submitter;
        bool primary = ReferenceEquals(lane, _lanes[0]);
        if (runLists.HasPending)
        {
            if (!lane.Dirty) { RunListsDeferred++; Log(RunListEventKind.RunListDeferred, 0, runLists.PendingSerial); }
            lane.Dirty = true; // seed 001 §6.2: never replace a pending list; the confirmation handler resubmits
            return;
        }
        lane.Dirty = false;
        ulong now = Clock();
        _candidates.Clear();
        if (primary && Paging.HasWork) _candidates.Insert(new Candidate(Paging.Context.SaveArea.Encoded, VidMmPriority(now), true, 0, DevicePagingQueue.ContextId));
        foreach (var c in _contexts)
            if (c.Engine == lane.Engine && c.State == VaContextState.Ready && c.HasWork) _candidates.Insert(new Candidate(c.SaveArea, c.Priority, false, c.LastTurnEnded, (uint)c.Id));
        var current = runLists.Current;
        // Invariant: a stopped context (State Error: a timeout, or a fault that cannot be served) is never left on the
        // device — the lists are rebuilt without it at once, and when nothing else has work the list names VidMm's own
        // context (valid, idle) so the engine leaves it. Otherwise it would run on, and its failed buffers complete.
        // On another engine than the paging context's, the stand-in is that engine's own idle kernel context (an empty
        // ring, Lane.IdleSaveArea): the paging context is only ever loaded by the first engine.
        bool stoppedListed = ListsAStoppedContext(runLists);
        if (_candidates.Count == 0)
        {
            if (!stoppedListed || (current.Length > 0 && current[0] == lane.IdleSaveArea)) return;
            _candidates.Insert(new Candidate(lane.IdleSaveArea, VidMmPriority(now), true, 0, primary ? DevicePagingQueue.ContextId : 0));
        }
        int n = 0;
        if (Options.Mechanism == RunListMechanism.TwoElement)
        {
            // Invariant: VidMm's context is on the list while it has work. A current head that outranks it and stopped
            // on a wait that never ends would otherwise keep the list (and the contexts waiting for paging behind it)
            // unchanged for ever: rule 1 then gives the new list to the paging context and the next candidate.
            bool pagingUnlisted = primary && Paging.HasWork && current.IndexOf(Paging.Context.SaveArea.Encoded) < 0;
            if (!stoppedListed && !pagingUnlisted && !_headStalled && current.Length > 0 && _candidates[0].SaveArea == current[0]) return;
            for (int i = 0; i < _candidates.Count; i++)
            {
                var c = _candidates[i];
                if (n == TwoElementRunListRules.MaxEntries) break;
                if (current.Length > 0 && c.SaveArea == current[0]) continue;                    // rule 1
                if (current.Length > 1 && c.SaveArea == current[1] && n != 0) continue;          // rule 2
                _list[n++] = c.SaveArea;
            }
        }
        else
        {
            for (int i = 0; i < _candidates.Count && n < Options.RunListLength; i++) _list[n++] = _candidates[i].SaveArea;
        }
        // A stopped context listed with only the current head left to run: a list of VidMm's context takes both off.
        if (n == 0 && stoppedListed && (current.Length == 0 || current[0] != lane.IdleSaveArea)) _list[n++] = lane.IdleSaveArea;
        if (n == 0 || (current.SequenceEqual(_list.AsSpan(0, n)) && !(_headWaitMayBeOver && HeadWaitsBehindLower(runLists, _candidates[0])))) return;
        var status = runLists.TrySubmit(_list.AsSpan(0, n));
        if (status == RunListSubmitStatus.PendingBusy)
        {
            // The device still holds a pending list the driver took for current (defence in depth: the decision table's
            // adoption is checked against RL_STATE where it is ambiguous): try again at the next handler run.
            lane.Dirty = true;
            return;
        }
        if (status != RunListSubmitStatus.Ok) throw new RunListSubmitException(lane.Engine, status);
        RunListsSubmitted++;
        if (_submittedLists.Count < Options.EventLogCapacity) _submittedLists.Add(_list.AsSpan(0, n).ToArray());
        _bus.Kick();
        Log(RunListEventKind.RunListSubmitted, IdOf(_list[0]), (ulong)n);
        ArmTimer(now);
    }

    // Invariant (seed 001 §5.5 strict priority, §6.3 switch on a wait): the engine never runs a lower-priority context
    // while a higher one at the head of its list has work. The device leaves a head that stops on a WAIT for the next
    // element and does not come back by itself; the same list submitted again makes it start from the head at the next
    // switch point — so an unchanged list is resubmitted when its head outranks the context running and its wait may be
    // over: at a quantum tick (any wait), and when paging a context waited for has run (ReleaseResolved). Not at every
    // event: a head whose wait is still unsatisfied yields again at once, and resubmitting it on each interrupt would
    // keep the engine switching.
    private bool _headWaitMayBeOver;

    // Set while a two-element lane's head, stalled on a WAIT with nothing listed behind it, gives the engine away.
    private bool _headStalled;

    // The lane's running context is the only one of its list, the engine reports it stopped on a WAIT, and another
    // context of the lane has work: it cannot yield to anyone by itself.
    private bool HeadStalledAlone(Lane lane, ulong running)
    {
        var current = lane.Submitter.Current;
        if (lane.Submitter.HasPending || current.Length != 1 || current[0] != running) return false;
        bool other = false;
        foreach (var c in _contexts)
            other |= c.SaveArea != running && c.Engine == lane.Engine && c.State == VaContextState.Ready && c.HasWork;
        if (!other) return false;
        uint status = _bus.ReadRegister32(Coproc.Fast.Device.Engines.EngineRegisters.At(lane.Engine, Coproc.Fast.Device.Engines.EngineRegisters.Status));
        return (status & Coproc.Fast.Device.Engines.EngineRegisters.StatusLoaded) != 0
            && (status & Coproc.Fast.Device.Engines.EngineRegisters.StatusWaiting) != 0;
    }

    private bool HeadWaitsBehindLower(RunListSubmitter runLists, in Candidate head)
    {
        if (Options.Mechanism == RunListMechanism.TwoElement) return false; // rule 1: the current head cannot lead again
        ulong running = runLists.RunningContext;
        if (running == 0 || running == head.SaveArea) return false;
        int runningPriority = running == Paging.Context.SaveArea.Encoded ? VidMmPriority(Clock())
            : _bySaveArea.TryGetValue(running, out var r) ? r.Priority : int.MinValue;
        return head.Priority > runningPriority;
    }

    private bool ListsAStoppedContext(RunListSubmitter runLists)
    {
        foreach (ulong sa in runLists.Current)
            if (_bySaveArea.TryGetValue(sa, out var c) && c.State == VaContextState.Error) return true;
        ulong running = runLists.RunningContext;
        return running != 0 && _bySaveArea.TryGetValue(running, out var r) && r.State == VaContextState.Error;
    }

    /// <summary>Faults found by the periodic saved-context sweep rather than by an interrupt or a history record.</summary>
    public long FaultsFoundBySweep { get; private set; }

    // Seed 001 §6.4 "some information may be lost" (a fault hidden behind other switches, or an interrupt dropped from a
    // full information queue): a context the scheduler believes ready whose saved context says Faulted is handled now.
    private void SweepSavedContexts()
    {
        foreach (var c in _contexts)
        {
            if (c.State != VaContextState.Ready || !c.HasWork || c.SaveArea == LaneOf(c.Engine)!.Submitter.RunningContext) continue;
            var save = SavedContextQuery.Read(_memory, c.Hw.SaveArea);
            if ((save.Flags & Coproc.Fast.Device.Contexts.ContextFlags.Faulted) == 0) continue;
            FaultsFoundBySweep++;
            OnFault(c, save.LastSwitchReason, save.Fault.Address);
        }
    }

    private uint IdOf(ulong saveArea) =>
        saveArea == Paging.Context.SaveArea.Encoded ? DevicePagingQueue.ContextId : _bySaveArea.TryGetValue(saveArea, out var c) ? (uint)c.Id : 0;

    private void ArmTimer(ulong now)
    {
        if (_timerArmed || Host is null) return;
        _timerArmed = true;
        Host.RequestTimer(now + Options.QuantumCycles);
    }

    /// <summary>
    /// The quantum timer: a context the device has been running since the previous tick yields the head to a ready
    /// context of the same or higher priority (seed 001 §5.5 next-buffer rule; equal priorities take turns).
    /// </summary>
    public void OnTimer()
    {
        lock (KernelLock)
        {
            _timerArmed = false;
            ulong now = Clock();
            foreach (var lane in _lanes)
            {
                var runLists = lane.Submitter;
                if (History is null && runLists.HasPending) ActOnTwoElementOutcome(lane, atSwitch: false); // lost switch interrupts (RunListScheduler.Interrupts.cs)
                ulong running = runLists.RunningContext;
                if (running != 0 && running == lane.LastTickRunning && _bySaveArea.TryGetValue(running, out var ctx))
                {
                    // Rivals are contexts of the same engine (each engine's lists are its own).
                    bool rival = false;
                    foreach (var c in _contexts)
                        rival |= c != ctx && c.Engine == lane.Engine && c.State == VaContextState.Ready && c.Priority >= ctx.Priority && c.HasWork;
                    if (rival)
                    {
                        EndTurn(ctx);
                        Log(RunListEventKind.QuantumExpired, (uint)ctx.Id, now);
                        _headWaitMayBeOver = true;
                        try { Reschedule(lane); }
                        finally { _headWaitMayBeOver = false; }
                    }
                    else if (Options.Mechanism == RunListMechanism.TwoElement && HeadStalledAlone(lane, running))
                    {
                        // Seed 001 §8.4: a WAIT on a zero counter switches to the next context of the list. A head
                        // listed alone has none, so the device retries it in place and a lower context whose work
                        // arrived after that list (maybe the one that would signal it) never ran: a deadlock. The
                        // head's turn ends; the new list (rule 1: without it) runs the others, and the head comes
                        // back at the next tick as the higher priority with work (the rival rule above).
                        EndTurn(ctx);
                        Log(RunListEventKind.QuantumExpired, (uint)ctx.Id, now);
                        _headStalled = true;
                        try { Reschedule(lane); }
                        finally { _headStalled = false; }
                    }
                }
                CheckTimeout(lane, running, now);
                lane.LastTickRunning = running;
                lane.LastTickCycle = now;
            }
            SweepSavedContexts();
            if (AnyWork()) ArmTimer(now);
            AuditPass();
        }
    }
}
