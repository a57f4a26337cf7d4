using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

/// <summary>
/// The CLI side of the scheduler connection, with a test double in place of the VidSch runner: each planned
/// submission starts 100 cycles after it is submitted and runs its work_cycles (no contention is modelled).
/// </summary>
public class ConnectedRunnerTests
{
    private sealed class PlanReplayRunner : IScenarioRunner
    {
        public int Runs { get; private set; }

        public ScenarioReport Run(Scenario scenario, ScenarioRunOptions options, IProgress<ScenarioProgress>? progress, CancellationToken cancellation)
        {
            Runs++;
            ulong seed = options.Seed ?? scenario.Seed;
            var observer = new SchedulingObserver(options.Trace);
            var contexts = scenario.Contexts.ToList();
            for (int i = 0; i < contexts.Count; i++)
                observer.RegisterContext((uint)scenario.Processes.ToList().IndexOf(contexts[i].Process) + 1, contexts[i].Process.Name,
                    (uint)i + 1, contexts[i].Context.Name, contexts[i].Context.Engine);
            foreach (var p in SubmissionPlan.Build(scenario, seed).Periodic.Take(50))
            {
                var s = contexts[p.Context].Context.Submission;
                observer.Submitted(p.Context, p.Cycle, (ulong)p.Index + 1, s.Path == SubmitPath.Ring0);
                observer.Started(p.Context, p.Cycle + 100);
                observer.Completed(p.Context, p.Cycle + 100 + s.WorkCycles);
                progress?.Report(new ScenarioProgress(p.Cycle, scenario.DurationCycles, $"submission {p.Index}"));
            }
            return ScenarioReportBuilder.Build(scenario, seed, options.Mode ?? scenario.Mode, scenario.DurationCycles, observer, options.Trace, null,
                [$"test double: {options.Trace.Count} events"]);
        }
    }

    private static (int Code, string Out) Demo(string dir, IScenarioRunner runner)
    {
        var o = new StringWriter();
        int code = Program.Run(["demo", "--out", dir], CliConsole.To(o, TextWriter.Null), runner);
        return (code, o.ToString());
    }

    [Test]
    public void Demo_WithAConnectedRunner_PrintsTheTable_AndWritesTraceAndTimeline_Deterministically()
    {
        var runner = new PlanReplayRunner();
        string a = Path.Combine(TestContext.CurrentContext.WorkDirectory, "connected-a"), b = Path.Combine(TestContext.CurrentContext.WorkDirectory, "connected-b");
        var (code, output) = Demo(a, runner);
        var (code2, output2) = Demo(b, runner);

        Assert.That((code, code2, runner.Runs), Is.EqualTo((0, 0, 2)));
        Assert.That(output, Does.Contain("compositor").And.Contain("video decoder").And.Contain("test double"));
        Assert.That(output.Replace(a, "<dir>"), Is.EqualTo(output2.Replace(b, "<dir>")), "same seed ⇒ identical summary");
        Assert.That(File.ReadAllBytes(Path.Combine(b, "trace.json")), Is.EqualTo(File.ReadAllBytes(Path.Combine(a, "trace.json"))), "same seed ⇒ identical trace");
        Assert.That(File.Exists(Path.Combine(a, "timeline.html")), Is.True);
        Assert.That(File.Exists(Path.Combine(a, "frame.png")), Is.False, "the double displays nothing");
    }
}
