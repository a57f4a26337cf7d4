namespace Coproc.Fast.Driver.VidMm.Residency;

/// <summary>
/// A machine's wait for memory in transit (ResidencyManager.InTransit.cs), handed to the kernel services that allocate
/// device memory on the caller's thread — <c>Kmd.Allocate</c>, <c>UserQueueRegistrar.Open</c>,
/// <c>RunListScheduler.CreateContext</c> — so that, when the only room is memory a recorded eviction has not finished
/// reading, they wait for that paging and try again instead of refusing (ordering, not refusal), as
/// <c>Machine.CreateContext</c> does. Set by <c>Machine</c>; without it those services refuse with the typed
/// <see cref="VidMmError.OutOfLocalMemory"/>.
/// </summary>
internal sealed class InTransitWait(Func<bool> mayWait, Func<bool> waitAndRetire)
{
    /// <summary>
    /// True when the calling thread may wait for the device: it holds no kernel lock and is none of the machine's threads
    /// (there, the paging it would wait for could not run). Ask before the call that may fail — an exception filter runs
    /// before that call's locks are released.
    /// </summary>
    public bool MayWait => mayWait();

    /// <summary>
    /// Waits until every paging operation recorded so far has executed and returns the memory it vacated to VidMm
    /// (deterministic mode runs the machine meanwhile). False, having waited for nothing, when no memory is in transit
    /// (a retry would fail the same way), or when the wait's failure guard expired.
    /// </summary>
    public bool WaitAndRetire() => waitAndRetire();
}
