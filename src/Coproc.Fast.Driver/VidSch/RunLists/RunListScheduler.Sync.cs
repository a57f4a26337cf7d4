using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Synchronization objects in the advanced model (seed 001 §10–§11, Fig. 24): the machine's one object table
// (Sync/SyncObjectTable.cs, shared with the kernel path's schedulers), so a run-list context and a direct-switching
// context of another engine synchronize through the same mutex, semaphore or event. What is the run-list back end's
// own is how an operation enters the stream: a wait, signal or reset is a kernel FENCE + interrupt in the context's
// ring after its earlier work, recorded in the context's event history at that fence; work submitted after a wait is
// held back from the ring (VaContext.Sync.cs). On each interrupt batch the history is walked against the context's
// scheduler fence (§11) — a wait takes its objects or puts the context on their wait lists (it then has no work in the
// ring and drops out of the run list); a signal changes the object and readies the waiters it admits, of any back end.
public sealed partial class RunListScheduler
{
    private SyncObjectTable? _ownObjects;
    private int _heldBackReleased; // a wait was granted since the last drain (HeldBackReleased)

    // The machine's table through the kernel path (one lock, one set of objects); a back end without one keeps its own.
    private SyncObjectTable Objects => KernelPath?.SyncObjects ?? (_ownObjects ??= new SyncObjectTable());

    /// <summary>
    /// Opt-in log of processed event-history entries of this back end's contexts, in processing order (null: no log).
    /// For tests and tools; it grows without bound while set.
    /// </summary>
    public List<SchedulerEventRecord>? EventHistoryLog { get; set; }

    /// <summary>
    /// CreateSynchronizationObject (seed 001 §10.2) for <paramref name="process"/>: a handle in the machine's one object
    /// table (the kernel path's <see cref="VidSchScheduler.CreateSynchronizationObject"/> sees it too). Mutex: created
    /// free. Semaphore: <paramref name="initialCount"/> of <paramref name="maxCount"/>. Notification event: signalled
    /// when <paramref name="initialCount"/> ≠ 0.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown kind, or a semaphore count outside 0 ≤ initial ≤ max, max ≥ 1.</exception>
    public uint CreateSynchronizationObject(VaProcess process, SyncObjectKind kind, int initialCount = 0, int maxCount = 1)
    {
        ArgumentNullException.ThrowIfNull(process);
        lock (KernelLock) return Objects.Create(process.Id, kind, initialCount, maxCount);
    }

    /// <summary>Lets process <paramref name="otherProcessId"/> (of either back end) use an object of <paramref name="process"/> (Fig. 24).</summary>
    /// <exception cref="SyncObjectException">Unknown handle, or the process may not use it.</exception>
    public void ShareSynchronizationObject(VaProcess process, uint handle, uint otherProcessId)
    {
        ArgumentNullException.ThrowIfNull(process);
        lock (KernelLock) Objects.Share(process.Id, handle, otherProcessId);
    }

    /// <summary>DeleteSynchronizationObject (seed 001 §10.2): refused while contexts wait on it, own it or name it in an operation not reached yet.</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process, or in use; nothing is changed.</exception>
    public void DeleteSynchronizationObject(VaProcess process, uint handle)
    {
        ArgumentNullException.ThrowIfNull(process);
        lock (KernelLock) Objects.Delete(process.Id, handle);
    }

    /// <summary>WaitOnSingleObject (seed 001 §10.2): see <see cref="WaitOnMultipleObjects"/>.</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process or context.</exception>
    /// <exception cref="InvalidOperationException">The ring is full.</exception>
    public VaTicket WaitOnSingleObject(VaContext context, uint handle) => WaitOnMultipleObjects(context, [handle], waitAll: true);

    /// <summary>
    /// WaitOnMultipleObjects (seed 001 §10.2): a wait in <paramref name="context"/>'s stream after its earlier work. When
    /// the coprocessor reaches it, the scheduler takes every object (<paramref name="waitAll"/>: all at once, only when
    /// all can be taken) or the first that can be taken in the order given (wait-any; <see cref="QueryContextSync"/>
    /// tells which), and the context's later work enters its ring; otherwise the context goes on the objects' wait lists.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown, duplicate, too many or no handles; wrong process or context.</exception>
    /// <exception cref="InvalidOperationException">The ring is full.</exception>
    public VaTicket WaitOnMultipleObjects(VaContext context, ReadOnlySpan<uint> handles, bool waitAll)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (KernelLock)
        {
            CheckContext(context);
            return AddSyncPoint(context, Objects.NewWait(context.Process.Id, handles, waitAll));
        }
    }

    /// <summary>
    /// SignalObject / ReleaseObject (seed 001 §10.2): takes effect once <paramref name="context"/>'s earlier work
    /// retired — a mutex goes to its first waiter or becomes free, a semaphore counts up (admitting waiters), an event
    /// releases every waiter. A mutex the context does not own or a semaphore past its maximum drops the signal and
    /// records a <see cref="SyncFault"/> on the context.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process or context.</exception>
    /// <exception cref="InvalidOperationException">The ring is full.</exception>
    public VaTicket SignalObject(VaContext context, uint handle) => AddSignal(context, handle, reset: false);

    /// <summary>Resets a notification event in <paramref name="context"/>'s stream (same mechanism as a signal).</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process or context, not a notification event.</exception>
    /// <exception cref="InvalidOperationException">The ring is full.</exception>
    public VaTicket ResetEvent(VaContext context, uint handle) => AddSignal(context, handle, reset: true);

    /// <summary>A snapshot of an object's state (the same object the kernel path's schedulers see).</summary>
    /// <exception cref="SyncObjectException">Unknown handle.</exception>
    public SyncObjectState QuerySynchronizationObject(uint handle)
    {
        lock (KernelLock) return Objects.Query(handle);
    }

    /// <summary>A context's synchronization state: blocked behind a wait, on wait lists, work held back, mutexes, faults.</summary>
    public ContextSyncInfo QueryContextSync(VaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (KernelLock)
        {
            if (context.Sync is not { } s) return ContextSyncInfo.None;
            lock (context.RingLock)
            {
                int buffers = 0;
                foreach (var h in context.HeldBack) if (h.Operation is null) buffers++;
                return s.Info(context.Blocked, buffers, context.HeldBack.Count - buffers, 0);
            }
        }
    }

    private VaTicket AddSignal(VaContext context, uint handle, bool reset)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (KernelLock)
        {
            CheckContext(context);
            return AddSyncPoint(context, Objects.NewSignal(context.Process.Id, handle, reset));
        }
    }

    // Under KernelLock; the operation already counts as pending on its objects.
    private VaTicket AddSyncPoint(VaContext context, SyncOperation op)
    {
        ulong fence;
        lock (context.RingLock)
        {
            if (!context.TryAddSyncPoint(op, Options.Privilege, out fence))
            {
                foreach (var o in op.Objects) o.PendingOperations--; // nothing entered the stream
                throw new InvalidOperationException($"{context}: ring full");
            }
        }
        Arrived(context, fence);
        // A context that already stopped for good never reaches this operation: it must not keep its objects in use.
        if (context.State == VaContextState.Error) FailCompletionEvents(context);
        return new VaTicket(context, fence);
    }

    private void CheckContext(VaContext context)
    {
        if (!_byId.TryGetValue((uint)context.Id, out var known) || !ReferenceEquals(known, context))
            throw new SyncObjectException(SyncObjectError.WrongProcess, 0, $"{context} is not one of this back end's contexts");
    }

    // A wait of one of this back end's contexts was granted (by its own walk or by a kernel-path context's signal): the
    // held-back work moves into the ring on the next pass (ProcessSyncEvents, or Poll).
    internal void HeldBackReleased()
    {
        Volatile.Write(ref _heldBackReleased, 1);
        Volatile.Write(ref _workArrived, 1);
        _bus.Kick();
    }

    // Under KernelLock, on every interrupt batch before rescheduling: walk each context's event history against its
    // scheduler fence (§11), in fence order, then move newly released work into rings.
    private void ProcessSyncEvents()
    {
        foreach (var c in _contexts)
        {
            if (c.State == VaContextState.Error || c.Sync is not { } s) continue;
            lock (c.RingLock) Objects.Walk(s, c.CompletedFence, this, Clock(), EventHistoryLog);
        }
        DrainReleased();
    }

    // Under KernelLock, when a context stopped for good (Fail): its buffers will never run, so the CPU events of the
    // ones not retired are signalled now — a CPU waiter never hangs (the ticket's HasFailed says which). The rest of
    // its stream (waits, signals) is never reached, as its fence never moves again: it leaves the objects' wait lists,
    // the mutexes it owns are abandoned to their next waiters, and its unreached operations stop counting as pending
    // (SyncObjectTable.Abandon) — so a faulting process never wedges another process waiting on a shared mutex.
    private void FailCompletionEvents(VaContext ctx)
    {
        if (ctx.Sync is not { } s) return;
        ulong done = ctx.CompletedFence, cycle = Clock();
        var unreached = new List<SyncOperation>();
        lock (ctx.RingLock)
        {
            Objects.Walk(s, done, this, cycle, EventHistoryLog); // what did retire is processed in order first
            for (int n = s.History.Count; n > 0; n--)
            {
                var e = s.History.Dequeue();
                if (e.Kind == SchedulerEventKind.UserModeNotification) e.Event!.Signal(done, cycle);
                else if (e.Operation is { } op) unreached.Add(op);
                else s.History.Enqueue(e);
            }
            for (int n = ctx.HeldBack.Count; n > 0; n--)
            {
                var h = ctx.HeldBack.Dequeue();
                h.Completion?.Signal(done, cycle);
                if (h.Operation is { } op) unreached.Add(op);
                else ctx.HeldBack.Enqueue(h with { Completion = null });
            }
        }
        Objects.Abandon(s, unreached, this);
    }

    // Under KernelLock: moves released work into the rings (entries it inserts have fences the device has not reached
    // yet; an entry that does not fit waits for the next interrupt, i.e. for the device to free ring space).
    private void DrainReleased()
    {
        Volatile.Write(ref _heldBackReleased, 0);
        foreach (var c in _contexts)
            if (c.State != VaContextState.Error && c.DrainHeldBack(Options.Privilege)) Volatile.Write(ref _workArrived, 1);
    }
}
