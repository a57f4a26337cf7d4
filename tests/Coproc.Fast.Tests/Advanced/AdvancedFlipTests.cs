using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Behaviour 30 in the advanced model (seed 001 §9, §7.3): flips are privileged, so the kernel queues them on the
/// context with <see cref="RunListScheduler.TrySubmitKernelCommands"/> under every enforcement option, behind the
/// process's own rendering; and through the machine's one present path (<see cref="PresentManager"/>, docs/models.md),
/// which decides a run-list context's flips exactly as a kernel-path context's (the fence after the FLIP, the vsync's
/// CURRENT_SURFACE), notifies their completion and n-buffers them (§9.3).
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
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

    [TestCase(PrivilegeEnforcement.KernelCopy)]
    [TestCase(PrivilegeEnforcement.RingInsertion)]
    [TestCase(PrivilegeEnforcement.IndirectBit)]
    public void PresentPath_ARunListContextsVsyncFlip_IsPresentedAtTheVsyncAndNotified_AndDoubleBufferingHoldsTheNextFlipAndBuffer(PrivilegeEnforcement option)
    {
        // Given a double-buffered chain of two primary surfaces mapped into an advanced-model process.
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: option) with
        {
            Device = AdvancedRig.Small().Device with { VsyncPeriodCycles = Vsync },
        });
        var display = rig.Machine.Display;
        var mode = display.SetMode(64, 64);
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var surfaces = new[] { display.CreatePrimarySurface(p.Id), display.CreatePrimarySurface(p.Id) };
        var mapped = surfaces.Select(h => rig.Scheduler.MapPinnedAllocation(p, h, mode.SurfaceBytes)).ToArray();
        var chain = display.CreateFlipChain(ctx, 2);
        var notices = new List<FlipNotice>();
        display.FlipCompleted = n => notices.Add(n);

        // When it renders into surface 0 and flips to it at the next vsync.
        rig.Submit(ctx, (ref PacketWriter w) => w.Fill(mapped[0].Va, 0x11223344, (uint)mode.SurfaceBytes));
        Assert.That(display.TryFlip(ctx, surfaces[0], FlipKind.Vsync, out long first), Is.True);

        // Then, with n − 1 = 1 flip queued, the next flip and the next buffer are held back: nothing is queued.
        Assert.That(display.TryFlip(ctx, surfaces[1], FlipKind.Vsync, out _), Is.False, "the n-th flip blocks (§9.3)");
        var next = p.CreateDmaBuffer(64);
        var nw = next.Writer();
        nw.Fill(mapped[1].Va, 0x55667788, (uint)mode.SurfaceBytes);
        Assert.That(rig.Scheduler.TrySubmit(ctx, next, nw.Written, [], out _), Is.False, "the next frame waits for a flip to be shown");
        Assert.That(chain.QueuedFlips, Is.EqualTo(1));

        // When the vsync shows it: presented, notified with its context, and scanned out after its rendering.
        Assert.That(rig.Machine.RunUntil(() => display.StatusOf(ctx, first) == FlipStatus.Presented, 3UL * Vsync), Is.True);
        Assert.That(notices, Has.Count.EqualTo(1));
        Assert.That(notices[0] is { Status: FlipStatus.Presented } && notices[0].Context == (int)ctx.Id && notices[0].FlipId == first, Is.True, notices[0].ToString());
        Assert.That(rig.Machine.Device.Mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(display.ScanoutAddressOf(surfaces[0])));
        Assert.That(rig.Read32(mapped[0], mode.SurfaceBytes - 4), Is.EqualTo(0x11223344u));
        Assert.That(chain is { Presented: 1, QueuedFlips: 0 }, Is.True);

        // Then the held frame goes on, and its flip with it.
        Assert.That(rig.Scheduler.TrySubmit(ctx, next, nw.Written, [], out var nextTicket), Is.True);
        Assert.That(display.TryFlip(ctx, surfaces[1], FlipKind.Vsync, out long second), Is.True);
        Assert.That(rig.Machine.RunUntil(() => display.StatusOf(ctx, second) == FlipStatus.Presented, 3UL * Vsync), Is.True);
        Assert.That(nextTicket.IsComplete, Is.True);
        Assert.That(rig.Machine.Device.Mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(display.ScanoutAddressOf(surfaces[1])));
        Assert.That(rig.Read32(mapped[1], 0), Is.EqualTo(0x55667788u));
    }

    [Test]
    public void PresentPath_ARunListContextThatStopsBeforeItsFlipExecutes_FailsTheFlip()
    {
        // Given a context whose buffer touches an unbacked VA (it stops for good, seed 001 §5.6) ahead of its flip.
        using var rig = new AdvancedRig(AdvancedRig.Small() with
        {
            Device = AdvancedRig.Small().Device with { VsyncPeriodCycles = Vsync },
        });
        var display = rig.Machine.Display;
        var mode = display.SetMode(64, 64);
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var surface = display.CreatePrimarySurface(p.Id);
        rig.Scheduler.MapPinnedAllocation(p, surface, mode.SurfaceBytes);
        display.CreateFlipChain(ctx, 3);
        var notices = new List<FlipNotice>();
        display.FlipCompleted = n => notices.Add(n);
        ulong unbacked = p.Space.Reserve(4096);
        rig.Submit(ctx, (ref PacketWriter w) => w.Fill(unbacked, 1, 4096));
        Assert.That(display.TryFlip(ctx, surface, FlipKind.Vsync, out long flip), Is.True);

        Assert.That(rig.Machine.RunUntil(() => display.StatusOf(ctx, flip) != FlipStatus.Queued, 3UL * Vsync), Is.True);

        Assert.That(ctx.State, Is.EqualTo(VaContextState.Error));
        Assert.That(display.StatusOf(ctx, flip), Is.EqualTo(FlipStatus.Failed));
        Assert.That(notices.Select(n => n.Status), Is.EqualTo(new[] { FlipStatus.Failed }));
    }

    private static ulong Pa(AdvancedRig rig, GpuAllocation s) => rig.Machine.VidMm.PhysicalAddressOf(s.Handle, 0).Encoded;

    private static uint[] Flip(ulong pa, bool vsync)
    {
        var packets = new uint[PacketFormat.FlipDwords];
        new PacketWriter(packets).Flip(pa, vsync);
        return packets;
    }
}
