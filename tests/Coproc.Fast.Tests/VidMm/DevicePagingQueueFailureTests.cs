using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// The device paging queue (seed 004) never loses an operation: a refusal comes before VidMm's bookkeeping changes (and
/// then nothing changed), and an operation VidMm has recorded reaches the device in order whatever fails afterwards —
/// otherwise an allocation is recorded resident in local memory that no COPY ever filled.
/// </summary>
[TestFixture]
public sealed class DevicePagingQueueFailureTests
{
    [Test]
    public void GivenAFullRing_WhenAnOperationIsAsked_ThenItIsRefusedWithNothingChanged_AndOnceTheDeviceCaughtUpItRunsWithItsBytes()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm, ringBytes: 4096);
        var a = rig.Rm.CreateAllocation(64 * KiB, 1);
        rig.Stamp(a, 4);
        // The ring filled up (the device has not run it): NOPs until no INDIRECT fits.
        Span<uint> nop = stackalloc uint[4];
        new PacketWriter(nop).Nop(4);
        while (q.Context.HasRoomFor(PacketFormat.IndirectDwords)) Assert.That(q.Context.TrySubmit(nop), Is.True);
        ulong inTransit = rig.Rm.InTransitBytes, localFree = rig.Vm.Local.FreeBytes;

        // When a page-in is asked.
        Assert.Throws<PagingQueueFullException>(() => q.MakeResident(a, 1));

        // Then nothing changed: no fence value used, not resident, no memory taken.
        Assert.That(q.LastSubmitted, Is.Zero);
        Assert.That(rig.Rm.IsResident(a), Is.False);
        Assert.That(rig.Vm.Local.FreeBytes, Is.EqualTo(localFree));
        Assert.That(rig.Rm.InTransitBytes, Is.EqualTo(inTransit));

        // And once the device ran the ring, the same request runs and keeps the bytes.
        q.Kick();
        Pump(rig, q, 0);
        ulong v = q.MakeResident(a, 1);
        Pump(rig, q, v);
        Assert.That(rig.Bytes(a).SequenceEqual(Pattern(4, (int)(64 * KiB))), Is.True);
    }

    [Test]
    public void GivenNoMemoryLeft_WhenAPageInWithABufferLargerThanTheArenaIsRecorded_ThenItRunsWithItsBytes_WithoutAnyMemoryBeingFreed()
    {
        // Given a 2 MiB managed allocation mapped in a GPU space (its page-in rewrites 512 PTEs: a paging buffer larger
        // than the 4 KiB arena), exactly 2 MiB of local memory free and no system memory left: the plan fits, and
        // nothing else could be allocated.
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm, arenaBytes: 4096);
        var a = rig.Rm.CreateAllocation(2 * MiB, 1);
        rig.Stamp(a, 9);
        var space = rig.Vm.CreateGpuAddressSpace();
        ulong va = space.MapAllocation(a);
        while (rig.Vm.System.FreeBytes > 0) rig.Vm.Allocate(4096, placement: PlacementHint.SystemOnly);
        while (rig.Vm.Local.FreeBytes > 2 * MiB) rig.Vm.Allocate(4096, placement: PlacementHint.LocalOnly);

        // When the page-in is asked: VidMm records it, and its buffer goes to the ring in pieces.
        ulong v = q.MakeResident(a, 1);

        // Then it got its fence value; the rest of its buffer waits in the backlog, in order, instead of being lost ...
        Assert.That(v, Is.GreaterThan(0UL));
        Assert.That(rig.Rm.IsResident(a), Is.True, "recorded (precondition)");
        Assert.That(q.Backlog, Is.EqualTo(1));

        // ... and as the device runs, it reaches the device and the allocation holds its bytes (no memory freed meanwhile).
        Pump(rig, q, v);
        Assert.That(q.Backlog, Is.Zero);
        Assert.That(rig.Bytes(a).SequenceEqual(Pattern(9, (int)(2 * MiB))), Is.True, "the page-in's COPY ran");
        Assert.That(rig.Device.Mmu.Walk(space.Descriptor, va + 2 * MiB - 4096, out _, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(q.InFlight, Is.Zero);
    }

    private static void Pump(ResidencyRig rig, DevicePagingQueue q, ulong target)
    {
        for (int i = 0; i < 10_000 && (!q.Fence.IsSignaled(target) || !q.Context.IsDrained); i++)
        {
            rig.Device.Step(1 << 16);
            while (rig.Device.Interrupts.TryDequeue(out var info))
                Assert.That(info.Source, Is.Not.AnyOf(InterruptSource.PageFault, InterruptSource.ProtectionFault, InterruptSource.InvalidCommand, InterruptSource.Error),
                    $"unexpected {info.Source} data0=0x{info.Data0:X}");
            rig.Device.Interrupts.Acknowledge(InterruptSources.AllMask);
            q.NotifyFenceInterrupt();
        }
        Assert.That(q.Fence.IsSignaled(target), Is.True, "the paging ran (failure guard)");
        Assert.That(q.Context.IsDrained, Is.True);
    }
}
