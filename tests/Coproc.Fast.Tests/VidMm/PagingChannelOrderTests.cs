using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// Two paging channels over one residency manager (a machine has one, its device paging queue; two seed 004 queues, or a
/// caller building its own paging buffers beside a queue, over one ResidencyManager make two): a paging buffer of one
/// channel starts with a WAIT_FENCE on the other channel's fence when that channel's earlier, unexecuted paging moved the
/// same allocation (ResidencyManager.Order.cs) — also when the buffer is built a second time after its first
/// destination was too small (the caller grows it), and also for the queue's eviction service (ResidencyManager.Evict);
/// within one channel no wait is written.
/// </summary>
public class PagingChannelOrderTests
{
    private static PhysicalAddress OtherChannelsFence(ResidencyRig rig) =>
        rig.Vm.PhysicalAddressOf(rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous), 0);

    // x resident, then channel A (the rig's fence) records its eviction without running it; returns A's fence value.
    private static ulong EvictionRecordedOnChannelA(ResidencyRig rig, AllocationHandle x, List<PagingOperation> ops)
    {
        Assert.That(rig.Rm.MakeResident(Refs(x), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        rig.RunPaging(ops);
        ops.Clear();
        Assert.That(rig.Rm.Evict(x, ops), Is.True);
        rig.SubmitPaging(ops);
        ops.Clear();
        return rig.FenceValue + 1;
    }

    private static ulong WaitedValue(uint[] packets) => packets[3] | (ulong)packets[4] << 32;

    [Test]
    public void GivenAnEvictionRecordedOnOneChannel_WhenAnotherChannelPagesTheAllocationBackIn_ThenItsBufferWaitsForTheFirstChannelsFence()
    {
        using var rig = new ResidencyRig();
        var x = rig.Rm.CreateAllocation(64 * KiB, 1);
        var ops = new List<PagingOperation>();
        ulong aValue = EvictionRecordedOnChannelA(rig, x, ops);

        // Channel B (a fence on another page) pages x back in.
        var otherFence = OtherChannelsFence(rig);
        Assert.That(rig.Rm.MakeResident(Refs(x), 2, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.True, "channel A's eviction has not run");
        Assert.That(rig.Rm.HasForeignPagingWaits(rig.FenceAddress), Is.False, "its own channel is ordered by its ring");
        var packets = new uint[rig.Rm.MeasurePagingBuffer(CollectionsMarshal.AsSpan(ops))];
        int n = rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), packets, otherFence, 1, out _);

        Assert.That(n, Is.LessThanOrEqualTo(packets.Length), "measure is an upper bound");
        Assert.That(new PacketHeader(packets[0]).Opcode, Is.EqualTo(Opcode.WaitFence), "the buffer starts with a wait");
        Assert.That(packets[1] | (ulong)packets[2] << 32, Is.EqualTo(rig.Rm.View.VaOf(rig.FenceAddress)), "on channel A's fence, in the kernel view");
        Assert.That(WaitedValue(packets), Is.EqualTo(aValue), "for the value A's eviction writes");
        Assert.That(new PacketHeader(packets[PacketFormat.WaitFenceDwords]).Opcode, Is.EqualTo(Opcode.DisableContextSwitch));
    }

    [Test]
    public void GivenAForeignWaitNoted_WhenTheFirstBuildOverflowsItsDestination_ThenTheRetriedBuildStillStartsWithTheWait()
    {
        using var rig = new ResidencyRig();
        var x = rig.Rm.CreateAllocation(256 * KiB, 1);
        var ops = new List<PagingOperation>();
        ulong aValue = EvictionRecordedOnChannelA(rig, x, ops);

        // Channel B pages x back in: its buffer must wait for A's eviction.
        var otherFence = OtherChannelsFence(rig);
        Assert.That(rig.Rm.MakeResident(Refs(x), 2, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.True);

        // VidSch's BuildChunkPaging: a buffer of VidSchOptions.PagingBufferDwords first, a larger one after
        // PacketBufferFullException (the wait itself fits; the operation after it does not).
        var small = new uint[PacketFormat.WaitFenceDwords + 2];
        Assert.Throws<PacketBufferFullException>(() => rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), small, otherFence, 1, out _));
        var big = new uint[rig.Rm.MeasurePagingBuffer(CollectionsMarshal.AsSpan(ops)) + 64];
        rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), big, otherFence, 1, out _);

        Assert.That(new PacketHeader(big[0]).Opcode, Is.EqualTo(Opcode.WaitFence), "the retried buffer still waits for channel A's eviction");
        Assert.That(WaitedValue(big), Is.EqualTo(aValue));
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
        Assert.That(WaitedValue(packets), Is.EqualTo(aValue));
    }

    [Test]
    public void GivenAnAllocationResidentButItsPageInNotRun_WhenAnotherChannelAsksForIt_ThenItMustOrderAfterThatPaging()
    {
        using var rig = new ResidencyRig();
        var x = rig.Rm.CreateAllocation(64 * KiB, 1);
        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.MakeResident(Refs(x), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        rig.SubmitPaging(ops); // channel A: recorded, not run

        var otherFence = OtherChannelsFence(rig);
        ops.Clear();
        Assert.That(rig.Rm.MakeResident(Refs(x), 2, ops), Is.EqualTo(ResidencyOutcome.AlreadyResident), "resident by the bookkeeping");
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.True, "but its bytes arrive only when A's buffer runs");

        rig.RunQueuedPaging();
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.False, "A's fence passed: nothing to wait for");
    }
}
