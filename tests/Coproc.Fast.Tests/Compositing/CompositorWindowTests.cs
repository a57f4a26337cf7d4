using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;

namespace Coproc.Fast.Tests.Compositing;

/// <summary>
/// The display owner of a scenario composes the same desktop in the basic and the advanced model (seed 001 §9.3): the
/// game's window is a 1:1 copy of the game's last finished render target, read by the compositor — through the KMD's
/// patched references in the basic model, through the compositor's own VAs of the shared surface in the advanced one;
/// in the hardware model the game is a ring-3 queue and its window shows its render target.
/// </summary>
public class CompositorWindowTests
{
    // A compositor flipping every vsync for 12 vsyncs and a game that draws two frames and then stops (so its last
    // finished frame no longer changes while the compositor keeps composing it).
    private const string Desktop = """
    {
      "name": "compositor-window", "seed": 7, "duration_cycles": 24000000,
      "options": { "vsync_period_cycles": 2000000, "local_memory_bytes": 67108864, "system_memory_bytes": 134217728, "quantum_cycles": 500000 },
      "processes": [
        { "name": "compositor", "allocations": [ { "name": "swap chain", "bytes": 921600, "count": 3 } ],
          "contexts": [ { "name": "compose", "engine": "render", "priority": 14, "kind": "compositor",
            "submission": { "path": "ring0", "count": 12, "bytes": 1024, "period_cycles": 2000000, "start_cycle": 0, "work_cycles": 100000,
                            "packets": { "draw_rects": 2, "fence": 1 }, "flip": true, "buffers_in_flight": 3 } } ] },
        { "name": "game", "allocations": [ { "name": "render targets", "bytes": 921600, "count": 2 } ],
          "contexts": [ { "name": "frames", "engine": "render", "priority": 8, "kind": "game",
            "submission": { "path": "ring0", "count": 2, "bytes": 4096, "period_cycles": 1000000, "start_cycle": 0, "work_cycles": 200000,
                            "packets": { "draw_rects": 3, "fence": 1 }, "buffers_in_flight": 2 } } ] }
      ]
    }
    """;

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAGameThatFinishedItsFrames_WhenTheCompositorComposes_ThenTheGameWindowIsACopyOfTheGamesLastFrame(SchedulingModel model)
    {
        // Given the desktop, when it runs in the model,
        var scenario = ScenarioLoader.Load(Desktop);
        using var run = new ScenarioExecution(scenario, scenario.Seed, preemption: true, NullTraceSink.Instance, model: model);
        run.Execute(null, TimeSpan.FromMinutes(2), CancellationToken.None);
        var frame = DisplayedFrame.Read(run.Machine.Bus);
        uint Shown(int x, int y) => BitConverter.ToUInt32(frame.Bgra, y * frame.PitchBytes + x * 4);

        // then the displayed frame's game window (the composer's one copy from a source) holds the source's pixels:
        var composer = run.Composer!;
        var draw = composer.Plan(new SurfaceGeometry((uint)frame.Width, (uint)frame.Height), 0).ToArray().Single(d => !d.Source.IsNull);
        // The window's source is the game's whole render target (921,600 bytes: 640 × 360), not a video-sized view of it.
        Assert.That(draw.SourceSurface.PitchBytes, Is.EqualTo(SurfaceGeometry.For(921600).At(0).PitchBytes), $"{model}: the game's render target");
        var copy = composer.Primitives(draw).ToArray().Single(p => p.Mode == RectMode.Copy);
        int sx = (int)(copy.Argument & 0xFFFF), sy = (int)(copy.Argument >> 16);
        var memory = run.Machine.Device.Memory;
        uint Source(int x, int y) =>
            memory.Read32(run.Machine.VidMm.PhysicalAddressOf(draw.Source, (ulong)y * draw.SourceSurface.PitchBytes + (ulong)x * 4));
        var colours = new HashSet<uint>();
        for (int dy = 0; dy < copy.Height; dy += 7)
            for (int dx = 0; dx < copy.Width; dx += 11)
            {
                uint expected = Source(sx + dx, sy + dy);
                Assert.That(Shown(copy.X + dx, copy.Y + dy), Is.EqualTo(expected), $"window pixel ({dx}, {dy}) in the {model} model");
                colours.Add(expected);
            }
        // and what it copied is the game's drawing, not an empty surface.
        Assert.That(colours.Any(c => c != 0), Is.True, "the window shows pixels the game drew");
    }
}
