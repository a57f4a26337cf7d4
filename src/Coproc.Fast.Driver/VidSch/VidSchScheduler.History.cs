using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Sync;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch;

// The scheduler event history (seed 001 §11, Fig. 25). Interrupts do not stall the coprocessor and coalesce, so the
// scheduler never trusts an interrupt to name its event: on each fence interrupt it reads the context's scheduler
// fence from memory and processes, in order, every event of the context's history whose fence value is reached. The
// walk and the §10.3 algorithm are the machine's one SyncObjectTable (Sync/SyncObjectTable.cs), shared with the
// run-list back end.
public sealed partial class VidSchScheduler
{
    /// <summary>
    /// Opt-in log of processed history events, in processing order (null: no log, nothing allocated). For tests and
    /// tools; it grows without bound while set.
    /// </summary>
    public List<SchedulerEventRecord>? EventHistoryLog { get; set; }

    /// <summary>Processes every history event of <paramref name="ctx"/> whose fence value <paramref name="done"/> reached.</summary>
    private void WalkEventHistory(VidSchContext ctx, ulong done)
    {
        if (ctx.Sync is { } s) SyncObjects.Walk(s, done, this, _bus.Cycle, EventHistoryLog);
    }

    /// <summary>
    /// A wait of <paramref name="ctx"/> (this scheduler's) completed: trace it and release its held-back work.
    /// <paramref name="foreign"/>: another scheduler (another engine's, or the run-list back end) processed the signal.
    /// </summary>
    internal void SyncReadied(VidSchContext ctx, uint handle, bool foreign)
    {
        Emit(ScheduleEventKind.ContextReadied, ctx.Id, 0, handle);
        Unblock(ctx, foreign);
    }

    /// <summary>A wait of <paramref name="ctx"/> was reached and not satisfied: it is on the objects' wait lists.</summary>
    internal void SyncWaitListed(VidSchContext ctx, uint handle) => Emit(ScheduleEventKind.ContextWaiting, ctx.Id, 0, handle);
}
