using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Scenarios;

/// <summary>
/// Executes a parsed scenario and reports what the scheduler did: <see cref="Running.VidSchScenarioRunner"/> runs it on
/// the emulated machine; <c>coproc run</c> and <c>coproc demo</c> call <see cref="Run"/> and print the report, a test
/// asserts on it. An implementation records scheduling events into
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

    /// <summary>
    /// Everything <see cref="Run"/> would refuse about <paramref name="scenario"/> before its first cycle — the
    /// machine, processes, contexts and allocations it sets up (capacity: contexts in system memory, allocations that
    /// can never be resident) — as errors with the JSON path of the part that cannot be set up. Empty = it can run.
    /// <c>coproc run --validate</c> calls this after the file's own checks, so validation matches running.
    /// </summary>
    /// <param name="scenario">A scenario that passed <see cref="ScenarioLoader"/>'s checks.</param>
    /// <param name="options">The overrides the run would use.</param>
    IReadOnlyList<ScenarioError> CheckSetup(Scenario scenario, ScenarioRunOptions options) => [];
}

/// <summary>Options of one run, on top of the scenario's own.</summary>
/// <param name="Trace">Where scheduling events go (a <see cref="TraceRecorder"/> for the output files).</param>
/// <param name="Seed">Overrides the scenario's seed when set.</param>
/// <param name="Mode">Overrides the scenario's run mode when set.</param>
/// <param name="Preemption">Overrides the scenario's preemption option when set (the with/without comparison).</param>
public sealed record ScenarioRunOptions(TraceRecorder Trace, ulong? Seed = null, RunMode? Mode = null, bool? Preemption = null)
{
    /// <summary>
    /// Wall-clock guard: the run stops after this much host time and reports <see cref="RunStop.TimeLimit"/> (null =
    /// the runner's default: <see cref="Running.VidSchScenarioRunner.DefaultDeterministicTimeLimit"/> or
    /// <see cref="Running.VidSchScenarioRunner.DefaultThreadedTimeLimit"/>). A guard against a run that would
    /// take for ever (e.g. 2^64 − 1 cycles), not a timing.
    /// </summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>Strict mode (<c>coproc run --strict</c>): the runner audits scheduling invariants as it runs.</summary>
    public bool Strict { get; init; }

    /// <summary>Overrides the scenario's scheduling model when set (<c>--model</c>, <c>coproc compare</c>).</summary>
    public SchedulingModel? Model { get; init; }
}

/// <summary>Why a run ended.</summary>
public enum RunStop
{
    /// <summary>It ran its whole duration (or, threaded, every planned buffer retired first).</summary>
    Completed,
    /// <summary>It was cancelled (Ctrl+C); the report covers the cycles run.</summary>
    Cancelled,
    /// <summary>Its wall-clock guard (<see cref="ScenarioRunOptions.TimeLimit"/>) stopped it; the report covers the cycles run.</summary>
    TimeLimit,
}

/// <summary>Progress of a run.</summary>
/// <param name="Cycle">Device cycles run so far.</param>
/// <param name="TotalCycles">The scenario's duration.</param>
/// <param name="Status">A short line (e.g. "vsync 12, 3 faults").</param>
public readonly record struct ScenarioProgress(ulong Cycle, ulong TotalCycles, string Status);
