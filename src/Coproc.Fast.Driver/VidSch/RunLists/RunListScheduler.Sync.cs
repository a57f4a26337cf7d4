using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Synchronization objects in the advanced model (seed 001 §10–§11, Fig. 24), the way the seed describes them: a wait
// or a signal becomes a kernel FENCE + interrupt in the context's ring after its earlier work; work submitted after a
// wait is held back from the ring; when the coprocessor reaches the fence, the context's event history is walked
// (§11) and the §10.3 algorithm runs — a wait takes the object or puts the context on its wait list (it then has no
// work in the ring and drops out of the run list); a signal hands a mutex to the first waiter, wakes one semaphore
// waiter (or counts up) and releases every event waiter.
public sealed partial class RunListScheduler
{
    private readonly Dictionary<uint, VaSyncObject> _syncObjects = new();
    private uint _nextSyncHandle;

    /// <summary>
    /// CreateSynchronizationObject (seed 001 §10.2). Mutex: created free. Semaphore: <paramref name="initialCount"/>
    /// of <paramref name="maxCount"/>. Notification event: signalled when <paramref name="initialCount"/> ≠ 0.
    /// </summary>
    /// <exception cref="SyncObjectException">Unknown kind, or a semaphore count outside 0 ≤ initial ≤ max, max ≥ 1.</exception>
    public VaSyncObject CreateSynchronizationObject(SyncObjectKind kind, int initialCount = 0, int maxCount = 1)
    {
        if (kind is < SyncObjectKind.Mutex or > SyncObjectKind.NotificationEvent)
            throw new SyncObjectException(SyncObjectError.InvalidArgument, 0, $"unknown object kind {(int)kind}");
        if (kind == SyncObjectKind.Semaphore && (maxCount < 1 || initialCount < 0 || initialCount > maxCount))
            throw new SyncObjectException(SyncObjectError.InvalidArgument, 0, $"semaphore count {initialCount} of {maxCount}");
        lock (KernelLock)
        {
            var o = new VaSyncObject(++_nextSyncHandle, kind,
                kind == SyncObjectKind.Semaphore ? initialCount : kind == SyncObjectKind.NotificationEvent && initialCount != 0 ? 1 : 0,
                kind == SyncObjectKind.Semaphore ? maxCount : 1);
            _syncObjects.Add(o.Handle, o);
            return o;
        }
    }

    /// <summary>DeleteSynchronizationObject (seed 001 §10.2): refused while contexts wait on it or own it.</summary>
    /// <exception cref="SyncObjectException">Unknown object, or in use.</exception>
    public void DeleteSynchronizationObject(VaSyncObject o)
    {
        ArgumentNullException.ThrowIfNull(o);
        lock (KernelLock)
        {
            Check(o);
            if (o.Waiters.Count != 0 || o.Owner is not null || _contexts.Any(c => c.SyncEvents.Any(e => e.Object == o) || HeldNames(c, o)))
                throw new SyncObjectException(SyncObjectError.InUse, o.Handle, $"object {o.Handle} has waiters, an owner or queued operations");
            o.Deleted = true;
            _syncObjects.Remove(o.Handle);
        }
    }

    /// <summary>WaitOnSingleObject (seed 001 §10.2): queued in <paramref name="context"/>'s stream after its earlier work.</summary>
    /// <exception cref="SyncObjectException">Unknown or deleted object.</exception>
    /// <exception cref="InvalidOperationException">The ring is full.</exception>
    public VaTicket WaitOnSingleObject(VaContext context, VaSyncObject o) => AddSyncPoint(context, o, HeldKind.Wait);

    /// <summary>SignalObject (seed 001 §10.2): takes effect once <paramref name="context"/>'s earlier work retired.</summary>
    /// <exception cref="SyncObjectException">Unknown or deleted object.</exception>
    /// <exception cref="InvalidOperationException">The ring is full.</exception>
    public VaTicket SignalObject(VaContext context, VaSyncObject o) => AddSyncPoint(context, o, HeldKind.Signal);

    /// <summary>ResetEvent for a notification event: takes effect at once (no stream position needed).</summary>
    public void ResetEvent(VaSyncObject o)
    {
        ArgumentNullException.ThrowIfNull(o);
        lock (KernelLock)
        {
            Check(o);
            if (o.Kind != SyncObjectKind.NotificationEvent) throw new SyncObjectException(SyncObjectError.WrongKind, o.Handle, "only an event can be reset");
            o.Count = 0;
        }
    }

    private VaTicket AddSyncPoint(VaContext context, VaSyncObject o, HeldKind kind)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(o);
        ulong fence;
        lock (KernelLock)
        {
            Check(o);
            lock (context.RingLock)
            {
                if (!context.TryAddSyncPoint(kind, o, Options.Privilege, out fence, out bool inserted))
                    throw new InvalidOperationException($"{context}: ring full");
                if (inserted) context.SyncEvents.Enqueue((fence, kind, o));
            }
        }
        Arrived(context, fence);
        return new VaTicket(context, fence);
    }

    private void Check(VaSyncObject o)
    {
        if (o.Deleted || !_syncObjects.TryGetValue(o.Handle, out var known) || known != o)
            throw new SyncObjectException(SyncObjectError.UnknownHandle, o.Handle, $"object {o.Handle} is not one of this scheduler's");
    }

    private static bool HeldNames(VaContext c, VaSyncObject o)
    {
        lock (c.RingLock) return c.HeldBack.Any(h => h.Object == o);
    }

    // Under KernelLock, on every interrupt batch before rescheduling: walk each context's event history against its
    // scheduler fence (§11), in fence order, then move newly released work into rings.
    private void ProcessSyncEvents()
    {
        foreach (var c in _contexts)
        {
            if (c.State == VaContextState.Error) continue;
            ulong done = c.CompletedFence;
            while (c.SyncEvents.TryPeek(out var e) && e.Fence <= done)
            {
                c.SyncEvents.Dequeue();
                if (e.Kind == HeldKind.Wait) OnWaitReached(c, e.Object);
                else OnSignalReached(e.Object);
            }
        }
        // Then move released work into the rings (entries it inserts have fences the device has not reached yet; an
        // entry that does not fit waits for the next interrupt, i.e. for the device to free ring space).
        foreach (var c in _contexts)
            if (c.State != VaContextState.Error && c.DrainHeldBack(Options.Privilege)) Volatile.Write(ref _workArrived, 1);
    }

    private static void OnWaitReached(VaContext c, VaSyncObject o)
    {
        if (o.CanAcquire) { o.Acquire(c); Unblock(c); }
        else o.Waiters.Add(c); // §10.3: the context moves to the object's wait list; nothing of it is in the ring
    }

    private static void OnSignalReached(VaSyncObject o)
    {
        switch (o.Kind)
        {
            case SyncObjectKind.Mutex:
                // §10.3: with waiters, ownership goes to the first one and it is readied; otherwise the mutex is freed.
                o.Owner = null;
                if (o.Waiters.Count != 0) { var next = o.Waiters[0]; o.Waiters.RemoveAt(0); o.Owner = next; Unblock(next); }
                break;
            case SyncObjectKind.Semaphore:
                if (o.Waiters.Count != 0) { var next = o.Waiters[0]; o.Waiters.RemoveAt(0); Unblock(next); }
                else if (o.Count < o.MaxCount) o.Count++; // a release past the maximum is dropped
                break;
            default:
                o.Count = 1;
                foreach (var w in o.Waiters) Unblock(w);
                o.Waiters.Clear();
                break;
        }
    }

    private static void Unblock(VaContext c)
    {
        lock (c.RingLock) c.Blocked = false;
    }
}
