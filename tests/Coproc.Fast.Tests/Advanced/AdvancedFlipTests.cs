using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Behaviour 30 in the advanced model (seed 001 §9, §7.3): flips are privileged, so the kernel queues them on the
/// context with <see cref="RunListScheduler.TrySubmitKernelCommands"/> under every enforcement option, behind the
/// process's own rendering. (N-buffering and completion notification live in the basic model's present path.)
/// </summary>
public class AdvancedFlipTests
{
    private const uint Vsync = 400_000;
    private const int Bytes = 64 << 10;

    [TestCase(PrivilegeEnforcement.KernelCopy)]
    [TestCase(PrivilegeEnforcement.RingInsertion)]
    [TestCase(PrivilegeEnforcement.IndirectBit)]
    public void Behaviour30_KernelFlipsInTheAdvancedModel_ImmediateIsVisibleAtOnce_OnlyTheLastVsyncFlipBeforeVsyncIsShown(PrivilegeEnforcement option)
    {
        // Given a process that rendered into pinned surfaces A, B and C (contiguous local memory, scanned out by PA).
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: option) with
        {
            Device = AdvancedRig.Small().Device with { VsyncPeriodCycles = Vsync },
        });
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var a = p.AllocatePinned(Bytes);
        var b = p.AllocatePinned(Bytes);
        var c = p.AllocatePinned(Bytes);
        ulong paA = Pa(rig, a), paB = Pa(rig, b), paC = Pa(rig, c);
        rig.Submit(ctx, (ref PacketWriter w) => { w.Fill(a.Va, 0xAAAAAAAA, Bytes); w.Fill(b.Va, 0xBBBBBBBB, Bytes); });
        var mmio = rig.Machine.Device.Mmio;
        ulong flipsBefore = rig.Machine.Device.Display.FlipCount;

        // When the kernel queues an immediate flip to A behind that rendering.
        Assert.That(rig.Scheduler.TrySubmitKernelCommands(ctx, Flip(paA, vsync: false), out var immediate), Is.True);
        Assert.That(rig.Machine.RunUntil(() => immediate.IsComplete, Vsync / 2), Is.True);

        // Then A is displayed at once (before any vsync), with the rendering done.
        Assert.That(rig.Machine.Now, Is.LessThan(Vsync));
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(paA));
        AdvancedRig.AssertBytes(rig.Read(a), AdvancedRig.Pattern(0xAAAAAAAA, Bytes), "A rendered before it was shown");

        // When two vsync flips (B, then C) are processed within one vertical-blank interval.
        var twoFlips = new uint[2 * PacketFormat.FlipDwords];
        var w2 = new PacketWriter(twoFlips);
        w2.Flip(paB, vsync: true);
        w2.Flip(paC, vsync: true);
        Assert.That(rig.Scheduler.TrySubmitKernelCommands(ctx, twoFlips, out var latched), Is.True);
        Assert.That(rig.Machine.RunUntil(() => latched.IsComplete, Vsync / 4), Is.True);
        Assert.That(rig.Machine.Now, Is.LessThan(Vsync), "both flips latched inside the interval");
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(paA), "a vsync flip is not visible before the vsync");
        rig.Machine.RunFor(Vsync - rig.Machine.Now + 10);

        // Then at the vsync only the last one counts: C is shown, B never was.
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(paC));
        Assert.That(rig.Machine.Device.Display.FlipCount - flipsBefore, Is.EqualTo(2UL), "the immediate flip to A and the latched C");
        Assert.That(ctx.State, Is.EqualTo(VaContextState.Ready));
    }

    private static ulong Pa(AdvancedRig rig, GpuAllocation s) => rig.Machine.VidMm.PhysicalAddressOf(s.Handle, 0).Encoded;

    private static uint[] Flip(ulong pa, bool vsync)
    {
        var packets = new uint[PacketFormat.FlipDwords];
        new PacketWriter(packets).Flip(pa, vsync);
        return packets;
    }
}
