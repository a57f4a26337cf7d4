using Coproc.Cli.Reports;
using System.Text.Json;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

/// <summary>
/// The VidSch-backed scenario runner on the real machine (deterministic): the demo shortened to a few vsyncs, the
/// shipped scenarios shortened, and small scenarios for misbehaviour and presentation.
/// </summary>
public class VidSchScenarioRunnerTests
{
    private static Scenario ShortDemo(ulong cycles) =>
        ScenarioLoader.Load(RunCommand.DemoScenarioJson(), "demo.json") with { DurationCycles = cycles };

    private static ScenarioReport Run(Scenario scenario, bool? preemption = null) =>
        new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder(), Preemption: preemption), null, CancellationToken.None);

    private static byte[] TraceBytes(ScenarioReport report)
    {
        using var m = new MemoryStream();
        ChromeTraceWriter.Write(m, report.Trace);
        return m.ToArray();
    }

    [Test]
    public void Demo_SameSeed_GivesAnIdenticalSummaryAndTrace()
    {
        var scenario = ShortDemo(60_000_000);
        var a = Run(scenario);
        var b = Run(scenario);
        Assert.That(b.Rows, Is.EqualTo(a.Rows), "same seed ⇒ identical rows");
        Assert.That(TraceBytes(b), Is.EqualTo(TraceBytes(a)), "same seed ⇒ identical trace.json");
        Assert.That(a.Rows.Sum(r => r.BuffersCompleted), Is.GreaterThan(0));
    }

    [Test]
    public void Demo_Short_HasEngineAndContextTracks_ATimelineRowPerContext_AndADisplayedFrame()
    {
        var report = Run(ShortDemo(60_000_000));
        var dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "runner-demo");
        var files = DemoReportRenderer.WriteFiles(report, dir);

        using var doc = JsonDocument.Parse(File.ReadAllBytes(files.TraceJson));
        var names = doc.RootElement.GetProperty("traceEvents").EnumerateArray()
            .Where(e => e.GetProperty("ph").GetString() == "M" && e.TryGetProperty("args", out var a) && a.TryGetProperty("name", out _))
            .Select(e => e.GetProperty("args").GetProperty("name").GetString()).ToHashSet();
        Assert.That(names, Does.Contain("render").And.Contain("compute").And.Contain("video_decode"));
        Assert.That(names, Does.Contain("compositor / compose").And.Contain("game / frames").And.Contain("video decoder / decode"));
        var cats = doc.RootElement.GetProperty("traceEvents").EnumerateArray()
            .Where(e => e.TryGetProperty("cat", out _)).Select(e => e.GetProperty("cat").GetString()).ToHashSet();
        Assert.That(cats, Does.Contain("paging_buffer").Or.Contain("paging"), "paging buffers are slices");

        string html = File.ReadAllText(files.TimelineHtml);
        foreach (var row in report.Rows) Assert.That(html, Does.Contain($"{row.Process} / {row.Context}"));

        Assert.That(files.FramePng, Is.Not.Null, "the compositor presented at a vsync");
        var png = File.ReadAllBytes(files.FramePng!);
        Assert.That(png.AsSpan(0, 8).ToArray(), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
        Assert.That(report.Frame!.Width, Is.EqualTo(1920));
    }

    [Test]
    public void Demo_Short_CompositorPresentsEveryVsync_WithPreemption_AndTheVideoDecoderCompletesFromRing3()
    {
        var report = Run(ShortDemo(85_000_000));
        var compositor = report.Rows.Single(r => r.Context == "compose");
        var video = report.Rows.Single(r => r.Process == "video decoder");
        Assert.That(compositor.FramesPresented, Is.EqualTo(5), "vsyncs 1–5, one new frame each");
        Assert.That(compositor.MissedVsyncs, Is.Zero);
        Assert.That(video.BuffersCompleted, Is.GreaterThan(0));
        Assert.That(video.Ring0GateEntries, Is.Zero, "ring-3 submissions never cross the gate");
        Assert.That(report.Rows.Single(r => r.Process == "game").Preemptions, Is.GreaterThan(0));
        // The compositor's effects pass (compute, priority 14) preempts the long low-priority dispatches.
        Assert.That(report.Rows.Single(r => r.Process == "compute job").Preemptions, Is.GreaterThan(0));
        Assert.That(report.Rows.Single(r => r.Context == "effects").BuffersCompleted, Is.GreaterThanOrEqualTo(4));
    }

    [Test]
    public void Demo_Short_DisplayedFrame_IsAComposedDesktop_WithTheDecodedVideoInAWindow()
    {
        // Given the demo's first five vsyncs, when the compositor composes its back buffers through DRAW_RECTS,
        var frame = Run(ShortDemo(85_000_000)).Frame!;
        uint Pixel(int x, int y) => BitConverter.ToUInt32(frame.Bgra, y * frame.PitchBytes + x * 4);
        int w = frame.Width, h = frame.Height;
        // then the last displayed frame has the desktop background, a taskbar along the bottom,
        Assert.That(Pixel(2, 2), Is.EqualTo(0xFF1B4F72u), "desktop background at the top-left corner");
        Assert.That(Pixel(w / 3, h - 4), Is.EqualTo(0xFF101820u), "taskbar along the bottom");
        // and the right-hand column holds the video window: the decoder's many-coloured picture, copied 1:1.
        var colours = new HashSet<uint>();
        for (int y = h / 3; y < h * 2 / 3; y += 2)
            for (int x = w * 60 / 100; x < w * 95 / 100; x += 2) colours.Add(Pixel(x, y));
        Assert.That(colours.Count, Is.GreaterThan(16), "the decoded video (CRLE stripes) is composed into a window");
        // and the game's window (left) shows what the game drew, not the desktop.
        Assert.That(Pixel(w / 4, h / 3), Is.Not.EqualTo(0xFF1B4F72u));
    }

    internal const string Misbehaving = """
    {
      "name": "misbehaving", "seed": 3, "duration_cycles": 40000000,
      "options": { "hung_timeout_cycles": 5000000, "vsync_period_cycles": 0, "local_memory_bytes": 67108864, "system_memory_bytes": 67108864 },
      "processes": [
        { "name": "good", "allocations": [ { "name": "b", "bytes": 1048576 } ],
          "contexts": [ { "name": "c", "engine": "render", "priority": 8, "kind": "generic",
            "submission": { "path": "ring0", "count": 10, "bytes": 512, "period_cycles": 2000000, "start_cycle": 0, "work_cycles": 100000,
                            "packets": { "fill": 1, "fence": 1 } } } ] },
        { "name": "bad", "allocations": [ { "name": "b", "bytes": 1048576 } ],
          "contexts": [ { "name": "c", "engine": "render", "priority": 8, "kind": "misbehaving",
            "submission": { "path": "ring0", "count": 6, "bytes": 512, "period_cycles": 5000000, "start_cycle": 100000, "work_cycles": 100000,
                            "packets": { "fill": 1, "fence": 1 } },
            "misbehaviours": [ { "kind": "hung_wait", "at_submission": 1 }, { "kind": "privileged_command", "at_submission": 3 },
                               { "kind": "bad_address", "at_submission": 4 } ] } ] }
      ]
    }
    """;

    [Test]
    public void MisbehavingApp_HungWaitIsReset_PrivilegedAndBadAddressAreRejected_TheOtherAppCompletesEverything()
    {
        var report = Run(ScenarioLoader.Load(Misbehaving));
        var good = report.Rows.Single(r => r.Process == "good");
        var bad = report.Rows.Single(r => r.Process == "bad");
        Assert.That(good.BuffersCompleted, Is.EqualTo(10));
        Assert.That(good.Faults, Is.Zero);
        Assert.That(bad.Faults, Is.EqualTo(3), "one timeout reset and two KMD rejections");
        Assert.That(bad.BuffersCompleted, Is.GreaterThanOrEqualTo(2), "work after the reset still runs");
        Assert.That(report.Trace.Events.Any(e => e.Category == TraceCategory.Fault && e.Name.Contains("timeout")), Is.True);
    }

    private const string Ring3BadAddress = """
    {
      "name": "ring3-bad-address", "seed": 5, "duration_cycles": 20000000,
      "options": { "vsync_period_cycles": 0, "local_memory_bytes": 67108864, "system_memory_bytes": 67108864 },
      "processes": [
        { "name": "good", "allocations": [ { "name": "b", "bytes": 1048576 } ],
          "contexts": [ { "name": "c", "engine": "render", "priority": 8, "kind": "generic",
            "submission": { "path": "ring0", "count": 8, "bytes": 512, "period_cycles": 2000000, "start_cycle": 0, "work_cycles": 100000,
                            "packets": { "fill": 1, "fence": 1 } } } ] },
        { "name": "queue", "allocations": [ { "name": "b", "bytes": 1048576, "preferred": "system" } ],
          "contexts": [ { "name": "q", "engine": "render", "priority": 8, "kind": "misbehaving",
            "submission": { "path": "ring3", "count": 4, "bytes": 256, "period_cycles": 3000000, "start_cycle": 500000, "work_cycles": 50000,
                            "packets": { "fill": 1, "fence": 1 } },
            "misbehaviours": [ { "kind": "bad_address", "at_submission": 1 } ] } ] }
      ]
    }
    """;

    [Test]
    public void Ring3Queue_WritingAnUnmappedVa_FaultsOnlyThatQueue_AndTheTraceHasInterruptInstants()
    {
        var report = Run(ScenarioLoader.Load(Ring3BadAddress));
        var good = report.Rows.Single(r => r.Process == "good");
        var queue = report.Rows.Single(r => r.Process == "queue");
        Assert.That(good.BuffersCompleted, Is.EqualTo(8));
        Assert.That(good.Faults, Is.Zero);
        Assert.That(queue.BuffersCompleted, Is.EqualTo(1), "the submission before the bad one");
        Assert.That(queue.Faults, Is.EqualTo(1), "the page fault, from the interrupt stream");
        Assert.That(report.Trace.Events.Any(e => e.Category == TraceCategory.Interrupt && e.Name == "fence interrupt"), Is.True);
    }

    [TestCase("many-small-submitters.json", 30_000_000UL)]
    [TestCase("memory-thrash.json", 60_000_000UL)]
    [TestCase("run-list-stress.json", 30_000_000UL)]
    public void ShippedScenario_ShortenedRun_CompletesBuffers_AndRunsItsWholeDuration(string file, ulong cycles)
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario(file)) with { DurationCycles = cycles, Mode = RunMode.Deterministic };
        var report = Run(scenario);
        Assert.That(report.Rows, Has.Count.EqualTo(scenario.Contexts.Count()));
        Assert.That(report.Rows.Sum(r => r.BuffersCompleted), Is.GreaterThan(0));
        Assert.That(report.CyclesRun, Is.EqualTo(scenario.DurationCycles));
    }

    [Test]
    public void Run_OnABadFile_ExitsTwo_WithTheLineAndWhatWasExpected()
    {
        var path = Path.Combine(TestContext.CurrentContext.WorkDirectory, "bad-runner.json");
        File.WriteAllText(path, "{\n  \"name\": \"x\",\n  \"duration_cycles\": -5,\n  \"processes\": []\n}\n");
        var e = new StringWriter();
        int code = Program.Run(["run", path], CliConsole.To(TextWriter.Null, e));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(e.ToString(), Does.Contain("line 3").And.Contain("duration_cycles"));
        Assert.That(e.ToString(), Does.Not.Contain("   at "));
    }
}
