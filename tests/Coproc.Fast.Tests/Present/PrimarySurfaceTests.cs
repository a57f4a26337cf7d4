using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Present;

/// <summary>Primary surfaces: contiguous local memory the display scans by physical address, pinned (seed 001 §9.1).</summary>
[TestFixture]
public sealed class PrimarySurfaceTests
{
    [Test]
    public void PrimarySurface_NeverEvicted_UnderMemoryPressure()
    {
        using var h = new PresentHarness(bufferCount: 2, localBytes: 4UL << 20);
        var before = h.Surfaces.Select(h.Pa).ToArray();
        var app = h.Machine.CreateContext(2);
        // 8 MiB of managed allocations against 4 MiB of local memory: every pass evicts.
        var blocks = Enumerable.Range(0, 8).Select(_ => h.Machine.AllocateManaged(2, app, 1UL << 20)).ToArray();
        var umd = new Coproc.Fast.Driver.Umd.CommandBufferBuilder(h.Machine.Kmd.SinkFor(2, app));
        for (int pass = 0; pass < 3; pass++)
            foreach (var b in blocks)
            {
                umd.Fill(b, 0, (uint)pass, 1UL << 20);
                umd.Flush();
            }
        long flip = h.Flip(1, FlipKind.Vsync);

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Machine.SchedulerFor(Coproc.Fast.Device.Engines.EngineKind.Render).PagingBuffersBuilt, Is.GreaterThan(0), "memory pressure really paged");
        Assert.That(app.Completed, Is.EqualTo(24));
        Assert.That(h.Surfaces.Select(h.Pa), Is.EqualTo(before), "no primary surface moved");
        Assert.That(h.Surfaces.Select(s => h.Machine.VidMm.LocationOf(s)), Is.All.EqualTo(MemoryLocation.Local));
        Assert.That(h.Surfaces.Select(s => (h.Machine.VidMm.FlagsOf(s) & AllocationFlags.PrimarySurface) != 0), Is.All.True);
        Assert.That(h.Display.StatusOf(h.Context, flip), Is.EqualTo(FlipStatus.Presented));
        var frame = DisplayedFrame.Read(h.Machine.Bus);
        Assert.That(frame.Surface, Is.EqualTo(before[1]));
        Assert.That(BitConverter.ToUInt32(frame.Bgra, frame.Bgra.Length - 4), Is.EqualTo(0xFF222222u), "its pixels intact");
    }

    [Test]
    public void GameRendersIntoThePrimarySurface_WithDrawRects_ThenFlips_DisplayShowsThePixels()
    {
        using var h = new PresentHarness(bufferCount: 3);
        var game = h.Machine.CreateContext(1, 0);
        var chain = h.Display.CreateFlipChain(game, 3);
        var umd = new Coproc.Fast.Driver.Umd.CommandBufferBuilder(h.Machine.Kmd.SinkFor(1, game));
        var surface = Coproc.Fast.Device.Engines.Work.Surface.Packed(0, PresentHarness.Width, PresentHarness.Height);
        umd.DrawRects(h.Surfaces[2], surface, [Coproc.Fast.Device.Engines.Work.RectPrimitive.Fill(0, 0, 16, 8, 0xFF0000FFu)]);
        umd.Flush();
        Assert.That(h.Display.TryFlip(1, game, h.Surfaces[2], FlipKind.Vsync, out long flip), Is.True);

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Display.StatusOf(game, flip), Is.EqualTo(FlipStatus.Presented));
        Assert.That((chain.Presented, game.Completed), Is.EqualTo((1L, 2L)));
        var frame = DisplayedFrame.Read(h.Machine.Bus);
        Assert.That(BitConverter.ToUInt32(frame.Bgra, 0), Is.EqualTo(0xFF0000FFu), "drawn pixel");
        Assert.That(BitConverter.ToUInt32(frame.Bgra, 4 * 20), Is.EqualTo(0xFF333333u), "outside the rectangle");
        Assert.That(game.StatusOf(1), Is.EqualTo(SubmissionStatus.Completed));
    }
}
