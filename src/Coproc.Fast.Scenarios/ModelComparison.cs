using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Scenarios;

/// <summary>One metric of a <see cref="ModelComparison"/>: how to read it from a row and how to judge it.</summary>
/// <param name="Name">Column name (e.g. "GPU share").</param>
/// <param name="Value">Reads the metric from a context's row.</param>
/// <param name="HigherIsBetter">True when more is better (frames, buffers); false when less is (latency, faults, paging).</param>
/// <param name="Format">Formats a value for a table cell.</param>
/// <param name="Summed">True when the workload total is the sum over contexts; false for a per-context quantity (shares, latencies: the verdict uses the worst context).</param>
public sealed record ComparisonMetric(string Name, Func<ContextReportRow, double> Value, bool HigherIsBetter, Func<double, string> Format, bool Summed);

/// <summary>
/// The same workload (same scenario, same seed, deterministic) run under several <see cref="SchedulingModel"/>s, side
/// by side: <c>coproc compare</c> (docs/models.md). The reports keep the scenario's context order, so row i of every
/// report is the same application context.
/// </summary>
public sealed class ModelComparison
{
    private ModelComparison(Scenario scenario, ulong seed, IReadOnlyList<ScenarioReport> reports)
    {
        Scenario = scenario;
        Seed = seed;
        Reports = reports;
    }

    /// <summary>The scenario compared.</summary>
    public Scenario Scenario { get; }

    /// <summary>The seed every run used.</summary>
    public ulong Seed { get; }

    /// <summary>One report per model, in the order asked.</summary>
    public IReadOnlyList<ScenarioReport> Reports { get; }

    /// <summary>The metrics compared, in table order.</summary>
    public static IReadOnlyList<ComparisonMetric> Metrics { get; } =
    [
        new("GPU share", r => r.GpuTimeShare, true, v => $"{v * 100:0.0}%", false),
        new("buffers", r => r.BuffersCompleted, true, v => $"{v:0}", true),
        new("frames presented", r => r.FramesPresented, true, v => $"{v:0}", true),
        new("missed vsyncs", r => r.MissedVsyncs, false, v => $"{v:0}", true),
        new("submit→start p50 µs", r => r.SubmitToStartP50Cycles / 1000.0, false, v => $"{v:0.0}", false),
        new("submit→start p99 µs", r => r.SubmitToStartP99Cycles / 1000.0, false, v => $"{v:0.0}", false),
        new("preemptions", r => r.Preemptions, false, v => $"{v:0}", true),
        new("faults", r => r.Faults, false, v => $"{v:0}", true),
        new("MiB paged", r => r.BytesPaged / 1048576.0, false, v => $"{v:0.0}", true),
        new("ring-0 entries", r => r.Ring0GateEntries, false, v => $"{v:0}", true),
        new("page faults", r => r.PageFaults, false, v => $"{v:0}", true),
    ];

    /// <summary>
    /// Runs <paramref name="scenario"/> once per model in <paramref name="models"/> (deterministic, seed
    /// <paramref name="seed"/> or the scenario's), each with its own trace recorder from <paramref name="trace"/>.
    /// </summary>
    /// <exception cref="ArgumentException">No models, or a model twice.</exception>
    public static ModelComparison Run(IScenarioRunner runner, Scenario scenario, IReadOnlyList<SchedulingModel> models, ulong? seed = null,
        Func<SchedulingModel, TraceRecorder>? trace = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(models);
        if (models.Count == 0) throw new ArgumentException("at least one model", nameof(models));
        if (models.Distinct().Count() != models.Count) throw new ArgumentException("each model once", nameof(models));
        ulong s = seed ?? scenario.Seed;
        var reports = new List<ScenarioReport>();
        foreach (var m in models)
        {
            var options = new ScenarioRunOptions(trace?.Invoke(m) ?? new TraceRecorder(1), s, RunMode.Deterministic) { Model = m };
            reports.Add(runner.Run(scenario, options, null, cancellation));
        }
        return new ModelComparison(scenario, s, reports);
    }

    /// <summary>The workload's value of <paramref name="metric"/> in report <paramref name="i"/>: the sum over contexts, or the worst context.</summary>
    public double Total(ComparisonMetric metric, int i)
    {
        ArgumentNullException.ThrowIfNull(metric);
        var rows = Reports[i].Rows;
        if (metric.Summed) return rows.Sum(metric.Value);
        // A context that completed nothing has no latency samples (its percentiles read 0): it must not make a model
        // that starved it look best, so only contexts with completed buffers are compared.
        rows = rows.Where(r => r.BuffersCompleted > 0).ToList();
        if (rows.Count == 0) return 0;
        // Shares and latencies do not add up: the verdict looks at the context that fares worst.
        return metric.HigherIsBetter ? rows.Min(metric.Value) : rows.Max(metric.Value);
    }

    /// <summary>
    /// One line per metric but GPU share (a per-engine split, shown in the tables): the workload's value in each model and which model is best (or that they tie) — e.g.
    /// "missed vsyncs: basic 1, advanced 13, hardware 1 — fewest in basic and hardware".
    /// </summary>
    public IReadOnlyList<string> Verdicts()
    {
        var lines = new List<string>();
        foreach (var m in Metrics)
        {
            // A share is of one engine's busy time: it says who got the engine, not how well the workload ran; the
            // tables show it per context.
            if (m.Name == "GPU share") continue;
            var values = Enumerable.Range(0, Reports.Count).Select(i => Total(m, i)).ToArray();
            string cells = string.Join(", ", Enumerable.Range(0, Reports.Count).Select(i => $"{Name(Reports[i].Model)} {m.Format(values[i])}"));
            double best = m.HigherIsBetter ? values.Max() : values.Min();
            var winners = Enumerable.Range(0, Reports.Count).Where(i => m.Format(values[i]) == m.Format(best)).Select(i => Name(Reports[i].Model)).ToList();
            string what = m.Summed ? "" : m.HigherIsBetter ? " (lowest context)" : " (worst context)";
            string verdict = winners.Count == Reports.Count ? "the same in every model"
                : $"{(m.HigherIsBetter ? "most" : "fewest")} in {string.Join(" and ", winners)}";
            if (!m.Summed) verdict = winners.Count == Reports.Count ? "the same in every model" : $"best in {string.Join(" and ", winners)}";
            lines.Add($"{m.Name}{what}: {cells} — {verdict}");
        }
        return lines;
    }

    /// <summary>The model's name as scenario files spell it.</summary>
    public static string Name(SchedulingModel model) => model.ToString().ToLowerInvariant();
}
