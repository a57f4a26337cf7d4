using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// A synchronization object of the advanced model (seed 001 §10): a mutex, a semaphore or a notification event, with
/// a FIFO wait list (§10.3 "the first waiter"). Created and used through <see cref="RunListScheduler"/>; its state
/// changes only when the coprocessor reaches the wait or signal in a context's stream (the scheduler fence).
/// </summary>
public sealed class VaSyncObject
{
    internal VaSyncObject(uint handle, SyncObjectKind kind, int count, int max)
    {
        Handle = handle;
        Kind = kind;
        Count = count;
        MaxCount = max;
    }

    /// <summary>Handle (unique per scheduler).</summary>
    public uint Handle { get; }

    /// <summary>Mutex, semaphore or notification event.</summary>
    public SyncObjectKind Kind { get; }

    internal VaContext? Owner;  // mutex: the context holding it
    internal int Count;               // semaphore: available; event: 1 signalled, 0 not
    internal readonly int MaxCount;
    internal readonly List<VaContext> Waiters = new();
    internal bool Deleted;

    /// <summary>Mutex: the owning context's id (0 = free). Other kinds: 0.</summary>
    public uint OwnerId => Owner?.Id ?? 0;

    /// <summary>Semaphore: available count; event: 1 when signalled; mutex: 1 when free.</summary>
    public int Available => Kind == SyncObjectKind.Mutex ? (Owner is null ? 1 : 0) : Count;

    /// <summary>Contexts on the wait list.</summary>
    public int WaiterCount => Waiters.Count;

    internal bool CanAcquire => Kind switch
    {
        SyncObjectKind.Mutex => Owner is null,
        SyncObjectKind.Semaphore => Count > 0,
        _ => Count != 0,
    };

    internal void Acquire(VaContext ctx)
    {
        if (Kind == SyncObjectKind.Mutex) Owner = ctx;
        else if (Kind == SyncObjectKind.Semaphore) Count--;
    }
}
