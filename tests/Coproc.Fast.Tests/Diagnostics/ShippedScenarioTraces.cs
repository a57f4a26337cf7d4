using System.Collections.Concurrent;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Cli.Reports;
using Coproc.Fast.Tests.Cli;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// Every scenario shipped in tools/scenarios, run once per test run in deterministic mode (each takes a few seconds)
/// and its trace files written once (trace.json, trace.perfetto-trace, timeline.html), so the trace validator, the
/// Perfetto decode and the browser tests all look at what `coproc run` would write for it.
/// </summary>
internal static class ShippedScenarioTraces
{
    private static readonly ConcurrentDictionary<string, Lazy<(ScenarioReport Report, RenderedFiles Files)>> Runs = new();

    /// <summary>The shipped scenario file names (without extension), sorted.</summary>
    public static IEnumerable<string> Names() =>
        Directory.GetFiles(Path.Combine(RepoFiles.Root, "tools", "scenarios"), "*.json")
            .Where(f => !f.EndsWith(".schema.json", StringComparison.Ordinal)) // the JSON Schema, not a scenario
            .Select(Path.GetFileNameWithoutExtension).OfType<string>()
            .Where(n => n != "soak") // the long-running dotnet-counters scenario: same shape as the others, minutes long
            .Order(StringComparer.Ordinal);

    /// <summary>The report of scenario <paramref name="name"/> and the files written for it.</summary>
    public static (ScenarioReport Report, RenderedFiles Files) Get(string name) =>
        Runs.GetOrAdd(name, n => new Lazy<(ScenarioReport, RenderedFiles)>(() => Run(n))).Value;

    private static (ScenarioReport, RenderedFiles) Run(string name)
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario(name + ".json"));
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder(), Mode: RunMode.Deterministic), null, CancellationToken.None);
        var dir = Path.Combine(Path.GetTempPath(), "coproc-shipped-traces", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), name);
        return (report, DemoReportRenderer.WriteFiles(report, dir));
    }
}
