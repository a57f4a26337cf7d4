using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Sync;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch;

// The scheduler event history (seed 001 §11, Fig. 25). Interrupts do not stall the coprocessor and coalesce, so the
// scheduler never trusts an interrupt to name its event: on each fence interrupt it reads the context's scheduler
// fence from memory and processes, in order, every event of the context's history whose fence value is reached.
public sealed partial class VidSchScheduler
{
    private readonly List<int> _woken = new();

    /// <summary>
    /// Opt-in log of processed history events, in processing order (null: no log, nothing allocated). For tests and
    /// tools; it grows without bound while set.
    /// </summary>
    public List<SchedulerEventRecord>? EventHistoryLog { get; set; }

    /// <summary>Processes every history event of <paramref name="ctx"/> whose fence value <paramref name="done"/> reached.</summary>
    private void WalkEventHistory(VidSchContext ctx, ulong done)
    {
        if (ctx.Sync is not { } s) return;
        while (s.History.Count > 0 && FenceValue.IsReached(done, s.History.Peek().Fence))
        {
            var e = s.History.Dequeue();
            _woken.Clear();
            var outcome = e.Kind switch
            {
                SchedulerEventKind.DmaBufferEnd => BufferEnd(ctx, e),
                SchedulerEventKind.UserModeNotification => Notify(e, done),
                SchedulerEventKind.WaitSync => ReachWait(ctx, e.Operation!),
                _ => ReachSignal(ctx, e.Operation!),
            };
            if (EventHistoryLog is { } log)
                log.Add(new SchedulerEventRecord(_bus.Cycle, ctx.Id, e.Kind, e.Fence, done, e.SubmissionId,
                    e.Operation?.Objects[0].Handle ?? 0, outcome, _woken.ToArray()));
        }
    }

    /// <summary>§11 "DMA buffer end": the buffer returns to its process's pool — only now that its fence is reached.</summary>
    private static SchedulerEventOutcome BufferEnd(VidSchContext ctx, in HistoryEvent e)
    {
        var b = e.Buffer!;
        // A reset already failed and returned it (its pool may even have handed it out again).
        if (b.SubmissionId != e.SubmissionId || b.Status == DmaBufferStatus.Free || !ReferenceEquals(b.Owner, ctx))
            return SchedulerEventOutcome.BufferAlreadyReturned;
        b.Process.ReturnDmaBuffer(b);
        return SchedulerEventOutcome.BufferReturned;
    }

    /// <summary>§10.4: the user-mode notification after the buffer's trailing fence signals the CPU event.</summary>
    private SchedulerEventOutcome Notify(in HistoryEvent e, ulong done)
    {
        e.Event!.Signal(done, _bus.Cycle);
        return SchedulerEventOutcome.Notified;
    }

    /// <summary>
    /// §11 "Wait sync" / §10.3 "on wait": the context's earlier work retired; take the object(s) and reschedule it,
    /// or put it on the wait list(s).
    /// </summary>
    private SchedulerEventOutcome ReachWait(VidSchContext ctx, SyncOperation op)
    {
        foreach (var o in op.Objects) o.PendingOperations--;
        var s = SyncOf(ctx);
        var w = new SyncWaiter(ctx, op.Objects, op.WaitAll);
        if (w.CanComplete())
        {
            w.Complete();
            s.LastSatisfiedBy = w.SatisfiedBy;
            _woken.Add(ctx.Id);
            Emit(ScheduleEventKind.ContextReadied, ctx.Id, 0, op.Objects[0].Handle);
            Unblock(ctx);
            return SchedulerEventOutcome.Acquired;
        }
        foreach (var o in op.Objects) o.Waiters.Add(w);
        s.Waiting = w;
        Emit(ScheduleEventKind.ContextWaiting, ctx.Id, 0, op.Objects[0].Handle);
        return SchedulerEventOutcome.WaitListed;
    }

    /// <summary>§11 "Signal sync" / §10.3 "on signal": change the object's state, waking waiters it now admits.</summary>
    private SchedulerEventOutcome ReachSignal(VidSchContext ctx, SyncOperation op)
    {
        var o = op.Objects[0];
        o.PendingOperations--;
        if (op.Kind == SchedulerEventKind.ResetSync)
        {
            o.Count = 0;
            return SchedulerEventOutcome.Signalled;
        }
        switch (o.Kind)
        {
            case SyncObjectKind.Mutex:
                if (!ReferenceEquals(o.Owner, ctx)) return Fault(ctx, SyncFault.MutexNotOwned);
                o.Owner = null;
                SyncOf(ctx).Owned.Remove(o);
                break;
            case SyncObjectKind.Semaphore:
                if (o.Count >= o.MaxCount) return Fault(ctx, SyncFault.SemaphoreOverflow);
                o.Count++;
                break;
            default:
                o.Count = 1; // stays signalled until reset
                break;
        }
        WakeWaiters(o);
        return SchedulerEventOutcome.Signalled;
    }

    private static SchedulerEventOutcome Fault(VidSchContext ctx, SyncFault fault)
    {
        var s = SyncOf(ctx);
        s.LastFault = fault;
        s.Faults++;
        return SchedulerEventOutcome.Faulted;
    }

    /// <summary>
    /// Readies the waiters of <paramref name="o"/> it now admits, first come first served: a freed mutex goes to the
    /// first waiter that can complete (§10.3 handoff), a semaphore admits while its count lasts, an event admits all.
    /// </summary>
    private void WakeWaiters(SyncObject o)
    {
        int i = 0;
        while (i < o.Waiters.Count)
        {
            var w = o.Waiters[i];
            if (!w.CanComplete()) { i++; continue; }
            w.Complete();
            foreach (var other in w.Objects) other.Waiters.Remove(w);
            SyncOf(w.Context).LastSatisfiedBy = w.SatisfiedBy;
            _woken.Add(w.Context.Id);
            // The waiter may run on another engine: its own scheduler releases its held-back work (one kernel lock).
            var owner = w.Context.Scheduler ?? this;
            owner.Emit(ScheduleEventKind.ContextReadied, w.Context.Id, 0, o.Handle);
            owner.Unblock(w.Context, foreign: !ReferenceEquals(owner, this));
        }
    }
}
