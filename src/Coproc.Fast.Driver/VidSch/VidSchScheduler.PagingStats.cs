using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>Paging statistics an observer reads while handling <see cref="ScheduleEventKind.PagingBuffer"/>.</summary>
public sealed partial class VidSchScheduler
{
    /// <summary>
    /// Bytes the most recent paging buffer moves (page-ins and relocations) and writes back (evictions). Read it in
    /// <see cref="IScheduleObserver.OnEvent"/> for a <see cref="ScheduleEventKind.PagingBuffer"/> event: the event's
    /// own fields carry operation and fence counts (seed 001 §11: a trace wants bytes paged per context).
    /// </summary>
    public (ulong PagedIn, ulong Evicted) LastPagingBufferBytes { get; private set; }

    /// <summary>Bytes paged in (or relocated) by every paging buffer built so far.</summary>
    public ulong TotalBytesPagedIn { get; private set; }

    /// <summary>Bytes evicted (written back) by every paging buffer built so far.</summary>
    public ulong TotalBytesEvicted { get; private set; }

    // Called under the kernel lock just before the PagingBuffer event: sums the command list by kind.
    private void CountPagingBytes(ReadOnlySpan<PagingOperation> ops)
    {
        ulong pagedIn = 0, evicted = 0;
        foreach (ref readonly var op in ops)
        {
            if (op.Kind == PagingOperationKind.Evict) evicted += op.Bytes;
            else pagedIn += op.Bytes;
        }
        LastPagingBufferBytes = (pagedIn, evicted);
        TotalBytesPagedIn += pagedIn;
        TotalBytesEvicted += evicted;
    }
}
