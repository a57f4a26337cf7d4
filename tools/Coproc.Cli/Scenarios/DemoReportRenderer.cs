using System.Globalization;
using Coproc.Fast.Driver.Diagnostics;
using Spectre.Console;

namespace Coproc.Cli.Scenarios;

/// <summary>The files a rendered report produced.</summary>
/// <param name="Directory">The output folder.</param>
/// <param name="TraceJson">trace.json (Chrome/Perfetto trace events).</param>
/// <param name="TimelineHtml">timeline.html (self-contained picture).</param>
/// <param name="FramePng">frame.png, or null when the run displayed nothing.</param>
public sealed record RenderedFiles(string Directory, string TraceJson, string TimelineHtml, string? FramePng);

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

    /// <summary>The summary table.</summary>
    public static Table SummaryTable(ScenarioReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        double usPerCycle = 1_000_000.0 / report.Trace.ClockHz;
        var t = new Table().Border(TableBorder.Rounded)
            .Title($"{Markup.Escape(report.ScenarioName)} — seed {report.Seed}, {report.Mode.ToString().ToLowerInvariant()}, {report.CyclesRun:N0} cycles");
        t.AddColumns("process", "context", "engine");
        foreach (var h in new[] { "GPU share", "buffers", "frames", "missed vsyncs", "preempt.", "faults", "MiB paged", "p50 µs", "p99 µs", "ring-0 entries" })
            t.AddColumn(new TableColumn(h).RightAligned());
        foreach (var r in report.Rows)
            t.AddRow(Markup.Escape(r.Process), Markup.Escape(r.Context), ScenarioLoader.Name(r.Engine),
                (r.GpuTimeShare * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%", N(r.BuffersCompleted), N(r.FramesPresented), N(r.MissedVsyncs),
                N(r.Preemptions), N(r.Faults), (r.BytesPaged / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture),
                (r.SubmitToStartP50Cycles * usPerCycle).ToString("0.0", CultureInfo.InvariantCulture),
                (r.SubmitToStartP99Cycles * usPerCycle).ToString("0.0", CultureInfo.InvariantCulture), N(r.Ring0GateEntries));
        return t;
    }

    /// <summary>Prints the table and notes, writes the files, prints where they are.</summary>
    /// <param name="report">The report.</param>
    /// <param name="outputDirectory">Folder to write into (created when missing).</param>
    /// <param name="console">Where to print.</param>
    public static RenderedFiles Render(ScenarioReport report, string outputDirectory, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(console);
        console.Write(SummaryTable(report));
        foreach (var note in report.Notes) console.MarkupLine(Markup.Escape(note));
        foreach (var warning in report.Warnings) console.MarkupLine("[yellow]warning:[/] " + Markup.Escape(warning));
        var files = WriteFiles(report, outputDirectory);
        console.MarkupLine($"Wrote [bold]{Markup.Escape(files.Directory)}[/]:");
        console.MarkupLine($"  {Markup.Escape(Path.GetFileName(files.TraceJson))}     open in https://ui.perfetto.dev (trace.perfetto-trace beside it: native Perfetto)");
        console.MarkupLine($"  {Markup.Escape(Path.GetFileName(files.TimelineHtml))}  open in a browser (no network needed)");
        console.MarkupLine(files.FramePng is null ? "  (no frame.png: nothing was displayed)" : $"  {Markup.Escape(Path.GetFileName(files.FramePng))}      the last displayed frame");
        if (report.Trace.Dropped > 0) console.MarkupLine($"[yellow]{report.Trace.Dropped:N0} trace events were dropped (recorder full).[/]");
        return files;
    }

    /// <summary>Writes trace.json, trace.perfetto-trace, timeline.html and (when a frame was displayed) frame.png.</summary>
    public static RenderedFiles WriteFiles(ScenarioReport report, string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        var dir = Path.GetFullPath(outputDirectory);
        Directory.CreateDirectory(dir);
        var trace = Path.Combine(dir, "trace.json");
        using (var f = File.Create(trace)) ChromeTraceWriter.Write(f, report.Trace);
        using (var f = File.Create(Path.Combine(dir, "trace.perfetto-trace"))) PerfettoTraceWriter.Write(f, report.Trace);
        var timeline = Path.Combine(dir, "timeline.html");
        using (var f = new StreamWriter(timeline)) TimelineHtmlWriter.Write(f, report.Trace, $"{report.ScenarioName} (seed {report.Seed})");
        string? png = null;
        if (report.Frame is { } frame)
        {
            png = Path.Combine(dir, "frame.png");
            using var f = File.Create(png);
            frame.WritePng(f);
        }
        return new RenderedFiles(dir, trace, timeline, png);
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
}
