using System.Globalization;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Scenarios;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Coproc.Cli.Reports;

/// <summary>
/// Shows a <see cref="ScenarioReport"/>: a summary table per process/context (Spectre.Console) and the three output
/// files — <c>trace.json</c>, <c>timeline.html</c>, <c>frame.png</c> — in an output folder it names.
/// </summary>
public static class DemoReportRenderer
{
    /// <summary>The default output folder of a scenario: <c>coproc-out/&lt;name&gt;-seed&lt;seed&gt;</c> under the current directory.</summary>
    public static string DefaultOutputDirectory(string scenarioName, ulong seed)
    {
        var safe = new string(scenarioName.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '-').ToArray());
        return Path.Combine(Directory.GetCurrentDirectory(), "coproc-out", $"{safe}-seed{seed}");
    }

    /// <summary>
    /// What the table's columns mean, printed under it (and in docs/cli.md): the two that people misread are the GPU share
    /// (of the engine's busy time, not of the run) and the latency percentiles (submit to start, not to completion).
    /// </summary>
    public static readonly IReadOnlyList<string> Legend =
    [
        "GPU share: the context's share of its engine's busy time (its buffers' cycles / every cycle the engine was busy,",
        "  paging buffers included), not of the run's duration: a lone context on an engine that pages nothing shows 100 %.",
        "p50 / p99 µs: submit-to-start latency, from submission (ring-0 gate entry or doorbell) to the start on the engine",
        "  (queueing, not execution), in µs at the device clock.",
        "frames: flips that became visible; only contexts with \"flip\": true count frames.",
    ];

    private static readonly string[] NumericHeaders =
        ["GPU share", "buffers", "frames", "missed vsyncs", "preempt.", "faults", "MiB paged", "p50 µs", "p99 µs", "ring-0 entries"];

    /// <summary>
    /// The summary, fitted to <paramref name="width"/> (the console's) so that no number is ever wrapped: the full table
    /// when it fits; else one table whose first column ("process / context (engine)") wraps in the room the numbers leave,
    /// each numeric column exactly as wide as its widest cell; else, when even that does not fit, each context as a
    /// block of "label value" pairs broken between pairs.
    /// </summary>
    public static IRenderable Summary(ScenarioReport report, int width)
    {
        ArgumentNullException.ThrowIfNull(report);
        var cells = Cells(report);
        int Widest(int column, string header) =>
            Math.Max(header.Split(' ').Max(w => w.Length), cells.Count == 0 ? 0 : cells.Max(r => r[column].Length));
        // A column costs its content plus 2 of padding and 1 of border; the table has one more border.
        var numeric = NumericHeaders.Select((h, c) => Widest(c + 3, h)).ToArray();
        int natural = Widest(0, "process") + Widest(1, "context") + Widest(2, "engine") + numeric.Sum() + 13 * 3 + 1;
        if (natural <= width) return SummaryTable(report);
        // Compact: one names column, numeric columns padded on the left only (1 + 1 border each).
        int left = width - numeric.Sum() - NumericHeaders.Length * 2 - 3 - 1;
        const int minNames = 12;
        if (left < minNames) return Blocks(report, cells, width);
        return CompactTable(report, cells, left, numeric);
    }

    /// <summary>The summary table at its natural width (numbers are never wrapped when the console is wide enough for it).</summary>
    public static Table SummaryTable(ScenarioReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var t = NewTable(report);
        t.AddColumns("process", "context", "engine");
        foreach (var h in NumericHeaders) t.AddColumn(new TableColumn(h).RightAligned().NoWrap());
        foreach (var row in Cells(report)) t.AddRow(row.Select(Markup.Escape).ToArray());
        return t;
    }

    private static Table NewTable(ScenarioReport report) => new Table().Border(TableBorder.Rounded)
        .Title($"{Markup.Escape(report.ScenarioName)} — seed {report.Seed}, {report.Mode.ToString().ToLowerInvariant()}, {report.CyclesRun:N0} cycles")
        .Caption("GPU share = share of the engine's busy time; p50/p99 = submit-to-start latency (see below)");

    private static Table CompactTable(ScenarioReport report, List<string[]> cells, int namesWidth, int[] numericWidths)
    {
        var t = NewTable(report);
        t.AddColumn(new TableColumn("process / context (engine)") { Width = namesWidth });
        for (int c = 0; c < NumericHeaders.Length; c++)
            t.AddColumn(new TableColumn(NumericHeaders[c]) { Width = numericWidths[c] }.RightAligned().NoWrap().Padding(1, 0, 0, 0));
        foreach (var row in cells)
            t.AddRow([Markup.Escape($"{row[0]} / {row[1]} ({row[2]})"), .. row.Skip(3).Select(Markup.Escape)]);
        return t;
    }

    // One block per context: its names, then "label value" pairs broken into lines between pairs, never inside one.
    private static Rows Blocks(ScenarioReport report, List<string[]> cells, int width)
    {
        var lines = new List<IRenderable>
        {
            new Markup($"{Markup.Escape(report.ScenarioName)} — seed {report.Seed}, {report.Mode.ToString().ToLowerInvariant()}, {report.CyclesRun:N0} cycles"),
        };
        foreach (var row in cells)
        {
            lines.Add(new Markup($"[bold]{Markup.Escape(row[0])} / {Markup.Escape(row[1])}[/] ({Markup.Escape(row[2])})"));
            var line = new StringBuilder("  ");
            for (int c = 0; c < NumericHeaders.Length; c++)
            {
                string pair = $"{NumericHeaders[c]} {row[c + 3]}";
                if (line.Length > 2 && line.Length + 3 + pair.Length > width)
                {
                    lines.Add(new Text(line.ToString()));
                    line.Clear().Append("  ");
                }
                if (line.Length > 2) line.Append(" · ");
                line.Append(pair);
            }
            lines.Add(new Text(line.ToString()));
        }
        return new Rows(lines);
    }

    private static List<string[]> Cells(ScenarioReport report)
    {
        double usPerCycle = 1_000_000.0 / report.Trace.ClockHz;
        return report.Rows.Select(r => new[]
        {
            r.Process, r.Context, ScenarioLoader.Name(r.Engine),
            (r.GpuTimeShare * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%", N(r.BuffersCompleted), N(r.FramesPresented), N(r.MissedVsyncs),
            N(r.Preemptions), N(r.Faults), (r.BytesPaged / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture),
            (r.SubmitToStartP50Cycles * usPerCycle).ToString("0.0", CultureInfo.InvariantCulture),
            (r.SubmitToStartP99Cycles * usPerCycle).ToString("0.0", CultureInfo.InvariantCulture), N(r.Ring0GateEntries),
        }).ToList();
    }

    /// <summary>Prints the table, the legend and notes, writes the files, prints where they are.</summary>
    /// <param name="report">The report.</param>
    /// <param name="outputDirectory">Folder to write into (created when missing).</param>
    /// <param name="console">Where to print.</param>
    public static RenderedFiles Render(ScenarioReport report, string outputDirectory, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(console);
        console.Write(Summary(report, console.Profile.Width));
        foreach (var line in Legend) console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        foreach (var note in report.Notes) console.MarkupLine(Markup.Escape(note));
        var files = WriteFiles(report, outputDirectory);
        PrintFiles(files, report, console);
        return files;
    }

    /// <summary>
    /// Prints the scheduling auditor's findings as warnings (docs/scheduling-policy.md), where the files are, and a
    /// warning when the trace recorder dropped events.
    /// </summary>
    public static void PrintFiles(RenderedFiles files, ScenarioReport report, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(console);
        foreach (var warning in report.Warnings) console.MarkupLine("[yellow]warning:[/] " + Markup.Escape(warning));
        console.MarkupLine($"Wrote [bold]{Markup.Escape(files.Directory)}[/]:");
        console.MarkupLine($"  {Markup.Escape(Path.GetFileName(files.TraceJson))}     open in https://ui.perfetto.dev (trace.perfetto-trace beside it: native Perfetto)");
        console.MarkupLine($"  {Markup.Escape(Path.GetFileName(files.TimelineHtml))}  open in a browser (no network needed)");
        console.MarkupLine(files.FramePng is null ? "  (no frame.png: nothing was displayed)" : $"  {Markup.Escape(Path.GetFileName(files.FramePng))}      the last displayed frame");
        if (report.Trace.Dropped > 0) console.MarkupLine($"[yellow]{report.Trace.Dropped:N0} trace events were dropped (recorder full).[/]");
    }

    /// <summary>Writes trace.json, trace.perfetto-trace, timeline.html and (when a frame was displayed) frame.png; removes a frame.png of an earlier run when none was.</summary>
    public static RenderedFiles WriteFiles(ScenarioReport report, string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        var dir = Path.GetFullPath(outputDirectory);
        Directory.CreateDirectory(dir);
        var trace = Path.Combine(dir, "trace.json");
        using (var f = File.Create(trace)) ChromeTraceWriter.Write(f, report.Trace);
        var perfetto = Path.Combine(dir, "trace.perfetto-trace");
        using (var f = File.Create(perfetto)) PerfettoTraceWriter.Write(f, report.Trace);
        var timeline = Path.Combine(dir, "timeline.html");
        using (var f = new StreamWriter(timeline)) TimelineHtmlWriter.Write(f, report.Trace, $"{report.ScenarioName} (seed {report.Seed})");
        string? png = null;
        if (report.Frame is { } frame)
        {
            png = Path.Combine(dir, "frame.png");
            using var f = File.Create(png);
            frame.WritePng(f);
        }
        else
        {
            // Nothing was displayed: an earlier run's frame.png in this folder would pass for this run's (docs/observability.md).
            File.Delete(Path.Combine(dir, "frame.png"));
        }
        return new RenderedFiles(dir, trace, timeline, png) { TracePerfetto = perfetto };
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
}
