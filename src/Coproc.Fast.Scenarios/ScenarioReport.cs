using Coproc.Fast.Driver;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Scenarios;

/// <summary>What a run measured: one row per context, the recorded trace and the last displayed frame.</summary>
/// <param name="ScenarioName">The scenario's name.</param>
/// <param name="Seed">Seed used.</param>
/// <param name="Mode">Run mode used.</param>
/// <param name="CyclesRun">Device cycles actually run.</param>
/// <param name="Rows">Per-context results, in scenario order.</param>
/// <param name="Trace">The recorded trace.</param>
/// <param name="Frame">The last displayed frame (null when nothing was ever displayed).</param>
/// <param name="Notes">Lines worth printing under the table (e.g. "compositor missed 0 vsyncs with preemption, 9 without").</param>
public sealed record ScenarioReport(
    string ScenarioName,
    ulong Seed,
    RunMode Mode,
    ulong CyclesRun,
    IReadOnlyList<ContextReportRow> Rows,
    TraceSnapshot Trace,
    DisplayedFrame? Frame,
    IReadOnlyList<string> Notes)
{
    /// <summary>
    /// What the scheduling auditor found wrong (Coproc.Fast.Driver.Diagnostics.SchedulingAuditor; docs/scheduling-policy.md):
    /// printed as warnings; <c>coproc run --strict</c> exits non-zero when there is any.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Why the run ended (a guard or Ctrl+C leaves <see cref="CyclesRun"/> short of the duration).</summary>
    public RunStop Stop { get; init; }

    /// <summary>The scheduling model the run used (docs/models.md).</summary>
    public SchedulingModel Model { get; init; }

    /// <summary>The device cycles the scenario asked for (its <c>duration_cycles</c>; 0 when unknown).</summary>
    public ulong DurationCycles { get; init; }
}

/// <summary>One context's results.</summary>
/// <param name="Process">Process name.</param>
/// <param name="Context">Context name.</param>
/// <param name="Engine">Engine it ran on.</param>
/// <param name="GpuCycles">Engine cycles spent running its buffers.</param>
/// <param name="GpuTimeShare">
/// Its share of its engine's busy time, 0..1: cycles its buffers ran over every cycle that engine was busy (paging
/// buffers included) — not a share of the run's duration (a lone decoder that is busy 5 % of the time shows 1).
/// </param>
/// <param name="BuffersCompleted">DMA buffers (or ring-3 batches) completed.</param>
/// <param name="FramesPresented">Flips that became visible.</param>
/// <param name="MissedVsyncs">Vsyncs at which a frame was due and not ready.</param>
/// <param name="Preemptions">Times it was preempted off its engine.</param>
/// <param name="Faults">Faults and resets.</param>
/// <param name="BytesPaged">Bytes paged in or out for its allocations.</param>
/// <param name="SubmitToStartP50Cycles">Median cycles from submission to start on the engine (queueing latency, not execution time).</param>
/// <param name="SubmitToStartP99Cycles">99th percentile of the same.</param>
/// <param name="Ring0GateEntries">Entries through the ring-0 gate.</param>
public sealed record ContextReportRow(
    string Process,
    string Context,
    EngineKind Engine,
    ulong GpuCycles,
    double GpuTimeShare,
    long BuffersCompleted,
    long FramesPresented,
    long MissedVsyncs,
    long Preemptions,
    long Faults,
    long BytesPaged,
    ulong SubmitToStartP50Cycles,
    ulong SubmitToStartP99Cycles,
    long Ring0GateEntries)
{
    /// <summary>Page faults resolved by demand paging (the advanced model; 0 in the others). Not counted in <see cref="Faults"/>.</summary>
    public long PageFaults { get; init; }
}
