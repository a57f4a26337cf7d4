using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// Two paging channels over one residency manager (the advanced model's kernel path and run-list back end): a paging
/// buffer of one channel starts with a WAIT_FENCE on the other channel's fence when that channel's earlier, unexecuted
/// paging moved the same allocation (ResidencyManager.Order.cs); within one channel no wait is written.
/// </summary>
public class PagingChannelOrderTests
{
    [Test]
    public void GivenAnEvictionRecordedOnOneChannel_WhenAnotherChannelPagesTheAllocationBackIn_ThenItsBufferWaitsForTheFirstChannelsFence()
    {
        using var rig = new ResidencyRig();
        var x = rig.Rm.CreateAllocation(64 * KiB, 1);
        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.MakeResident(Refs(x), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        rig.RunPaging(ops);

        // Channel A (the rig's fence) records an eviction of x and does not run it yet.
        ops.Clear();
        Assert.That(rig.Rm.Evict(x, ops), Is.True);
        rig.SubmitPaging(ops);
        ulong aValue = rig.FenceValue + 1;

        // Channel B (a fence on another page) pages x back in.
        var otherFence = rig.Vm.PhysicalAddressOf(rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous), 0);
        ops.Clear();
        Assert.That(rig.Rm.MakeResident(Refs(x), 2, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.True, "channel A's eviction has not run");
        Assert.That(rig.Rm.HasForeignPagingWaits(rig.FenceAddress), Is.False, "its own channel is ordered by its ring");
        var packets = new uint[rig.Rm.MeasurePagingBuffer(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ops))];
        int n = rig.Rm.BuildPagingBuffer(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ops), packets, otherFence, 1, out _);

        Assert.That(n, Is.LessThanOrEqualTo(packets.Length), "measure is an upper bound");
        Assert.That(new PacketHeader(packets[0]).Opcode, Is.EqualTo(Opcode.WaitFence), "the buffer starts with a wait");
        ulong va = packets[1] | (ulong)packets[2] << 32, value = packets[3] | (ulong)packets[4] << 32;
        Assert.That(va, Is.EqualTo(rig.Rm.View.VaOf(rig.FenceAddress)), "on channel A's fence, in the kernel view");
        Assert.That(value, Is.EqualTo(aValue), "for the value A's eviction writes");
        Assert.That(new PacketHeader(packets[PacketFormat.WaitFenceDwords]).Opcode, Is.EqualTo(Opcode.DisableContextSwitch));
    }

    [Test]
    public void GivenAnAllocationResidentButItsPageInNotRun_WhenAnotherChannelAsksForIt_ThenItMustOrderAfterThatPaging()
    {
        using var rig = new ResidencyRig();
        var x = rig.Rm.CreateAllocation(64 * KiB, 1);
        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.MakeResident(Refs(x), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        rig.SubmitPaging(ops); // channel A: recorded, not run

        var otherFence = rig.Vm.PhysicalAddressOf(rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous), 0);
        ops.Clear();
        Assert.That(rig.Rm.MakeResident(Refs(x), 2, ops), Is.EqualTo(ResidencyOutcome.AlreadyResident), "resident by the bookkeeping");
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.True, "but its bytes arrive only when A's buffer runs");

        rig.RunQueuedPaging();
        Assert.That(rig.Rm.HasForeignPagingWaits(otherFence), Is.False, "A's fence passed: nothing to wait for");
    }
}
