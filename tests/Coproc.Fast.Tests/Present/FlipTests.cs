using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Present;

/// <summary>Flips and the display (seed 001 §9, §21 behaviour 30) through the whole stack.</summary>
[TestFixture]
public sealed class FlipTests
{
    [Test]
    public void VsyncFlip_LatchesOnlyTheLastFlipBeforeVsync()
    {
        using var h = new PresentHarness(bufferCount: 3);
        long f1 = h.Flip(1, FlipKind.Vsync);
        long f2 = h.Flip(2, FlipKind.Vsync);
        Assert.That(h.Machine.RunUntil(() => h.Context.StatusOf(f2) == SubmissionStatus.Completed), Is.True);
        Assert.That(h.Machine.Now, Is.LessThan((ulong)PresentHarness.Period), "both FLIPs executed within one vsync interval");
        Assert.That(h.Latched, Is.EqualTo(h.Pa(h.Surfaces[2])), "the second replaced the first in the latch");

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Current, Is.EqualTo(h.Pa(h.Surfaces[2])));
        Assert.That((h.Display.StatusOf(h.Context, f1), h.Display.StatusOf(h.Context, f2)), Is.EqualTo((FlipStatus.Dropped, FlipStatus.Presented)));
        Assert.That((h.Chain.Presented, h.Chain.Dropped), Is.EqualTo((1L, 1L)));
        Assert.That(h.Notices.Select(n => (n.FlipId, n.Status)), Is.EqualTo(new[] { (f1, FlipStatus.Dropped), (f2, FlipStatus.Presented) }));
        var frame = DisplayedFrame.Read(h.Machine.Bus);
        Assert.That(BitConverter.ToUInt32(frame.Bgra, 0), Is.EqualTo(0xFF333333u), "the displayed frame is surface 2's pixels");
    }

    [Test]
    public void VsyncFlip_CompletionNotifiedOnlyWhenVisible()
    {
        using var h = new PresentHarness(bufferCount: 2);
        long f = h.Flip(1, FlipKind.Vsync);
        Assert.That(h.Machine.RunUntil(() => h.Context.StatusOf(f) == SubmissionStatus.Completed), Is.True);
        h.Machine.RunFor(1_000); // the flip's fence interrupt has been serviced

        Assert.That(h.Machine.Now, Is.LessThan((ulong)PresentHarness.Period));
        Assert.That(h.Display.StatusOf(h.Context, f), Is.EqualTo(FlipStatus.Latched), "executed, not yet visible");
        Assert.That(h.Notices, Is.Empty, "no acknowledgement before it is effective");
        Assert.That(h.Current, Is.EqualTo(h.Pa(h.Surfaces[0])), "CURRENT_SURFACE still shows the old surface");
        Assert.That(h.Machine.AllIdle, Is.False, "a latched flip keeps the machine waiting for the vsync");

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Notices.Single(), Is.EqualTo(h.Notices[0] with { FlipId = f, Status = FlipStatus.Presented, Surface = h.Pa(h.Surfaces[1]) }));
        Assert.That(h.Notices[0].Cycle, Is.GreaterThanOrEqualTo((ulong)PresentHarness.Period), "decided by the vsync");
        Assert.That(h.Current, Is.EqualTo(h.Pa(h.Surfaces[1])));
    }

    [Test]
    public void ImmediateFlip_VisibleAtOnce_NotifiedByFenceAndInterrupt()
    {
        using var h = new PresentHarness(bufferCount: 2);
        long f = h.Flip(1, FlipKind.Immediate);
        Assert.That(h.Machine.RunUntil(() => h.Notices.Count > 0), Is.True);

        Assert.That(h.Notices.Single().Status, Is.EqualTo(FlipStatus.Presented));
        Assert.That(h.Notices[0].FlipId, Is.EqualTo(f));
        Assert.That(h.Notices[0].Cycle, Is.LessThan((ulong)PresentHarness.Period), "no vsync involved");
        Assert.That(h.Display.Vsyncs, Is.Zero);
        Assert.That(h.Current, Is.EqualTo(h.Pa(h.Surfaces[1])));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Chain.Presented, Is.EqualTo(1));
    }

    [TestCase(2)]
    [TestCase(3)]
    public void NBuffering_NthQueuedFlipBlocks_LaterBuffersHeldInVirtualRing(int n)
    {
        using var h = new PresentHarness(bufferCount: n);
        var flips = new List<long>();
        for (int i = 1; i < n; i++) flips.Add(h.Flip(i, FlipKind.Vsync));
        Assert.That(h.Display.TryFlip(1, h.Context, h.Surfaces[0], FlipKind.Vsync, out _), Is.False, "the n-th queued flip blocks");
        Assert.That(h.Chain.QueuedFlips, Is.EqualTo(n - 1));

        // The next frame renders into surface 0, still on screen: it must wait in the virtual ring.
        long draw = h.Render(0, 0xFFABCDEF);
        Assert.That(h.Chain.HeldBuffers, Is.EqualTo(1));
        Assert.That(h.Machine.RunUntil(() => h.Machine.Now >= PresentHarness.Period - 10_000), Is.True);
        Assert.That(h.Context.StatusOf(draw), Is.EqualTo(SubmissionStatus.Pending));
        Assert.That(h.Pixel(h.Surfaces[0], 0), Is.EqualTo(0xFF111111u), "the visible surface was not drawn over");

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Context.StatusOf(draw), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Pixel(h.Surfaces[0], 0), Is.EqualTo(0xFFABCDEFu));
        Assert.That(h.Chain.HeldBuffers, Is.Zero);
        Assert.That(h.Chain.BuffersHeld, Is.EqualTo(1));
        Assert.That(h.Display.StatusOf(h.Context, flips[^1]), Is.EqualTo(FlipStatus.Presented));
        Assert.That(h.Display.TryFlip(1, h.Context, h.Surfaces[0], FlipKind.Vsync, out _), Is.True, "room again");
    }

    [Test]
    public void WaitForFlip_SecondVsyncFlipWaitsForTheFirst_NoneDropped()
    {
        using var h = new PresentHarness(bufferCount: 3);
        long f1 = h.Flip(1, FlipKind.Vsync, wait: true);
        long f2 = h.Flip(2, FlipKind.Vsync, wait: true);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Notices.Select(x => (x.FlipId, x.Status)), Is.EqualTo(new[] { (f1, FlipStatus.Presented), (f2, FlipStatus.Presented) }));
        Assert.That(h.Notices[1].Cycle - h.Notices[0].Cycle, Is.GreaterThanOrEqualTo((ulong)PresentHarness.Period - 10_000), "shown at successive vsyncs");
        Assert.That(h.Chain.Dropped, Is.Zero);
    }

    [Test, CancelAfter(30_000)]
    public void ThreadedMachine_VsyncFlip_BecomesVisible_AndTheMachineGoesIdle()
    {
        using var h = new PresentHarness(bufferCount: 2, mode: Coproc.Fast.Driver.MachineRunMode.Threaded);
        h.Machine.Start();
        long draw = h.Render(1, 0xFF445566);
        long f = h.Flip(1, FlipKind.Vsync);
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(20)), Is.True, "the device clock ran to the vsync");
        Assert.That(h.Context.StatusOf(draw), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Display.StatusOf(h.Context, f), Is.EqualTo(FlipStatus.Presented));
        Assert.That(h.Pixel(h.Surfaces[1], 0), Is.EqualTo(0xFF445566u));
    }

    [Test]
    public void ModeSetScanout_DropsALatchedFlip_AndTheMachineStillGoesIdle()
    {
        using var h = new PresentHarness(bufferCount: 2);
        long f = h.Flip(1, FlipKind.Vsync);
        Assert.That(h.Machine.RunUntil(() => h.Display.StatusOf(h.Context, f) == FlipStatus.Latched), Is.True);
        h.Display.Show(h.Surfaces[2]);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Display.StatusOf(h.Context, f), Is.EqualTo(FlipStatus.Dropped));
        Assert.That(h.Current, Is.EqualTo(h.Pa(h.Surfaces[2])));
        Assert.That(h.Chain.QueuedFlips, Is.Zero);
    }

    [Test]
    public void IdleMachine_ServicesVsyncInterrupts_AsVirtualTimePasses()
    {
        using var h = new PresentHarness(bufferCount: 2);
        for (int i = 0; i < 5; i++) h.Machine.RunFor(PresentHarness.Period / 2);
        h.Machine.RunFor(PresentHarness.Period / 2 + 10_000);
        Assert.That(h.Display.Vsyncs, Is.EqualTo(3), "each vsync raised while nothing ran reached the interrupt handler");
    }

    [Test]
    public void MissedVsync_CountedWhenTheFrameIsNotReadyByItsVsync()
    {
        using var h = new PresentHarness(bufferCount: 2);
        // A frame that takes about two vsync periods (64 FILLs of 2 MiB at 64 bytes per cycle), then its flip.
        var scratch = h.Machine.Kmd.Allocate(1, 2UL << 20);
        for (int i = 0; i < 64; i++) h.Builder.Fill(scratch, 0, (uint)i, 2UL << 20);
        h.Builder.Fill(h.Surfaces[1], 0, 0xFF00FF00, PresentHarness.Width * PresentHarness.Height * 4);
        h.Builder.Flush();
        long f = h.Flip(1, FlipKind.Vsync);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Display.StatusOf(h.Context, f), Is.EqualTo(FlipStatus.Presented));
        Assert.That(h.Chain.MissedVsyncs, Is.GreaterThanOrEqualTo(1));
        Assert.That(h.Notices.Single().Cycle, Is.GreaterThan(2UL * PresentHarness.Period), "shown a vsync later than the first");
    }

    [Test]
    public void ContextFault_FailsItsQueuedFlip_AndTheBuffersHeldBehindIt_OthersUnharmed()
    {
        using var h = new PresentHarness(bufferCount: 2);
        // A DRAW_RECTS whose target format is 7: the KMD accepts it (operands in bounds), the device faults the context.
        var bad = new Coproc.Fast.Device.Engines.Work.Surface(0, PresentHarness.Width * 4, PresentHarness.Width, PresentHarness.Height,
            (Coproc.Fast.Device.Engines.Work.PixelFormat)7);
        h.Builder.DrawRects(h.Surfaces[1], bad, [Coproc.Fast.Device.Engines.Work.RectPrimitive.Fill(0, 0, 4, 4, 1)]);
        h.Builder.Flush();
        long f = h.Flip(1, FlipKind.Vsync);
        long held = h.Render(0, 0xFF999999);
        Assert.That(h.Chain.HeldBuffers, Is.EqualTo(1));
        var other = h.Machine.CreateContext(2);
        var mine = h.Machine.Kmd.Allocate(2, 4096);
        var umd = new Coproc.Fast.Driver.Umd.CommandBufferBuilder(h.Machine.Kmd.SinkFor(2, other));
        umd.Fill(mine, 0, 0x5A5A5A5A, 4096);
        umd.Flush();

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Display.StatusOf(h.Context, f), Is.EqualTo(FlipStatus.Failed));
        Assert.That(h.Context.StatusOf(held), Is.EqualTo(SubmissionStatus.FailedFault), "held work fails with its context");
        Assert.That((h.Chain.Failed, h.Chain.QueuedFlips, h.Chain.HeldBuffers), Is.EqualTo((1L, 0, 0)));
        Assert.That(h.Pixel(h.Surfaces[0], 0), Is.EqualTo(0xFF111111u), "the held draw never ran");
        Assert.That(h.Current, Is.EqualTo(h.Pa(h.Surfaces[0])));
        Assert.That(other.Completed, Is.EqualTo(1));
    }

    [Test]
    public void Flip_OfANonPrimaryOrForeignSurface_IsRejected_AndUserBuffersCannotCarryFlip()
    {
        using var h = new PresentHarness(bufferCount: 2);
        var plain = h.Machine.Kmd.Allocate(1, 64 * 1024);
        var ex = Assert.Throws<FlipRejectedException>(() => h.Display.TryFlip(1, h.Context, plain, FlipKind.Vsync, out _));
        Assert.That(ex!.Reason, Is.EqualTo(FlipRejection.NotPrimarySurface));
        var foreign = h.Display.CreatePrimarySurface(2);
        ex = Assert.Throws<FlipRejectedException>(() => h.Display.TryFlip(1, h.Context, foreign, FlipKind.Vsync, out _));
        Assert.That(ex!.Reason, Is.EqualTo(FlipRejection.NotOwned));
        var other = h.Machine.CreateContext(1);
        ex = Assert.Throws<FlipRejectedException>(() => h.Display.TryFlip(1, other, h.Surfaces[1], FlipKind.Vsync, out _));
        Assert.That(ex!.Reason, Is.EqualTo(FlipRejection.NoFlipChain));
        Assert.That(h.Chain.QueuedFlips, Is.Zero);

        // seed 001 §9.1: FLIP is privileged — a user command buffer carrying one is refused by the KMD.
        var s = h.Builder.GetSpan(PacketFormat.FlipDwords);
        new PacketWriter(s).Flip(h.Pa(h.Surfaces[1]), vsync: false);
        h.Builder.Advance(PacketFormat.FlipDwords);
        var rejected = Assert.Throws<CommandBufferRejectedException>(() => h.Builder.Flush());
        Assert.That(rejected!.Reason, Is.EqualTo(CommandBufferRejection.PrivilegedPacket));
    }
}
