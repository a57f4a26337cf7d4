namespace Coproc.Fast.Driver.VidSch.Sync;

/// <summary>The high-level synchronization primitives the scheduler builds (seed 001 §10.3).</summary>
public enum SyncObjectKind : byte
{
    /// <summary>One coprocessor context at a time owns it; a release hands it to the first waiter (§10.3).</summary>
    Mutex = 1,
    /// <summary>Up to its count of contexts hold it at once; a release adds one (bounded by the maximum).</summary>
    Semaphore,
    /// <summary>A signal releases every waiter and the event stays signalled until reset.</summary>
    NotificationEvent,
}

/// <summary>A snapshot of one object's state (for tools and tests).</summary>
/// <param name="Kind">Its kind.</param>
/// <param name="OwnerContextId">Mutex owner (−1 free or not a mutex).</param>
/// <param name="Count">Semaphore count (mutex: 1 free / 0 taken; event: 1 signalled / 0 not).</param>
/// <param name="MaxCount">Semaphore maximum (1 otherwise).</param>
/// <param name="Waiters">Contexts on its wait list.</param>
/// <param name="PendingOperations">Waits and signals naming it that the coprocessor has not reached yet.</param>
public readonly record struct SyncObjectState(SyncObjectKind Kind, int OwnerContextId, int Count, int MaxCount, int Waiters, int PendingOperations);
