using Coproc.Fast.Driver.Sync;

namespace Coproc.Fast.Driver.VidSch.Sync;

/// <summary>
/// The synchronization objects of one machine and what happens when the coprocessor reaches a wait or a signal (seed
/// 001 §10–§11, Fig. 24, Fig. 25): one table for every engine back end, so that contexts of different engines and of
/// different back ends (direct switching, run lists) synchronize through the same objects.
/// </summary>
/// <remarks>
/// Design: the back ends differ only in how a wait or a signal becomes part of a context's stream (a privileged FENCE
/// with an interrupt after the context's earlier work, later work held back — VidSchScheduler.Sync.cs,
/// RunLists/VaContext.Sync.cs) and how held-back work is released; they record each operation in the context's event
/// history (<see cref="SyncParty.History"/>) at its fence value and call <see cref="Walk"/> with the fence value they
/// read from memory. Everything else — handles, process access, the §10.3 algorithm, wait-all and wait-any, signal
/// misuse, the history walk and its log — is here, once. Invariants: an object's state changes only in
/// <see cref="Walk"/>, i.e. when the coprocessor has reached the operation's fence; a wait list is FIFO; every
/// waiter is on the wait list of each of its objects, and of none once readied. Callers hold the kernel lock.
/// </remarks>
internal sealed class SyncObjectTable
{
    /// <summary>Most objects one wait may name.</summary>
    public const int MaxWaitObjects = 64;

    private readonly Dictionary<uint, SyncObject> _objects = new();
    private readonly List<int> _woken = new();
    private uint _lastHandle;

    /// <summary>Creates an object owned by <paramref name="processId"/> (seed 001 §10.2); returns its handle.</summary>
    /// <exception cref="SyncObjectException">Unknown kind, or a semaphore with max &lt; 1 or initial outside 0…max.</exception>
    public uint Create(uint processId, SyncObjectKind kind, int initialCount, int maxCount)
    {
        if (kind is < SyncObjectKind.Mutex or > SyncObjectKind.NotificationEvent)
            throw new SyncObjectException(SyncObjectError.InvalidArgument, 0, $"unknown object kind {(int)kind}");
        if (kind == SyncObjectKind.Semaphore && (maxCount < 1 || initialCount < 0 || initialCount > maxCount))
            throw new SyncObjectException(SyncObjectError.InvalidArgument, 0, $"semaphore count {initialCount} of {maxCount}: need 0 ≤ initial ≤ max, max ≥ 1");
        uint handle = ++_lastHandle;
        _objects.Add(handle, kind switch
        {
            SyncObjectKind.Mutex => new SyncObject(handle, processId, kind, 0, 1),
            SyncObjectKind.Semaphore => new SyncObject(handle, processId, kind, initialCount, maxCount),
            _ => new SyncObject(handle, processId, kind, initialCount != 0 ? 1 : 0, 1),
        });
        return handle;
    }

    /// <summary>Lets <paramref name="otherProcessId"/> use an object <paramref name="processId"/> may use (Fig. 24).</summary>
    public void Share(uint processId, uint handle, uint otherProcessId) => Lookup(processId, handle).Processes.Add(otherProcessId);

    /// <summary>Deletes an object nobody waits on, owns or names in an operation not reached yet.</summary>
    public void Delete(uint processId, uint handle)
    {
        var o = Lookup(processId, handle);
        if (o.Waiters.Count > 0 || o.PendingOperations > 0 || o.Owner is not null)
            throw new SyncObjectException(SyncObjectError.InUse, handle,
                $"{o.Waiters.Count} waiter(s), {o.PendingOperations} pending operation(s), owner {(o.Owner is null ? "none" : o.Owner.ContextId.ToString(System.Globalization.CultureInfo.InvariantCulture))}");
        _objects.Remove(handle);
    }

    /// <summary>A snapshot of an object's state.</summary>
    public SyncObjectState Query(uint handle) =>
        _objects.TryGetValue(handle, out var o) ? o.Snapshot() : throw new SyncObjectException(SyncObjectError.UnknownHandle, handle, "no such object");

    /// <summary>
    /// A wait on <paramref name="handles"/> (wait-all or wait-any) for a context of <paramref name="processId"/>; the
    /// caller places it in the context's stream. Its objects count it as pending until <see cref="Walk"/> reaches it.
    /// </summary>
    /// <exception cref="SyncObjectException">Empty, too many or duplicate handles, unknown handle or wrong process.</exception>
    public SyncOperation NewWait(uint processId, ReadOnlySpan<uint> handles, bool waitAll)
    {
        if (handles.Length is 0 or > MaxWaitObjects)
            throw new SyncObjectException(SyncObjectError.InvalidArgument, 0, $"{handles.Length} objects: a wait names 1 … {MaxWaitObjects}");
        var objects = new SyncObject[handles.Length];
        for (int i = 0; i < handles.Length; i++)
        {
            objects[i] = Lookup(processId, handles[i]);
            for (int j = 0; j < i; j++)
                if (handles[j] == handles[i]) throw new SyncObjectException(SyncObjectError.InvalidArgument, handles[i], "named twice in one wait");
        }
        foreach (var o in objects) o.PendingOperations++;
        return new SyncOperation { Kind = SchedulerEventKind.WaitSync, Objects = objects, WaitAll = waitAll };
    }

    /// <summary>A signal (release) or, with <paramref name="reset"/>, an event reset; see <see cref="NewWait"/>.</summary>
    /// <exception cref="SyncObjectException">Unknown handle, wrong process, or a reset of something not an event.</exception>
    public SyncOperation NewSignal(uint processId, uint handle, bool reset)
    {
        var o = Lookup(processId, handle);
        if (reset && o.Kind != SyncObjectKind.NotificationEvent)
            throw new SyncObjectException(SyncObjectError.WrongKind, handle, $"only a notification event is reset; this is a {o.Kind}");
        o.PendingOperations++;
        return new SyncOperation { Kind = reset ? SchedulerEventKind.ResetSync : SchedulerEventKind.SignalSync, Objects = [o] };
    }

    private SyncObject Lookup(uint processId, uint handle)
    {
        if (!_objects.TryGetValue(handle, out var o)) throw new SyncObjectException(SyncObjectError.UnknownHandle, handle, "no such object");
        if (!o.Processes.Contains(processId)) throw new SyncObjectException(SyncObjectError.WrongProcess, handle, $"process {processId} may not use it");
        return o;
    }

    /// <summary>
    /// Processes, in order, every event of <paramref name="party"/>'s history whose fence value <paramref name="done"/>
    /// (read from the context's scheduler fence in memory) reached (seed 001 §11: interrupts coalesce, so the walk —
    /// not the interrupt — says which events happened). <paramref name="processor"/> is the calling back end.
    /// </summary>
    public void Walk(SyncParty party, ulong done, object processor, ulong cycle, List<SchedulerEventRecord>? log)
    {
        while (party.History.Count > 0 && FenceValue.IsReached(done, party.History.Peek().Fence))
        {
            var e = party.History.Dequeue();
            _woken.Clear();
            var outcome = e.Kind switch
            {
                SchedulerEventKind.DmaBufferEnd => party.BufferEnd(e),
                SchedulerEventKind.UserModeNotification => Notify(e, done, cycle),
                SchedulerEventKind.WaitSync => ReachWait(party, e.Operation!, processor),
                _ => ReachSignal(party, e.Operation!, processor),
            };
            log?.Add(new SchedulerEventRecord(cycle, party.ContextId, e.Kind, e.Fence, done, e.SubmissionId,
                e.Operation?.Objects[0].Handle ?? 0, outcome, _woken.ToArray()));
        }
    }

    /// <summary>
    /// <paramref name="party"/>'s context stopped for good (its stream will never run again): it leaves every wait list,
    /// each mutex it owns is abandoned — handed to the next waiter that can take it, or freed — and the operations of
    /// its stream that were never reached (<paramref name="unreached"/>) no longer count as pending on their objects.
    /// Invariant: a context that stops for good never keeps another context waiting on a mutex it held, and leaves no
    /// object "in use" (seed 001 §10.3; containment: one process's fault never wedges another's work).
    /// Returns the mutexes abandoned.
    /// </summary>
    public int Abandon(SyncParty party, IEnumerable<SyncOperation> unreached, object processor)
    {
        foreach (var op in unreached)
            foreach (var o in op.Objects) o.PendingOperations--;
        if (party.Waiting is { } w)
        {
            foreach (var o in w.Objects) o.Waiters.Remove(w);
            party.Waiting = null;
        }
        int abandoned = 0;
        while (party.Owned.Count > 0)
        {
            var o = party.Owned[^1];
            party.Owned.RemoveAt(party.Owned.Count - 1);
            if (!ReferenceEquals(o.Owner, party)) continue;
            o.Owner = null;
            abandoned++;
            _woken.Clear();
            WakeWaiters(o, processor);
        }
        return abandoned;
    }

    /// <summary>§10.4: the user-mode notification after the buffer's trailing fence signals the CPU event.</summary>
    private static SchedulerEventOutcome Notify(in HistoryEvent e, ulong done, ulong cycle)
    {
        e.Event!.Signal(done, cycle);
        return SchedulerEventOutcome.Notified;
    }

    /// <summary>
    /// §11 "Wait sync" / §10.3 "on wait": the context's earlier work retired; take the object(s) and reschedule it,
    /// or put it on the wait list(s).
    /// </summary>
    private SchedulerEventOutcome ReachWait(SyncParty party, SyncOperation op, object processor)
    {
        foreach (var o in op.Objects) o.PendingOperations--;
        var w = new SyncWaiter(party, op.Objects, op.WaitAll);
        if (w.CanComplete())
        {
            Ready(w, op.Objects[0].Handle, processor);
            return SchedulerEventOutcome.Acquired;
        }
        foreach (var o in op.Objects) o.Waiters.Add(w);
        party.Waiting = w;
        party.WaitListed(op.Objects[0].Handle);
        return SchedulerEventOutcome.WaitListed;
    }

    /// <summary>§11 "Signal sync" / §10.3 "on signal": change the object's state, waking waiters it now admits.</summary>
    private SchedulerEventOutcome ReachSignal(SyncParty party, SyncOperation op, object processor)
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
                if (!ReferenceEquals(o.Owner, party)) return Fault(party, SyncFault.MutexNotOwned);
                o.Owner = null;
                party.Owned.Remove(o);
                break;
            case SyncObjectKind.Semaphore:
                if (o.Count >= o.MaxCount) return Fault(party, SyncFault.SemaphoreOverflow);
                o.Count++;
                break;
            default:
                o.Count = 1; // stays signalled until reset
                break;
        }
        WakeWaiters(o, processor);
        return SchedulerEventOutcome.Signalled;
    }

    private static SchedulerEventOutcome Fault(SyncParty party, SyncFault fault)
    {
        party.LastFault = fault;
        party.Faults++;
        return SchedulerEventOutcome.Faulted;
    }

    /// <summary>
    /// Readies the waiters of <paramref name="o"/> it now admits, first come first served: a freed mutex goes to the
    /// first waiter that can complete (§10.3 handoff), a semaphore admits while its count lasts, an event admits all.
    /// </summary>
    private void WakeWaiters(SyncObject o, object processor)
    {
        int i = 0;
        while (i < o.Waiters.Count)
        {
            var w = o.Waiters[i];
            if (!w.CanComplete()) { i++; continue; }
            foreach (var other in w.Objects) other.Waiters.Remove(w);
            Ready(w, o.Handle, processor);
        }
    }

    private void Ready(SyncWaiter w, uint handle, object processor)
    {
        w.Complete();
        var party = w.Party;
        party.Waiting = null;
        party.LastSatisfiedBy = w.SatisfiedBy;
        _woken.Add(party.ContextId);
        party.Readied(handle, processor);
    }
}
