using System.Reflection;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;

namespace Coproc.Fast.Tests.Cli.Library;

/// <summary>
/// The scenario runner is a library (Coproc.Fast.Scenarios): a test loads a scenario, checks it and runs it, and
/// asserts on the typed report — without the coproc tool — and the library keeps no global mutable state.
/// </summary>
public class ScenarioLibraryTests
{
    [Test]
    public void AScenario_LoadedCheckedAndRun_GivesATypedReport()
    {
        // Given a scenario text,
        var scenario = ScenarioLoader.Load("""
            {
              "name": "from-a-test", "duration_cycles": 3000000, "options": { "vsync_period_cycles": 0 },
              "processes": [ { "name": "app", "contexts": [
                { "name": "blit", "engine": "copy", "submission": { "count": 10, "bytes": 256, "period_cycles": 200000, "work_cycles": 50000, "packets": { "fill": 1, "fence": 1 } } } ] } ]
            }
            """);
        var runner = new VidSchScenarioRunner();
        var options = new ScenarioRunOptions(new TraceRecorder());
        // when the machine can set it up and it runs,
        Assert.That(runner.CheckSetup(scenario, options), Is.Empty);
        var report = runner.Run(scenario, options, null, CancellationToken.None);
        // then the report says what happened, context by context.
        Assert.That(report.Stop, Is.EqualTo(RunStop.Completed));
        Assert.That(report.CyclesRun, Is.EqualTo(3_000_000UL));
        var row = report.Rows.Single();
        Assert.That((row.Process, row.Context, row.BuffersCompleted, row.Faults), Is.EqualTo(("app", "blit", 10L, 0L)));
        Assert.That(row.SubmitToStartP99Cycles, Is.GreaterThanOrEqualTo(row.SubmitToStartP50Cycles));
    }

    [Test]
    public void TheLibrary_HasNoPublicMutableStaticState()
    {
        var assembly = typeof(ScenarioLoader).Assembly;
        Assert.That(assembly.GetName().Name, Is.EqualTo("Coproc.Fast.Scenarios"));
        var mutable = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            foreach (var f in type.GetFields(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
                if (!f.IsInitOnly && !f.IsLiteral) mutable.Add($"{type.Name}.{f.Name}");
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
                if (p.SetMethod is { IsPublic: true }) mutable.Add($"{type.Name}.{p.Name}");
        }
        Assert.That(mutable, Is.Empty);
    }
}
