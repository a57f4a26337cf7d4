using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

public class ScenarioReportBuilderTests
{
    [Test]
    public void Build_MakesOneRowPerObservedContext_WithPercentilesAndShares()
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario("demo.json"));
        var recorder = new TraceRecorder();
        var o = new SchedulingObserver(recorder);
        int a = o.RegisterContext(1, "compositor", 1, "compose", EngineKind.Render);
        int b = o.RegisterContext(2, "game", 2, "frames", EngineKind.Render);
        for (ulong i = 0; i < 10; i++)
        {
            o.Submitted(a, i * 100, i, ring0: true);
            o.Started(a, i * 100 + i);       // latencies 0..9
            o.Completed(a, i * 100 + 50);
        }
        o.Submitted(b, 0, 99, ring0: false);
        o.Started(b, 1_000);
        o.Completed(b, 1_450);

        var report = ScenarioReportBuilder.Build(scenario, 42, RunMode.Deterministic, 2_000, o, recorder, null, ["note"]);

        Assert.That(report.Rows.Select(r => (r.Process, r.Context)), Is.EqualTo(new[] { ("compositor", "compose"), ("game", "frames") }));
        var comp = report.Rows[0];
        Assert.That((comp.BuffersCompleted, comp.SubmitToStartP50Cycles, comp.SubmitToStartP99Cycles, comp.Ring0GateEntries), Is.EqualTo((10L, 4UL, 9UL, 10L)));
        Assert.That(comp.GpuTimeShare + report.Rows[1].GpuTimeShare, Is.EqualTo(1.0).Within(1e-12));
        Assert.That(report.Trace.Events, Is.Not.Empty);
        Assert.That(report.Notes, Is.EqualTo(new[] { "note" }));
    }
}
