using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Tests.Present;

/// <summary>A small desktop through the basic-model stack: what `coproc demo` builds on.</summary>
[TestFixture]
public sealed class DesktopTests
{
    [Test]
    public void Desktop_CompositorFlipsEveryFrame_WhileAGameAndALongComputeJobRun()
    {
        using var h = new PresentHarness(bufferCount: 3); // the compositor: high priority, triple buffering
        var m = h.Machine;
        var game = m.CreateContext(2, priority: 0, EngineKind.Render);
        var job = m.CreateContext(3, priority: 0, EngineKind.Compute);
        var gameTarget = m.Kmd.Allocate(2, 256 * 256 * 4);
        var x = m.Kmd.Allocate(3, 1UL << 20);
        var y = m.Kmd.Allocate(3, 1UL << 20);
        var gameUmd = new CommandBufferBuilder(m.Kmd.SinkFor(2, game));
        var jobUmd = new CommandBufferBuilder(m.Kmd.SinkFor(3, job));
        var full = Surface.Packed(0, PresentHarness.Width, PresentHarness.Height);
        var flips = new List<long>();
        for (int frame = 0; frame < 8; frame++)
        {
            // Game: a heavy frame; compute: a long SAXPY (262144 elements, ~0.2 ms each).
            gameUmd.DrawRects(gameTarget, Surface.Packed(0, 256, 256),
                [RectPrimitive.Fill(0, 0, 256, 256, 0xFF000000u | (uint)frame), RectPrimitive.BlendColor(0, 0, 256, 256, 0x80FFFFFF)]);
            gameUmd.Flush();
            jobUmd.Saxpy(1 << 18, 1024, x, 0, y, 0, 1.5f);
            jobUmd.Flush();
            // Compositor: composes into the next back buffer and flips at the next vsync (blocks while 2 are queued).
            // WAIT_FOR_FLIP (§9.4) keeps its second queued flip from replacing the first within one vsync interval,
            // so every composed frame is shown.
            int back = (frame + 1) % 3;
            h.Builder.DrawRects(h.Surfaces[back], full, [RectPrimitive.Fill(0, 0, 8, 8, 0xFF00FF00u | (uint)frame)]);
            h.Builder.Flush();
            long id;
            int tries = 0;
            while (!h.Display.TryFlip(1, h.Context, h.Surfaces[back], FlipKind.Vsync, out id, waitForPreviousFlip: true))
            {
                Assert.That(++tries, Is.LessThan(400), $"frame {frame}: queued {h.Chain.QueuedFlips}, held {h.Chain.HeldBuffers}, vsyncs {h.Display.Vsyncs}, now {m.Now}, notices {h.Notices.Count}, statuses {string.Join(",", flips.Select(f => h.Display.StatusOf(h.Context, f)))}, ctx completed {h.Context.Completed}/{h.Context.Submitted}");
                m.RunFor(50_000);
            }
            flips.Add(id);
        }

        Assert.That(m.RunUntilIdle(), Is.True);

        Assert.That(flips.Select(f => h.Display.StatusOf(h.Context, f)), Is.All.EqualTo(FlipStatus.Presented));
        Assert.That((h.Chain.Presented, h.Chain.Dropped), Is.EqualTo((8L, 0L)));
        Assert.That((game.Completed, job.Completed), Is.EqualTo((8L, 8L)));
        Assert.That(m.Device.Engine(EngineKind.Compute).BusyCycles, Is.GreaterThan(0));
        Assert.That(h.Current, Is.EqualTo(h.Pa(h.Surfaces[8 % 3])), "the last composed frame is on screen");
        Assert.That(h.Pixel(h.Surfaces[8 % 3], 0), Is.EqualTo(0xFF00FF07u));
        TestContext.Out.WriteLine($"vsyncs {h.Display.Vsyncs}, missed {h.Chain.MissedVsyncs}, held {h.Chain.BuffersHeld}, cycles {m.Now}");
    }
}
