using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>A context's synchronization state (see <see cref="VidSchScheduler.QueryContextSync"/>).</summary>
/// <param name="Blocked">A wait in its stream is not satisfied yet: later work is held back.</param>
/// <param name="OnWaitList">The coprocessor reached the wait and the context is on the objects' wait lists.</param>
/// <param name="HeldBackBuffers">DMA buffers in its software queue behind the wait (not in the ring).</param>
/// <param name="HeldBackOperations">Waits/signals behind the wait.</param>
/// <param name="UnwrittenOperations">Waits/signals waiting for earlier buffers to enter the ring.</param>
/// <param name="PendingHistoryEvents">Event-history entries whose fence value has not been reached.</param>
/// <param name="OwnedMutexes">Mutexes it owns.</param>
/// <param name="LastFault">The last signal misuse recorded on it.</param>
/// <param name="Faults">Signal misuses recorded on it.</param>
/// <param name="WaitAnyIndex">The index of the object the last satisfied wait-any took (−1 none).</param>
public readonly record struct ContextSyncInfo(bool Blocked, bool OnWaitList, int HeldBackBuffers, int HeldBackOperations,
    int UnwrittenOperations, int PendingHistoryEvents, int OwnedMutexes, SyncFault LastFault, int Faults, int WaitAnyIndex)
{
    /// <summary>A context that never used a synchronization object.</summary>
    public static ContextSyncInfo None { get; } = new(false, false, 0, 0, 0, 0, 0, SyncFault.None, 0, -1);
}
