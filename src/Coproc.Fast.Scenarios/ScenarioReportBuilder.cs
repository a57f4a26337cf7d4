using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Scenarios;

/// <summary>
/// Turns what a <see cref="SchedulingObserver"/> counted during a run into a <see cref="ScenarioReport"/>: one row per
/// context, in the observer's registration order (a runner registers contexts in scenario order).
/// </summary>
public static class ScenarioReportBuilder
{
    /// <summary>Builds the report.</summary>
    /// <param name="scenario">The scenario that ran.</param>
    /// <param name="seed">Seed used.</param>
    /// <param name="mode">Mode used.</param>
    /// <param name="cyclesRun">Device cycles run.</param>
    /// <param name="observer">The observer the scheduler called.</param>
    /// <param name="trace">The recorder given to the observer (its snapshot goes into the report).</param>
    /// <param name="frame">The last displayed frame, if any.</param>
    /// <param name="notes">Lines for under the table.</param>
    public static ScenarioReport Build(Scenario scenario, ulong seed, RunMode mode, ulong cyclesRun, SchedulingObserver observer,
        TraceRecorder trace, DisplayedFrame? frame, IReadOnlyList<string> notes)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(observer);
        ArgumentNullException.ThrowIfNull(trace);
        var contexts = observer.Contexts;
        var rows = new List<ContextReportRow>(contexts.Count);
        for (int i = 0; i < contexts.Count; i++)
        {
            var s = contexts[i];
            rows.Add(new ContextReportRow(s.ProcessName, s.ContextName, (EngineKind)s.Engine, s.GpuCycles, observer.GpuTimeShare(i),
                s.BuffersCompleted, s.FramesPresented, s.MissedVsyncs, s.Preemptions, s.Faults, s.BytesPaged,
                s.LatencyPercentile(50), s.LatencyPercentile(99), s.Ring0GateEntries) { PageFaults = s.PageFaults });
        }
        return new ScenarioReport(scenario.Name, seed, mode, cyclesRun, rows, trace.Snapshot(), frame, notes ?? []) { DurationCycles = scenario.DurationCycles };
    }
}
