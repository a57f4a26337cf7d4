using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch.Sync;

/// <summary>The event types of the scheduler event history (seed 001 §11, Fig. 25 table).</summary>
public enum SchedulerEventKind : byte
{
    /// <summary>End of a DMA buffer: the buffer returns to its process's pool.</summary>
    DmaBufferEnd = 1,
    /// <summary>A wait on one or more objects: take them and reschedule the context, or put it on their wait lists.</summary>
    WaitSync,
    /// <summary>A release or signal of an object: change its state, possibly waking waiters.</summary>
    SignalSync,
    /// <summary>A reset of a notification event (the same mechanism as a signal).</summary>
    ResetSync,
    /// <summary>A user-mode completion notification: signal the CPU event.</summary>
    UserModeNotification,
}

/// <summary>What processing an event did.</summary>
public enum SchedulerEventOutcome : byte
{
    /// <summary>Buffer returned to its pool.</summary>
    BufferReturned = 1,
    /// <summary>Buffer already returned by a reset (its failure path returned it).</summary>
    BufferAlreadyReturned,
    /// <summary>Wait satisfied: objects taken, held-back work released to the ready queue.</summary>
    Acquired,
    /// <summary>Wait not satisfied: the context is on the objects' wait lists.</summary>
    WaitListed,
    /// <summary>Signal applied (state changed, waiters possibly woken; see <see cref="SchedulerEventRecord.Woken"/>).</summary>
    Signalled,
    /// <summary>Signal dropped: a misuse recorded on the signalling context (<see cref="SyncFault"/>).</summary>
    Faulted,
    /// <summary>CPU event signalled.</summary>
    Notified,
}

/// <summary>
/// One processed history event (the opt-in log <see cref="VidSchScheduler.EventHistoryLog"/>): which context, which
/// event, the scheduler-fence value it was tagged with and the value read from memory when it was processed.
/// </summary>
/// <param name="Cycle">Device cycle when the scheduler processed it.</param>
/// <param name="ContextId">The context whose history it is in.</param>
/// <param name="Kind">Event type.</param>
/// <param name="Fence">The scheduler-fence value at which it takes effect.</param>
/// <param name="FenceRead">The scheduler-fence value read from memory by that walk (≥ <paramref name="Fence"/>).</param>
/// <param name="SubmissionId">The DMA buffer (DMA-buffer end, user-mode notification), 0 otherwise.</param>
/// <param name="ObjectHandle">The first object named (sync events), 0 otherwise.</param>
/// <param name="Outcome">What it did.</param>
/// <param name="Woken">Contexts a signal readied (ids, in the order readied), or the one a satisfied wait readied.</param>
public readonly record struct SchedulerEventRecord(ulong Cycle, int ContextId, SchedulerEventKind Kind, ulong Fence, ulong FenceRead,
    long SubmissionId, uint ObjectHandle, SchedulerEventOutcome Outcome, int[] Woken);

/// <summary>A wait, signal or reset in a context's stream (seed 001 §10.2), from the thunk call until processed.</summary>
internal sealed class SyncOperation
{
    public SchedulerEventKind Kind;      // WaitSync, SignalSync or ResetSync
    public SyncObject[] Objects = [];
    public bool WaitAll;
    public long AfterSubmission;         // the context's last submission before it (stream position)
    public ulong Fence;                  // scheduler-fence value of its ring entry (0 until written)
}

/// <summary>One entry of a context's event history: a kind, the fence value it waits for, and its parameter.</summary>
internal struct HistoryEvent
{
    public SchedulerEventKind Kind;
    public ulong Fence;
    public DmaBuffer? Buffer;
    public long SubmissionId;
    public SyncOperation? Operation;
    public UserModeCompletionEvent? Event;
}

/// <summary>
/// A direct-switching context's synchronization state: the <see cref="SyncParty"/> every back end has (event history,
/// owned mutexes, wait lists, faults) plus the software queue of work held back behind an unsatisfied wait (seed 001
/// §10.1) and the stream operations not yet written to the ring (VidSchScheduler.Sync.cs).
/// </summary>
internal sealed class ContextSyncState(VidSchContext context) : SyncParty(context.Id)
{
    public readonly List<object> Held = new();           // DmaBuffer or SyncOperation, in stream order
    public readonly Queue<SyncOperation> Unwritten = new();
    public SyncOperation? BlockingWait;                 // the wait later work is held behind (null: not blocked)
    public long LaunchedThrough;                         // every buffer ≤ this id is in the ring (or failed)

    public VidSchContext Context { get; } = context;

    // The waiter may run on another engine, or the signal came from the run-list back end: the context's own scheduler
    // releases its held-back work (one kernel lock), running the rest of a pass when the processor was not it.
    public override void Readied(uint handle, object processor)
    {
        var owner = Context.Scheduler ?? (VidSchScheduler)processor;
        owner.SyncReadied(Context, handle, foreign: !ReferenceEquals(owner, processor));
    }

    public override void WaitListed(uint handle) => Context.Scheduler?.SyncWaitListed(Context, handle);

    public override SchedulerEventOutcome BufferEnd(in HistoryEvent e)
    {
        var b = e.Buffer!;
        // A reset already failed and returned it (its pool may even have handed it out again).
        if (b.SubmissionId != e.SubmissionId || b.Status == DmaBufferStatus.Free || !ReferenceEquals(b.Owner, Context))
            return SchedulerEventOutcome.BufferAlreadyReturned;
        b.Process.ReturnDmaBuffer(b);
        return SchedulerEventOutcome.BufferReturned;
    }
}
