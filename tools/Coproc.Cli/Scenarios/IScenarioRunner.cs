using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Cli.Scenarios;

/// <summary>
/// Executes a parsed scenario and reports what the scheduler did. The seam between the CLI and the scheduler:
/// <c>coproc run</c> and <c>coproc demo</c> call <see cref="Run"/>, then hand the report to
/// <see cref="DemoReportRenderer"/>. An implementation records scheduling events into
/// <see cref="ScenarioRunOptions.Trace"/> (a <see cref="TraceRecorder"/>) and puts its snapshot in the report.
/// </summary>
public interface IScenarioRunner
{
    /// <summary>Runs <paramref name="scenario"/> to its duration (or until cancelled) and reports.</summary>
    /// <param name="scenario">A validated scenario.</param>
    /// <param name="options">Overrides and the trace sink.</param>
    /// <param name="progress">Receives progress as device cycles advance (may be null).</param>
    /// <param name="cancellation">Stops the run early; the report then covers the cycles run.</param>
    ScenarioReport Run(Scenario scenario, ScenarioRunOptions options, IProgress<ScenarioProgress>? progress, CancellationToken cancellation);
}

/// <summary>Options of one run, on top of the scenario's own.</summary>
/// <param name="Trace">Where scheduling events go (a <see cref="TraceRecorder"/> for the output files).</param>
/// <param name="Seed">Overrides the scenario's seed when set.</param>
/// <param name="Mode">Overrides the scenario's run mode when set.</param>
/// <param name="Preemption">Overrides the scenario's preemption option when set (the with/without comparison).</param>
public sealed record ScenarioRunOptions(TraceRecorder Trace, ulong? Seed = null, RunMode? Mode = null, bool? Preemption = null);

/// <summary>Progress of a run.</summary>
/// <param name="Cycle">Device cycles run so far.</param>
/// <param name="TotalCycles">The scenario's duration.</param>
/// <param name="Status">A short line (e.g. "vsync 12, 3 faults").</param>
public readonly record struct ScenarioProgress(ulong Cycle, ulong TotalCycles, string Status);

/// <summary>
/// Which runner the CLI uses: the VidSch-backed <see cref="Running.VidSchScenarioRunner"/> unless a test (or an
/// embedder) replaces it.
/// </summary>
public static class ScenarioRunners
{
    /// <summary>The runner <c>coproc run</c> and <c>coproc demo</c> use; null = validate only (nothing is run).</summary>
    public static IScenarioRunner? Current { get; set; } = new Running.VidSchScenarioRunner();
}
