using System.Globalization;
using System.Text.Json.Nodes;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

/// <summary>
/// The scheduling auditor on scenario runs (docs/scheduling-policy.md "Auditor"): silent on every shipped scenario, loud
/// on the deliberate case (run-list-stress with its former priorities starves two levels of ring-3 queues by design),
/// and <c>coproc run --strict</c> turns its warnings into a non-zero exit code.
/// </summary>
[TestFixture]
public sealed class SchedulingAuditScenarioTests
{
    private static ScenarioReport Run(Scenario scenario) =>
        new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);

    [TestCase("demo.json")]
    [TestCase("memory-thrash.json")]
    [TestCase("run-list-stress.json")]
    [TestCase("many-small-submitters.json")]
    public void ShippedScenario_FullDeterministicRun_TheAuditorIsSilent(string file)
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario(file)) with { Mode = RunMode.Deterministic };
        var report = Run(scenario);
        Assert.That(report.Warnings, Is.Empty, string.Join("\n", report.Warnings));
    }

    [Test]
    public void RunListStress_WithItsFormerThreePriorityLevels_TheAuditorReportsEveryStarvedQueue()
    {
        // The deliberate case: four priority-12 queues per engine fill the four hardware slots, so strict priority
        // starves the priority-8 and priority-2 queues for the whole run; the auditor names each of them.
        var json = JsonNode.Parse(File.ReadAllText(RepoFiles.Scenario("run-list-stress.json")))!;
        var processes = json["processes"]!.AsArray();
        int[] levels = [2, 8, 12];
        for (int i = 0; i < processes.Count; i++) processes[i]!["contexts"]![0]!["priority"] = levels[(i / 2) % 3];
        json["duration_cycles"] = 30_000_000;
        var scenario = ScenarioLoader.Load(json.ToJsonString(), "run-list-stress-three-levels.json");

        var report = Run(scenario);

        var starved = scenario.Contexts.Select((c, i) => (c, i)).Where(x => x.c.Context.Priority < 12).Select(x => x.c.Process.Name).ToArray();
        Assert.That(starved, Has.Length.EqualTo(16));
        foreach (var name in starved)
            Assert.That(report.Warnings, Has.Some.StartsWith(name + " / q (ring 3)").And.Contain("still queued at the end"), name);
        Assert.That(report.Warnings, Has.Count.EqualTo(16), string.Join("\n", report.Warnings));
    }

    [Test]
    [CancelAfter(240_000)] // a failure guard only
    public void RunListStress_DeterministicAndThreaded_AgreeThatEveryQueueRuns()
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario("run-list-stress.json")) with { DurationCycles = 30_000_000 };
        foreach (var mode in new[] { RunMode.Deterministic, RunMode.Threaded })
        {
            var report = Run(scenario with { Mode = mode });
            Assert.That(report.Rows, Has.Count.EqualTo(24));
            Assert.That(report.Rows.Where(r => r.BuffersCompleted == 0).Select(r => r.Process), Is.Empty, $"{mode}: queues that never ran");
            // Shares are asserted on the reproducible run only: in threaded mode the device, scheduler and submitter
            // threads run freely, so on a loaded host a queue's share depends on when its submitter thread was scheduled
            // (what must agree between the modes is who runs, asserted above).
            if (mode == RunMode.Threaded) continue;
            foreach (var engine in new[] { EngineKind.Render, EngineKind.Compute })
            {
                // Twelve equal queues share four slots round robin: each gets a comparable share (no queue below a third of fair).
                var shares = report.Rows.Where(r => r.Engine == engine).Select(r => r.GpuTimeShare).ToArray();
                Assert.That(shares.Min(), Is.GreaterThan(1.0 / 12 / 3), $"{mode} {engine}: {string.Join(", ", shares.Select(s => s.ToString("P1", CultureInfo.InvariantCulture)))}");
            }
        }
    }

    [Test]
    public void StrictRun_WithAuditorWarnings_ExitsWithTheAuditCode_AndPrintsThem_WithoutStrictExitsZero()
    {
        var json = JsonNode.Parse(File.ReadAllText(RepoFiles.Scenario("run-list-stress.json")))!;
        var processes = json["processes"]!.AsArray();
        for (int i = 0; i < processes.Count; i++) processes[i]!["contexts"]![0]!["priority"] = i < 8 ? 12 : 2;
        json["duration_cycles"] = 60_000_000; // past the threshold: 4 quanta × the 8 starved equals per engine
        var path = Path.Combine(TestContext.CurrentContext.WorkDirectory, "starving.json");
        File.WriteAllText(path, json.ToJsonString());
        var outDir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "starving-out");

        var strictOut = new StringWriter();
        int strict = Program.Run(["run", path, "--out", outDir, "--strict"], CliConsole.To(strictOut, TextWriter.Null));
        int lax = Program.Run(["run", path, "--out", outDir], CliConsole.To(TextWriter.Null, TextWriter.Null));

        Assert.That(strict, Is.EqualTo(RunCommand.AuditWarnings));
        Assert.That(strictOut.ToString(), Does.Contain("warning:").And.Contain("still queued at the end"));
        Assert.That(lax, Is.Zero);
    }
}
