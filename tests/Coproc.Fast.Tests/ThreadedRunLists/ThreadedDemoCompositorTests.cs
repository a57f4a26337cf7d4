using Coproc.Cli.Commands;
using Coproc.Fast.Driver;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;

namespace Coproc.Fast.Tests.ThreadedRunLists;

/// <summary>
/// The demo scenario in threaded mode under the advanced model (run lists on render, compute and copy): the compositor
/// (priority 14, the highest on render) keeps composing, as it does deterministically and in threaded mode under the
/// basic and hardware models. Threaded runs submit as fast as buffers in flight allow, so a run-list display owner with
/// n − 1 flips queued must keep its next frame until a vsync shows one (ScenarioExecution.Threaded.cs) — taking it at
/// once dropped every later frame before the device reached the first vsync.
/// </summary>
public class ThreadedDemoCompositorTests
{
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    public void GivenTheDemoThreaded_WhenItRuns_ThenTheCompositorKeepsComposing(SchedulingModel model)
    {
        var scenario = ScenarioLoader.Load(RunCommand.DemoScenarioJson(), "demo.json") with { DurationCycles = 400_000_000 };
        var options = new ScenarioRunOptions(new Driver.Diagnostics.TraceRecorder(1), Mode: RunMode.Threaded) { Model = model, TimeLimit = TimeSpan.FromSeconds(90) };

        var report = new VidSchScenarioRunner().Run(scenario, options, null, default);

        Assert.That(report.Stop, Is.Not.EqualTo(RunStop.TimeLimit), "the time limit is a failure guard");
        var compose = report.Rows.Single(r => r.Context == "compose");
        var broken = report.Rows.Single(r => r.Context == "broken");
        Assert.That(compose.BuffersCompleted, Is.GreaterThanOrEqualTo(10),
            $"compose completed {compose.BuffersCompleted} buffers, presented {compose.FramesPresented} frames; broken completed {broken.BuffersCompleted}, faults {broken.Faults}; notes: {string.Join(" | ", report.Notes)}");
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    public void GivenTheCompositorAloneThreaded_WhenItRuns_ThenItsFlipsRetireAndItKeepsComposing(SchedulingModel model)
    {
        var demo = ScenarioLoader.Load(RunCommand.DemoScenarioJson(), "demo.json");
        var scenario = demo with { DurationCycles = 400_000_000, Processes = demo.Processes.Where(p => p.Name == "compositor").ToList() };
        var options = new ScenarioRunOptions(new Driver.Diagnostics.TraceRecorder(1), Mode: RunMode.Threaded) { Model = model, TimeLimit = TimeSpan.FromSeconds(90) };

        var report = new VidSchScenarioRunner().Run(scenario, options, null, default);

        Assert.That(report.Stop, Is.Not.EqualTo(RunStop.TimeLimit), "the time limit is a failure guard");
        var compose = report.Rows.Single(r => r.Context == "compose");
        Assert.That(compose.BuffersCompleted, Is.GreaterThanOrEqualTo(10),
            $"compose completed {compose.BuffersCompleted} buffers, presented {compose.FramesPresented} frames; notes: {string.Join(" | ", report.Notes)}");
    }
}
