using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// Edges of the order between paging channels (ResidencyManager.Order.cs): a paging buffer must start with a WAIT_FENCE
/// on every other channel's fence whose earlier, unexecuted paging touches the same allocation or memory — also when the
/// buffer is built a second time after its first destination was too small (VidSch grows its paging buffer and builds
/// again, VidSchScheduler.Prepare.cs BuildChunkPaging), and also for the seed 004 paging queue's eviction service
/// (ResidencyManager.Evict, DevicePagingQueue.Evict).
/// </summary>
public class PagingChannelOrderGapTests
{
    private static PhysicalAddress OtherChannelsFence(ResidencyRig rig) =>
        rig.Vm.PhysicalAddressOf(rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous), 0);

    [Test]
    public void GivenAForeignWaitNoted_WhenTheFirstBuildOverflowsItsDestination_ThenTheRetriedBuildStillStartsWithTheWait()
    {
        using var rig = new ResidencyRig();
        var x = rig.Rm.CreateAllocation(256 * KiB, 1);
        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.MakeResident(Refs(x), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        rig.RunPaging(ops);
        // Channel A (the rig's fence) records an eviction of x and does not run it yet.
        ops.Clear();
        Assert.That(rig.Rm.Evict(x, ops), Is.True);
        rig.SubmitPaging(ops);
        ulong aValue = rig.FenceValue + 1;

        // Channel B pages x back in: its buffer must wait for A's eviction.
        var otherFence = OtherChannelsFence(rig);
        ops.Clear();
        Assert.That(rig.Rm.MakeResident(Refs(x), 2, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.True);

        // VidSch's BuildChunkPaging: a buffer of VidSchOptions.PagingBufferDwords first, a larger one after
        // PacketBufferFullException (the wait itself fits; the operation after it does not).
        var small = new uint[PacketFormat.WaitFenceDwords + 2];
        Assert.Throws<PacketBufferFullException>(() => rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), small, otherFence, 1, out _));
        var big = new uint[rig.Rm.MeasurePagingBuffer(CollectionsMarshal.AsSpan(ops)) + 64];
        rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), big, otherFence, 1, out _);

        Assert.That(new PacketHeader(big[0]).Opcode, Is.EqualTo(Opcode.WaitFence), "the retried buffer still waits for channel A's eviction");
        Assert.That(big[3] | (ulong)big[4] << 32, Is.EqualTo(aValue));
    }

    [Test]
    public void GivenAPageInRecordedOnAnotherChannel_WhenThePagingQueueEvictsTheAllocation_ThenItsBufferWaitsForThatPageIn()
    {
        using var rig = new ResidencyRig();
        var x = rig.Rm.CreateAllocation(64 * KiB, 1);
        rig.Stamp(x, 7); // the backing store's bytes: the page-in copies them to the local home
        var ops = new List<PagingOperation>();
        // Channel A (the rig's fence) records the page-in of x and does not run it yet.
        Assert.That(rig.Rm.MakeResident(Refs(x), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        rig.SubmitPaging(ops);
        ulong aValue = rig.FenceValue + 1;

        // Channel B (the seed 004 queue's fence, another page) evicts x: its COPY reads the local home A writes.
        var otherFence = OtherChannelsFence(rig);
        ops.Clear();
        Assert.That(rig.Rm.Evict(x, ops), Is.True);
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.True, "channel A's page-in of x has not run");
        var packets = new uint[rig.Rm.MeasurePagingBuffer(CollectionsMarshal.AsSpan(ops))];
        rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), packets, otherFence, 1, out _);
        Assert.That(new PacketHeader(packets[0]).Opcode, Is.EqualTo(Opcode.WaitFence), "the eviction waits for the page-in");
        Assert.That(packets[3] | (ulong)packets[4] << 32, Is.EqualTo(aValue));
    }
}
