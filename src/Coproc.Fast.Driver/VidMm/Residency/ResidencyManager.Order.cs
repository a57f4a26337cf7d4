using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Driver.VidMm.Residency;

// Order between paging channels. Within one channel, paging buffers run in the order VidMm recorded them (one ring). A
// Machine has one channel for every model and back end — its seed 004 device paging queue (Machine.Paging) — so there
// these waits are never written; several channels over one residency manager (two DevicePagingQueues, or a caller that
// runs paging buffers of its own beside a queue) share local memory, and nothing in their rings orders one after the
// other.
//
// Invariant: a paging buffer runs after every earlier-recorded paging operation, on any channel, that touches the same
// memory — the allocation it moves (its last paging's tag, _m[s].PagingFence/PagingValue), or local memory in transit it
// places into (the range's tag, InTransit.cs). A plan notes each such tag whose fence has not passed; the next paging
// buffer built starts with a WAIT_FENCE on each noted fence of another channel (a channel is identified by its fence's
// page: one ring per fence page). A request whose
// allocations are all resident but still being paged by another channel (a relocation, say) returns
// PagingRequired-free but HasForeignPagingWaits: its caller builds a paging buffer of waits alone and makes its work wait
// for that buffer's fence. Waits only point at buffers built earlier, so no cycle can form.
public sealed partial class ResidencyManager
{
    private readonly List<(PhysicalAddress Fence, ulong Value)> _waits = new(4);

    /// <summary>
    /// True when the allocations of the last requests (since the last <see cref="BuildPagingBuffer"/>) are still being
    /// paged by another paging channel than the one whose fence is <paramref name="ownFence"/> (a fence on another page):
    /// the caller must build a paging buffer — of waits alone when there is no operation — and order its work after it.
    /// </summary>
    public bool HasForeignPagingWaits(PhysicalAddress ownFence)
    {
        foreach (var (fence, value) in _waits)
            if (!SameChannel(fence, ownFence) && !Passed(fence, value)) return true;
        return false;
    }

    // The allocation in slot s is about to be moved again (or used where it is): order after its last paging.
    private void NotePriorPaging(int s)
    {
        ref var m = ref _m[s];
        if (m.PagingValue != 0 && m.PagingValue != ulong.MaxValue) NoteWait(m.PagingFence, m.PagingValue);
    }

    private void NoteWait(PhysicalAddress fence, ulong value)
    {
        if (value == 0 || Passed(fence, value)) return;
        for (int i = 0; i < _waits.Count; i++)
        {
            if (_waits[i].Fence != fence) continue;
            if ((long)(value - _waits[i].Value) > 0) _waits[i] = (fence, value);
            return;
        }
        _waits.Add((fence, value));
    }

    private static bool SameChannel(PhysicalAddress a, PhysicalAddress b) =>
        a.Location == b.Location && (a.Offset >> 12) == (b.Offset >> 12);

    private int ForeignWaitDwords => _waits.Count * PacketFormat.WaitFenceDwords;

    // BuildPagingBuffer: the noted waits of other channels (the same channel is ordered already). They are forgotten only
    // once the buffer is built (ForgetWaits): a build that throws for want of room is retried with a larger buffer, and
    // the retry must carry them too.
    private void WriteForeignWaits(ref PacketWriter w, PhysicalAddress ownFence)
    {
        foreach (var (fence, value) in _waits)
            if (!SameChannel(fence, ownFence) && !Passed(fence, value)) w.WaitFence(View.VaOf(fence), value);
    }

    private void ForgetWaits() => _waits.Clear();

    /// <summary>
    /// The paging-fence value of the last built paging buffer that moves <paramref name="handle"/> while the device has
    /// not reached it, else 0 (not managed, never moved, executed). A DMA buffer that uses the allocation waits for it
    /// (VidSch's chunks, VidSchScheduler.Prepare.cs SetPagingWaits).
    /// </summary>
    internal ulong PendingPagingValue(AllocationHandle handle)
    {
        if (!IsManaged(handle)) return 0;
        ref var m = ref _m[handle.Index];
        return m.PagingValue is 0 or ulong.MaxValue || Passed(m.PagingFence, m.PagingValue) ? 0 : m.PagingValue;
    }
}
