using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Sync;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch;

// High-level synchronization objects (seed 001 §10, Fig. 24, claims 13–15): the kernel thunks, and how a wait or a
// signal becomes part of a context's stream. A wait or signal is a privileged scheduler FENCE with an interrupt in
// the context's ring, written after every earlier buffer of that context (§10.1); work submitted after a wait is held
// back in the context's software queue — never written to the ring — until the wait is satisfied. The effect is
// applied by the event-history walk (VidSchScheduler.History.cs) when the fence is reached, i.e. after the context's
// earlier work retired.
public sealed partial class VidSchScheduler
{
    /// <summary>Most objects one <see cref="WaitOnMultipleObjects"/> may name.</summary>
    public const int MaxWaitObjects = SyncObjectTable.MaxWaitObjects;

    /// <summary>
    /// The machine's synchronization objects (SyncObjectTable.cs): in the SchedulerGroup, so every engine's scheduler —
    /// and the run-list back end, which reaches it through its kernel path — sees the same objects.
    /// </summary>
    internal SyncObjectTable SyncObjects => _group.SyncObjects;

    /// <summary>The schedulers of the device's engines (this one included), which share the lock and the objects.</summary>
    internal IReadOnlyList<VidSchScheduler> GroupMembers => _group.Members;

    /// <summary>
    /// CreateSynchronizationObject (seed 001 §10.2): a kernel tracking structure owned by <paramref name="processId"/>;
    /// returns its handle. Mutex: created free (<paramref name="initialCount"/> and <paramref name="maxCount"/>
    /// ignored). Semaphore: <paramref name="initialCount"/> of <paramref name="maxCount"/> available. Notification
    /// event: signalled when <paramref name="initialCount"/> ≠ 0.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown kind, or a semaphore with max &lt; 1 or initial outside 0…max.</exception>
    public uint CreateSynchronizationObject(uint processId, SyncObjectKind kind, int initialCount = 0, int maxCount = 1)
    {
        lock (KernelLock) return SyncObjects.Create(processId, kind, initialCount, maxCount);
    }

    /// <summary>Lets <paramref name="otherProcessId"/> use an object of <paramref name="processId"/> (a shared object, Fig. 24).</summary>
    /// <exception cref="SyncObjectException">Unknown handle, or the caller may not use it.</exception>
    public void ShareSynchronizationObject(uint processId, uint handle, uint otherProcessId)
    {
        lock (KernelLock) SyncObjects.Share(processId, handle, otherProcessId);
    }

    /// <summary>DeleteSynchronizationObject (seed 001 §10.2).</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process, or in use (waiters, a mutex owner, or
    /// waits/signals naming it that the coprocessor has not reached yet); nothing is changed.</exception>
    public void DeleteSynchronizationObject(uint processId, uint handle)
    {
        lock (KernelLock) SyncObjects.Delete(processId, handle);
    }

    /// <summary>WaitOnSingleObject (seed 001 §10.2): see <see cref="WaitOnMultipleObjects"/>.</summary>
    public void WaitOnSingleObject(uint processId, VidSchContext context, uint handle) =>
        WaitOnMultipleObjects(processId, context, [handle], waitAll: true);

    /// <summary>
    /// WaitOnMultipleObjects (seed 001 §10.2): inserts a wait-sync event in <paramref name="context"/>'s stream. When
    /// the coprocessor reaches it (after the context's earlier work), the scheduler takes every object
    /// (<paramref name="waitAll"/>: all at once, only when all can be taken) or the first that can be taken in the
    /// order given (wait-any), and reschedules the context; otherwise the context goes on the objects' wait lists.
    /// Work submitted after the wait stays in the context's software queue until then.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process (object or context), empty, too many or
    /// duplicate handles; nothing is changed.</exception>
    public void WaitOnMultipleObjects(uint processId, VidSchContext context, ReadOnlySpan<uint> handles, bool waitAll)
    {
        lock (KernelLock)
        {
            CheckContext(processId, context);
            QueueOperation(context, SyncObjects.NewWait(processId, handles, waitAll));
        }
    }

    /// <summary>
    /// SignalObject / ReleaseObject (seed 001 §10.2): inserts a signal-sync event — a fence followed by an interrupt —
    /// in <paramref name="context"/>'s stream. When the coprocessor reaches it (after the context's earlier work), a
    /// mutex goes to its first waiter (readied) or becomes free, a semaphore count grows by one (waiters admitted
    /// while it lasts), a notification event becomes signalled and releases every waiter. Misuse seen only then (a
    /// mutex the context does not own, a semaphore past its maximum) drops the signal and records a
    /// <see cref="SyncFault"/> on that context alone.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown handle or wrong process; nothing is changed.</exception>
    public void SignalObject(uint processId, VidSchContext context, uint handle) =>
        QueueSingle(processId, context, handle, SchedulerEventKind.SignalSync);

    /// <summary>Resets a notification event in <paramref name="context"/>'s stream (same mechanism as a signal).</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process, or not a notification event.</exception>
    public void ResetEvent(uint processId, VidSchContext context, uint handle) =>
        QueueSingle(processId, context, handle, SchedulerEventKind.ResetSync);

    /// <summary>A snapshot of an object's state.</summary>
    /// <exception cref="SyncObjectException">Unknown handle.</exception>
    public SyncObjectState QuerySynchronizationObject(uint handle)
    {
        lock (KernelLock) return SyncObjects.Query(handle);
    }

    /// <summary>A context's synchronization state: blocked behind a wait, on wait lists, work held back, faults.</summary>
    public ContextSyncInfo QueryContextSync(VidSchContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (KernelLock)
        {
            var s = context.Sync;
            if (s is null) return ContextSyncInfo.None;
            int buffers = 0;
            foreach (var item in s.Held) if (item is DmaBuffer) buffers++;
            return s.Info(s.BlockingWait is not null, buffers, s.Held.Count - buffers, s.Unwritten.Count);
        }
    }

    private void QueueSingle(uint processId, VidSchContext context, uint handle, SchedulerEventKind kind)
    {
        lock (KernelLock)
        {
            CheckContext(processId, context);
            QueueOperation(context, SyncObjects.NewSignal(processId, handle, reset: kind == SchedulerEventKind.ResetSync));
        }
    }

    private void CheckContext(uint processId, VidSchContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.ProcessId != processId || !ReferenceEquals(FindContextLocked(context.Id), context))
            throw new SyncObjectException(SyncObjectError.WrongProcess, 0, $"context {context.Id} is not process {processId}'s");
    }

    private VidSchContext? FindContextLocked(int id) => id < 0 ? null : ContextById((uint)id);

    private static ContextSyncState SyncOf(VidSchContext ctx) => ctx.Sync ??= new ContextSyncState(ctx);

    /// <summary>Places a wait/signal in the context's stream: behind held-back work, or next for its ring.</summary>
    private void QueueOperation(VidSchContext ctx, SyncOperation op)
    {
        var s = SyncOf(ctx);
        op.AfterSubmission = ctx.Submitted;
        if (s.BlockingWait is not null) s.Held.Add(op); // §10.1: everything after an unsatisfied wait is held back
        else
        {
            s.Unwritten.Enqueue(op);
            if (op.Kind == SchedulerEventKind.WaitSync) s.BlockingWait = op;
        }
        Pump();
    }

    /// <summary>
    /// Admit hook: a buffer that follows an unsatisfied wait in the context's stream stays in the software queue
    /// (§10.1). A buffer submitted before the wait (late from the flip virtual ring, §9.3) passes — the wait's fence
    /// is written only after it — and a late buffer is placed before the held waits/signals that follow it, so the
    /// software queue stays in stream order.
    /// </summary>
    private static bool SyncHoldBack(VidSchContext ctx, DmaBuffer buffer)
    {
        if (ctx.Sync is not { BlockingWait: { } wait } s || buffer.SubmissionId <= wait.AfterSubmission) return false;
        buffer.Status = DmaBufferStatus.Ready;
        int at = s.Held.Count;
        for (int i = 0; i < s.Held.Count; i++)
        {
            bool later = s.Held[i] is SyncOperation op ? op.AfterSubmission >= buffer.SubmissionId : ((DmaBuffer)s.Held[i]).SubmissionId > buffer.SubmissionId;
            if (later) { at = i; break; }
        }
        s.Held.Insert(at, buffer);
        return true;
    }

    /// <summary>TryLaunch hook: a wait/signal issued before <paramref name="b"/> must reach the ring first.</summary>
    private static bool SyncBlocksLaunch(VidSchContext ctx, DmaBuffer b) =>
        ctx.Sync is { Unwritten.Count: > 0 } s && s.Unwritten.Peek().AfterSubmission < b.SubmissionId;

    /// <summary>
    /// Writes the context's pending waits/signals whose earlier buffers are all in the ring (or failed): each a
    /// privileged FENCE of the context's scheduler fence with an interrupt (seed 001 §11), recorded in the event
    /// history at that fence value.
    /// </summary>
    private void FlushSyncOperations(VidSchContext ctx)
    {
        if (ctx.Sync is not { Unwritten.Count: > 0 } s || ctx.Resetting) return;
        Span<uint> packets = stackalloc uint[8];
        while (s.Unwritten.Count > 0)
        {
            var op = s.Unwritten.Peek();
            long after = op.AfterSubmission;
            if (after > s.LaunchedThrough && ctx.StatusOf(after) == SubmissionStatus.Pending) return;
            ulong fence = ctx.FenceIssued + 1;
            var w = new PacketWriter(packets);
            w.PrivilegedFence(ctx.Fence.Encoded, fence, interrupt: true);
            if (!TryWriteRing(ctx, w.WrittenSpan)) return; // ring full: the next pass retries
            var chunk = RentChunk();
            chunk.Fence = fence;
            if (ctx.InFlight.Count == 0) MarkProgress(ctx); // idle time before this work is no hang
            ctx.FenceIssued = fence;
            ctx.InFlight.Add(chunk);
            _inFlightCount++;
            op.Fence = fence;
            s.Unwritten.Dequeue();
            s.History.Enqueue(new HistoryEvent { Kind = op.Kind, Fence = fence, Operation = op });
            _bus.Kick();
        }
    }

    private void FlushAllSyncOperations()
    {
        foreach (var c in _contexts) FlushSyncOperations(c);
    }

    /// <summary>
    /// TryLaunch hook, after a chunk is in the ring: a buffer's last chunk records its DMA-buffer-end event (and its
    /// user-mode notification, if any) at the chunk's trailing fence (seed 001 §10.4, §11), then any wait/signal
    /// issued right after it follows it into the ring.
    /// </summary>
    private void SyncOnLaunched(VidSchContext ctx, InFlightChunk chunk)
    {
        if (!chunk.Last || chunk.Buffer is not { } b) return;
        var s = SyncOf(ctx);
        s.History.Enqueue(new HistoryEvent { Kind = SchedulerEventKind.DmaBufferEnd, Fence = chunk.Fence, Buffer = b, SubmissionId = b.SubmissionId });
        if (b.CompletionEvent is { } e)
            s.History.Enqueue(new HistoryEvent { Kind = SchedulerEventKind.UserModeNotification, Fence = chunk.Fence, SubmissionId = b.SubmissionId, Event = e });
        s.LaunchedThrough = b.SubmissionId;
        FlushSyncOperations(ctx);
    }

    /// <summary>A buffer that fails before reaching the ring (does not fit, reset): its CPU event fires, the stream moves on.</summary>
    private void SyncOnDropped(VidSchContext ctx, DmaBuffer b)
    {
        b.CompletionEvent?.Signal(Volatile.Read(ref _bus.Memory.System.Ref<ulong>(ctx.Fence.Offset)), _bus.Cycle);
        if (ctx.Sync is { } s && b.SubmissionId > s.LaunchedThrough) s.LaunchedThrough = b.SubmissionId;
    }

    /// <summary>
    /// BeginReset hook: a reset fails every DMA buffer the context submitted so far, including those held back behind
    /// a wait; its waits and signals are kept and still take effect in stream order (so a reset never loses a
    /// release that other contexts wait for).
    /// </summary>
    private void SyncOnResetBegin(VidSchContext c, SubmissionStatus reason)
    {
        if (c.Sync is not { Held.Count: > 0 } s) return;
        for (int i = 0; i < s.Held.Count;)
        {
            if (s.Held[i] is not DmaBuffer b) { i++; continue; }
            s.Held.RemoveAt(i);
            c.Finish(b.SubmissionId, reason);
            SyncOnDropped(c, b);
            b.Process.ReturnDmaBuffer(b);
        }
    }

    /// <summary>FinishResets hook: the scheduler fence jumped to the last issued value — walk the history against it.</summary>
    private void SyncOnResetFinish(VidSchContext c)
    {
        if (c.Sync is null) return;
        WalkEventHistory(c, Volatile.Read(ref _bus.Memory.System.Ref<ulong>(c.Fence.Offset)));
        FlushSyncOperations(c);
    }

    /// <summary>
    /// A satisfied wait: the context leaves the blocked state and its held-back work goes back in stream order —
    /// buffers into the ready queue, waits and signals towards its ring — up to the next wait, which blocks again
    /// (seed 001 §10.1 "inserts the held-back DMA buffers into its ring").
    /// </summary>
    /// <remarks>
    /// Called on the context's own scheduler. <paramref name="foreign"/>: another engine's scheduler processed the
    /// signal, so this one runs the rest of a scheduling pass for the released work here (preparation, engine choice,
    /// timer) — its own pass is not running.
    /// </remarks>
    private void Unblock(VidSchContext ctx, bool foreign = false)
    {
        var s = SyncOf(ctx);
        s.BlockingWait = null;
        while (s.Held.Count > 0)
        {
            var item = s.Held[0];
            s.Held.RemoveAt(0);
            if (item is DmaBuffer b)
            {
                Admit(b, ctx); // into the ready queue (round, sequence, trace event, preparation)
                continue;
            }
            var op = (SyncOperation)item;
            s.Unwritten.Enqueue(op);
            if (op.Kind == SchedulerEventKind.WaitSync)
            {
                s.BlockingWait = op;
                break;
            }
        }
        FlushSyncOperations(ctx);
        if (!foreign) return;
        StartPreparation();
        DriveEngine();
        ArmTimer();
    }
}
