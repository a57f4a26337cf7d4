namespace Coproc.Fast.Driver.VidSch.Sync;

/// <summary>
/// What the synchronization objects and the event history know of a context, whichever engine back end runs it
/// (direct switching: <c>ContextSyncState</c>; run lists: <c>VaSyncState</c>): its id, its event history (seed 001
/// §11: the per-context array of event structures in fence order), the mutexes it owns, the wait it is listed on, and
/// the signal misuses recorded on it. How a wait holds back the context's later work and how it is released again is
/// the back end's (<see cref="Readied"/>); the objects and the §10.3 algorithm are one (<see cref="SyncObjectTable"/>).
/// </summary>
internal abstract class SyncParty
{
    protected SyncParty(int contextId) => ContextId = contextId;

    /// <summary>The context's id (unique across back ends: run-list ids start at <c>RunListOptions.FirstContextId</c>).</summary>
    public int ContextId { get; }

    /// <summary>The event history: every event of the context's stream the scheduler must process, in fence order.</summary>
    public readonly Queue<HistoryEvent> History = new();

    /// <summary>Mutexes the context owns.</summary>
    public readonly List<SyncObject> Owned = new();

    /// <summary>On wait lists: the wait was reached and not satisfied (null otherwise).</summary>
    public SyncWaiter? Waiting;

    /// <summary>The index of the object the last satisfied wait-any took (−1 none).</summary>
    public int LastSatisfiedBy = -1;

    /// <summary>The last signal misuse recorded on the context.</summary>
    public SyncFault LastFault;

    /// <summary>Signal misuses recorded on the context.</summary>
    public int Faults;

    /// <summary>
    /// A wait of this context completed (its objects are taken): the context leaves the blocked state and its
    /// held-back work goes towards its ring (seed 001 §10.1). <paramref name="processor"/> is the back end that
    /// processed the event — this context's own, or another one whose context's signal woke it.
    /// </summary>
    public abstract void Readied(uint handle, object processor);

    /// <summary>The context's wait was reached and not satisfied: it is on the objects' wait lists now.</summary>
    public abstract void WaitListed(uint handle);

    /// <summary>§11 "DMA buffer end": the buffer of <paramref name="e"/> returns to its process's pool.</summary>
    public abstract SchedulerEventOutcome BufferEnd(in HistoryEvent e);

    /// <summary>The context's synchronization state for <c>QueryContextSync</c>.</summary>
    public ContextSyncInfo Info(bool blocked, int heldBuffers, int heldOperations, int unwritten) =>
        new(blocked, Waiting is not null, heldBuffers, heldOperations, unwritten, History.Count, Owned.Count, LastFault, Faults, LastSatisfiedBy);
}
