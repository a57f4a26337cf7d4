using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// The interrupt handler (seed 001 §6.3–§6.5, Fig. 19). Fences retire buffers (scheduler fences) and release faulted
// contexts (the paging fence). Two-element mode learns about switches and faults from the interrupts themselves plus the
// running-context query (the decision table); history mode reconstructs every switch — reasons, fault addresses,
// several behind one interrupt — from the history buffer between its read pointer and HB_WRPTR. An "empty" report is
// checked with the saved-context query (the race of behaviour 19): work queued after the device's tail re-read keeps the
// context scheduled.
public sealed partial class RunListScheduler
{
    private HistoryRecord[] _historyScratch = [];

    /// <summary>History records read by the handler in total.</summary>
    public long HistoryRecordsRead { get; private set; }

    private int _lastBatchCount;

    /// <summary>The records the most recent handler run read (history mode; a copy).</summary>
    public HistoryRecord[] LastHistoryBatch { get { lock (KernelLock) return _historyScratch.AsSpan(0, _lastBatchCount).ToArray(); } }

    /// <summary>Most records one handler run read (several switches behind one interrupt, Fig. 19).</summary>
    public int LargestHistoryBatch { get; private set; }

    /// <summary>Two-element mode: the decision-table outcome of the last context-switch interrupt.</summary>
    public TwoElementOutcome LastTwoElementOutcome { get; private set; }

    /// <summary>Handles a batch of drained interrupt records (the machine's ISR).</summary>
    public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        lock (KernelLock)
        {
            if (History is not null) ReadHistory();
            foreach (var r in records)
            {
                switch (r.Source)
                {
                    case InterruptRecord.Fence:
                        if (_byFence.TryGetValue(r.Data1, out var done)) RetireAndLog(done);
                        break;
                    case InterruptRecord.ContextSwitch when r.Engine < Coproc.Fast.Device.Engines.Engines.Count && LaneOf((Coproc.Fast.Device.Engines.EngineKind)r.Engine) is { } lane:
                        OnSwitchInterrupt(lane, r);
                        break;
                    case InterruptRecord.PageFault or InterruptRecord.ProtectionFault or InterruptRecord.InvalidCommand or InterruptRecord.Error
                        when History is null && _bySaveArea.TryGetValue(r.Data1, out var faulted):
                        var reason = r.Source switch
                        {
                            InterruptRecord.PageFault => SwitchReason.PageFault,
                            InterruptRecord.ProtectionFault => SwitchReason.ProtectionFault,
                            InterruptRecord.InvalidCommand => SwitchReason.InvalidCommand,
                            _ => SwitchReason.Faulted,
                        };
                        // The saved-context query (seed 001 §4.1 query 3): the fault address from the save area.
                        var saved = SavedContextQuery.Read(_memory, faulted.Hw.SaveArea);
                        OnFault(faulted, reason, r.Source == InterruptRecord.InvalidCommand ? saved.Fault.Address : r.Data0);
                        break;
                }
            }
            // History mode reads the confirmation from RL_SERIAL (the records carry it too); two-element mode learned it
            // from the decision table at each switch interrupt (OnSwitchInterrupt) and never reads the serial.
            foreach (var lane in _lanes)
            {
                var runLists = lane.Submitter;
                if (History is not null && runLists.Refresh()) Log(RunListEventKind.RunListConfirmed, 0, runLists.CurrentSerial);
                else if (History is null && runLists.HasPending) ActOnTwoElementOutcome(lane, atSwitch: false); // a switch interrupt may have been lost
            }
            foreach (var c in _contexts)
            {
                RetireAndLog(c);
                FreeRetiredKernelBuffers(c);
            }
            ProcessSyncEvents(); // seed 001 §10–§11: waits and signals the coprocessor reached (RunListScheduler.Sync.cs)
            ReleaseResolved();
            Reschedule();
        }
    }

    /// <summary>
    /// The interrupt controller dropped records (native-layout.md §9.1): the saved-context sweep that otherwise runs at
    /// each quantum tick (a ready context whose save area says Faulted is handled as its lost fault report would have
    /// made it), then one handler pass without records — fences are read from memory, history mode reads every switch
    /// and fault from the history buffer, and two-element mode re-evaluates the decision table from the lists and the
    /// running context (as it does at every pass while a list is pending, §6.4 "some information may be lost";
    /// docs/containment.md "An interrupt flood").
    /// </summary>
    internal void Resynchronize()
    {
        lock (KernelLock) SweepSavedContexts();
        OnInterrupts([]);
    }

    private void OnSwitchInterrupt(Lane lane, in InterruptRecord r)
    {
        var reason = (SwitchReason)r.Data0;
        if (History is not null)
        {
            // The records say it all (ReadHistory); the confirmation is RL_SERIAL.
            if (reason == SwitchReason.NewRunList && lane.Submitter.Refresh()) Log(RunListEventKind.RunListConfirmed, 0, lane.Submitter.CurrentSerial);
            return;
        }
        Log(RunListEventKind.Switch, r.ContextId, SwitchDetail(reason, r.Data1 == 0 ? 0 : IdOf(r.Data1)));
        if (_byId.TryGetValue(r.ContextId, out var left) && left.SaveArea != r.Data1)
        {
            EndTurn(left);
            left.LeftOnWait = reason == SwitchReason.Yielded;
            CountPreemption(left, reason, r.Cycle);
        }
        if (_bySaveArea.TryGetValue(r.Data1, out var to)) to.LeftOnWait = false;
        ActOnTwoElementOutcome(lane, atSwitch: true);
        if (reason == SwitchReason.Empty && _byId.TryGetValue(r.ContextId, out var ctx)) EmptyReported(ctx);
    }

    /// <summary>Two-element mode: how often the decision table resolved to each outcome (index = outcome; evaluated at each switch interrupt, and at each handler run or timer tick while a list is pending).</summary>
    public long[] TwoElementOutcomeCounts { get { lock (KernelLock) return (long[])_outcomeCounts.Clone(); } }

    private readonly long[] _outcomeCounts = new long[Enum.GetValues<TwoElementOutcome>().Length];

    // Seed 001 §6.4 (solution 1): a context-switch interrupt says only that the engine switched; the decision table
    // (TwoElementRunListRules.Resolve), from the current and pending lists the driver submitted under rules 1 and 2 and
    // the running context read from the device (query need 3), says what happened — and that is what the driver acts
    // on: the engine on the pending list's entries means the pending list is current now (the driver adopts it, and
    // the next list may be built against it); on the current head, nothing changed; having left the head with nothing
    // pending, the pass's Reschedule builds the next list. The table cannot tell an idle engine's history: there the
    // driver asks the device whether it still holds the pending list (RL_STATE bit 8), as it does in the one ambiguous
    // case below. Interrupts can be lost (§6.4 "some
    // information may be lost": a full information queue), so while a list is pending the table is also evaluated at
    // every handler run and timer tick — it needs only the lists and the running context, not the interrupt.
    // One case is ambiguous to the table: the pending list's head is the current list's second entry (rule 2 allows
    // it), and the engine runs it — it may have reached it inside the current list, with the pending list not taken
    // yet (taken only at the engine's next switch point, or after a no-switch region). The seed's hardware would not
    // care (it runs that context either way), but this device refuses a new list while one is pending, so there, and
    // outside a CONTEXT_SWITCH record (a handler run or timer tick: the running context may be read between the
    // switch and the take), the driver confirms with RL_STATE bit 8 before adopting.
    private void ActOnTwoElementOutcome(Lane lane, bool atSwitch)
    {
        var runLists = lane.Submitter;
        var current = runLists.Current;
        var pending = runLists.Pending;
        var outcome = TwoElementRunListRules.Resolve(current, pending, runLists.RunningContext);
        LastTwoElementOutcome = outcome;
        _outcomeCounts[(int)outcome]++;
        bool ambiguous = !atSwitch || (outcome == TwoElementOutcome.PendingHeadRunning && current.Length > 1 && current[1] == pending[0]);
        bool adopt = outcome switch
        {
            TwoElementOutcome.PendingHeadRunning or TwoElementOutcome.PendingLeftHead => !ambiguous || !runLists.DeviceHoldsPending,
            TwoElementOutcome.Idle => runLists.HasPending && !runLists.DeviceHoldsPending,
            _ => false,
        };
        if (adopt && runLists.AdoptPending()) Log(RunListEventKind.RunListConfirmed, 0, runLists.CurrentSerial);
    }

    private void ReadHistory()
    {
        if (_historyScratch.Length != History!.Capacity) _historyScratch = new HistoryRecord[History.Capacity];
        int n = History.Read(_historyScratch);
        if (n == 0) return;
        HistoryRecordsRead += n;
        LargestHistoryBatch = Math.Max(LargestHistoryBatch, n);
        _lastBatchCount = n;
        for (int i = 0; i < n; i++)
        {
            ref readonly var h = ref _historyScratch[i];
            Log(RunListEventKind.Switch, h.FromContextId, SwitchDetail(h.Reason, h.ToContextId));
            if (_bySaveArea.TryGetValue(h.ToSaveArea, out var to)) to.LeftOnWait = false;
            if (!_bySaveArea.TryGetValue(h.FromSaveArea, out var from)) continue;
            if (h.ToSaveArea != h.FromSaveArea)
            {
                EndTurn(from);
                from.LeftOnWait = h.Reason == SwitchReason.Yielded;
                CountPreemption(from, h.Reason, h.Cycle);
            }
            if (ContextSaveArea.IsFaultReason(h.Reason)) OnFault(from, h.Reason, h.FaultAddress);
            else if (h.Reason == SwitchReason.Empty) EmptyReported(from);
        }
    }

    // Invariant (one rule with user queues): a context's preemptions are the engine's own count in its save area
    // (native-layout.md §11 +92: left for another with work left — inside a DMA buffer, on a WAIT, or packets short of
    // WritePtr — not on a fault), read when the driver learns of the switch away (the save area is written before the
    // record or interrupt). Exact where an outstanding-buffer test is not: a record read before its batch's fences
    // retire would count a context that had just finished. Each new one is reported to the machine's observer.
    private void CountPreemption(VaContext left, SwitchReason reason, ulong cycle)
    {
        var sa = left.Hw.SaveArea;
        uint now = _memory.Region(sa.Location).Ref<Coproc.Fast.Device.Contexts.ContextSaveArea>(sa.Offset).Preemptions;
        uint delta = now - left.PreemptionsSeen; // wraps at 2^32 like the count
        left.PreemptionsSeen = now;
        for (uint i = 0; i < delta && i < 4096; i++)
        {
            left.Preemptions++;
            Diagnostics.CoprocMetrics.OnScheduleEvent(ScheduleEventKind.ContextPreempted, 0); // the library's counters, as VidSch's
            // Value = the switch reason (VidSch's own ContextPreempted events carry the submission and the context switched to).
            Observer?.OnEvent(new ScheduleEvent(ScheduleEventKind.ContextPreempted, cycle, left.Id, 0, (ulong)reason, 0));
        }
    }

    /// <summary>
    /// The machine's one observer (<see cref="Machine.SetObserver"/>): receives this back end's preemptions
    /// (<see cref="ScheduleEventKind.ContextPreempted"/>, Value = the switch reason), under the kernel lock.
    /// </summary>
    internal IScheduleObserver? Observer { get; set; }

    // Every retirement is logged (Detail = the fence reached), whichever path noticed it first.
    private void RetireAndLog(VaContext ctx)
    {
        if (ctx.Retire() != 0) Log(RunListEventKind.Retired, (uint)ctx.Id, ctx.CompletedFence);
    }

    // Switch events: the reason in the low 32 bits, the context switched to (0 = idle) in the high 32.
    private static ulong SwitchDetail(SwitchReason reason, uint to) => (uint)reason | ((ulong)to << 32);

    private void EmptyReported(VaContext ctx)
    {
        if (ctx.State != VaContextState.Ready) return;
        RetireAndLog(ctx);
        // Behaviour 19: buffers we submitted are still outstanding and the saved context shows them queued — the device
        // sampled the tail just before they arrived. Keep the context scheduled.
        if (ctx.HasWork && SavedContextQuery.HasQueuedWork(_memory, ctx.Hw.SaveArea))
        {
            EmptyRaceRequeues++;
            Log(RunListEventKind.EmptyRaceRequeued, (uint)ctx.Id, ctx.Hw.WritePtr);
        }
    }
}
