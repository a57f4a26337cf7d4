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
            byte engine = (byte)Options.Engine;
            foreach (var r in records)
            {
                switch (r.Source)
                {
                    case InterruptRecord.Fence:
                        if (_byFence.TryGetValue(r.Data1, out var done)) RetireAndLog(done);
                        break;
                    case InterruptRecord.ContextSwitch when r.Engine == engine:
                        OnSwitchInterrupt(r);
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
            if (RunLists.Refresh()) Log(RunListEventKind.RunListConfirmed, 0, RunLists.CurrentSerial);
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

    private void OnSwitchInterrupt(in InterruptRecord r)
    {
        var reason = (SwitchReason)r.Data0;
        if (reason == SwitchReason.NewRunList && RunLists.Refresh()) Log(RunListEventKind.RunListConfirmed, 0, RunLists.CurrentSerial);
        if (History is not null) return; // the records say it all
        Log(RunListEventKind.Switch, r.ContextId, SwitchDetail((SwitchReason)r.Data0, r.Data1 == 0 ? 0 : IdOf(r.Data1)));
        // Seed 001 §6.4: what the switch means, from the current/pending lists and the running context (query need 3).
        LastTwoElementOutcome = TwoElementRunListRules.Resolve(RunLists.Current, RunLists.Pending, RunLists.RunningContext);
        if (reason == SwitchReason.Empty && _byId.TryGetValue(r.ContextId, out var ctx)) EmptyReported(ctx);
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
            if (!_bySaveArea.TryGetValue(h.FromSaveArea, out var from)) continue;
            if (ContextSaveArea.IsFaultReason(h.Reason)) OnFault(from, h.Reason, h.FaultAddress);
            else if (h.Reason == SwitchReason.Empty) EmptyReported(from);
        }
    }

    // Every retirement is logged (Detail = the fence reached), whichever path noticed it first.
    private void RetireAndLog(VaContext ctx)
    {
        if (ctx.Retire() != 0) Log(RunListEventKind.Retired, ctx.Id, ctx.CompletedFence);
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
            Log(RunListEventKind.EmptyRaceRequeued, ctx.Id, ctx.Hw.WritePtr);
        }
    }
}
