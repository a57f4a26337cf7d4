namespace Coproc.Fast.Driver.VidMm.Paging;

/// <summary>
/// The device paging queue's ring has no room for another operation because the device has not caught up; nothing
/// was changed. Let the device run (and deliver fence interrupts), then retry.
/// </summary>
public sealed class PagingQueueFullException(ulong lastSubmitted, ulong completed)
    : Exception($"the paging queue's ring is full: fence {completed} of {lastSubmitted} reached")
{
    /// <summary>Last paging fence value submitted.</summary>
    public ulong LastSubmitted { get; } = lastSubmitted;

    /// <summary>Paging fence value the device has reached.</summary>
    public ulong Completed { get; } = completed;
}
