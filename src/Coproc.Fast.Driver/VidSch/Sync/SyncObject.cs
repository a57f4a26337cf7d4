namespace Coproc.Fast.Driver.VidSch.Sync;

/// <summary>
/// The kernel tracking structure of one synchronization object (seed 001 §10.2 "CreateSynchronizationObject"): its
/// kind and state, the processes that may name it, its wait list (FIFO, §10.3 "the first waiter"), and how many
/// stream operations naming it the coprocessor has not reached yet. One type for every back end: its owner and
/// waiters are contexts of any back end (<see cref="SyncParty"/>), so one object synchronizes a direct-switching
/// context with a run-list context. Only the schedulers touch it, under the machine's kernel lock.
/// </summary>
internal sealed class SyncObject
{
    public SyncObject(uint handle, uint creator, SyncObjectKind kind, int initial, int max)
    {
        Handle = handle;
        Kind = kind;
        Count = initial;
        MaxCount = max;
        Processes.Add(creator);
    }

    public uint Handle { get; }
    public SyncObjectKind Kind { get; }

    // Mutex: owner (null = not taken). Semaphore: available count. Event: 1 signalled, 0 not.
    public SyncParty? Owner;
    public int Count;
    public int MaxCount;

    public readonly HashSet<uint> Processes = new();
    public readonly List<SyncWaiter> Waiters = new();
    public int PendingOperations;

    /// <summary>True when the object can be taken now (§10.3 "if not taken").</summary>
    /// <remarks>
    /// Not recursive: a context waiting on a mutex it owns waits until it is handed back to it (never, unless the
    /// owner releases it first) — the seed's algorithm knows only "taken" and "not taken".
    /// </remarks>
    public bool CanAcquire => Kind switch
    {
        SyncObjectKind.Mutex => Owner is null,
        SyncObjectKind.Semaphore => Count > 0,
        _ => Count != 0,
    };

    /// <summary>Takes the object for <paramref name="party"/> (mutex: owner; semaphore: one count; event: nothing).</summary>
    public void Acquire(SyncParty party)
    {
        switch (Kind)
        {
            case SyncObjectKind.Mutex:
                Owner = party;
                party.Owned.Add(this);
                break;
            case SyncObjectKind.Semaphore:
                Count--;
                break;
        }
    }

    public SyncObjectState Snapshot() => new(Kind, Owner?.ContextId ?? -1,
        Kind == SyncObjectKind.Mutex ? (Owner is null ? 1 : 0) : Count, MaxCount, Waiters.Count, PendingOperations);
}

/// <summary>
/// A context on one or more objects' wait lists (seed 001 §10.1): the objects of its wait and whether it needs all of
/// them at once (wait-all) or the first that can be taken (wait-any).
/// </summary>
internal sealed class SyncWaiter
{
    public SyncWaiter(SyncParty party, SyncObject[] objects, bool waitAll)
    {
        Party = party;
        Objects = objects;
        WaitAll = waitAll;
    }

    public SyncParty Party { get; }
    public SyncObject[] Objects { get; }
    public bool WaitAll { get; }

    /// <summary>Index of the object a wait-any took (−1 before, or for wait-all).</summary>
    public int SatisfiedBy = -1;

    /// <summary>True when the wait can complete now.</summary>
    public bool CanComplete()
    {
        if (WaitAll)
        {
            foreach (var o in Objects) if (!o.CanAcquire) return false;
            return true;
        }
        foreach (var o in Objects) if (o.CanAcquire) return true;
        return false;
    }

    /// <summary>Takes every object (wait-all) or the first that can be taken, in the order given (wait-any).</summary>
    public void Complete()
    {
        for (int i = 0; i < Objects.Length; i++)
        {
            if (!Objects[i].CanAcquire) continue;
            Objects[i].Acquire(Party);
            if (!WaitAll) { SatisfiedBy = i; return; }
        }
    }
}
