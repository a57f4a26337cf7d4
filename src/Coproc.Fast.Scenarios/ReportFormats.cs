using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Coproc.Fast.Scenarios;

/// <summary>
/// The machine-readable summaries of a run (<c>coproc run/demo --json</c> and <c>--csv</c>; docs/cli.md describes the
/// fields). Cycles are exact integers; microseconds are at the trace's device clock. The JSON object's fields are
/// stable: a script may rely on them.
/// </summary>
public static class ReportFormats
{
    /// <summary>The CSV header, in column order.</summary>
    public static readonly IReadOnlyList<string> CsvColumns =
    [
        "process", "context", "engine", "gpu_cycles", "gpu_share_of_engine_busy", "buffers_completed", "frames_presented", "missed_vsyncs",
        "preemptions", "faults", "bytes_paged", "submit_to_start_p50_cycles", "submit_to_start_p99_cycles", "submit_to_start_p50_us",
        "submit_to_start_p99_us", "ring0_gate_entries",
    ];

    /// <summary>Writes the report as one indented JSON object and a newline.</summary>
    /// <param name="output">Where to write.</param>
    /// <param name="report">The report.</param>
    /// <param name="files">The files written for it (null: none).</param>
    public static void WriteJson(TextWriter output, ScenarioReport report, RenderedFiles? files)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(report);
        double usPerCycle = 1_000_000.0 / report.Trace.ClockHz;
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", report.ScenarioName);
            w.WriteNumber("seed", report.Seed);
            w.WriteString("mode", report.Mode.ToString().ToLowerInvariant());
            w.WriteString("model", report.Model.ToString().ToLowerInvariant());
            w.WriteNumber("duration_cycles", report.DurationCycles);
            w.WriteNumber("cycles_run", report.CyclesRun);
            w.WriteString("stopped_by", report.Stop switch
            {
                RunStop.TimeLimit => "time_limit",
                RunStop.Cancelled => "cancelled",
                _ => "completed",
            });
            w.WriteNumber("clock_hz", report.Trace.ClockHz);
            w.WriteStartObject("definitions");
            w.WriteString("gpu_share_of_engine_busy", "cycles the context's buffers ran / every cycle its engine was busy, paging buffers included (0..1); not a share of the run's duration");
            w.WriteString("submit_to_start", "from submission (ring-0 gate entry or doorbell) to the buffer starting on the engine; queueing latency, not execution");
            w.WriteEndObject();
            w.WriteStartArray("contexts");
            foreach (var r in report.Rows)
            {
                w.WriteStartObject();
                w.WriteString("process", r.Process);
                w.WriteString("context", r.Context);
                w.WriteString("engine", ScenarioLoader.Name(r.Engine));
                w.WriteNumber("gpu_cycles", r.GpuCycles);
                w.WriteNumber("gpu_share_of_engine_busy", Math.Round(r.GpuTimeShare, 6));
                w.WriteNumber("buffers_completed", r.BuffersCompleted);
                w.WriteNumber("frames_presented", r.FramesPresented);
                w.WriteNumber("missed_vsyncs", r.MissedVsyncs);
                w.WriteNumber("preemptions", r.Preemptions);
                w.WriteNumber("faults", r.Faults);
                w.WriteNumber("page_faults", r.PageFaults);
                w.WriteNumber("bytes_paged", r.BytesPaged);
                w.WriteNumber("submit_to_start_p50_cycles", r.SubmitToStartP50Cycles);
                w.WriteNumber("submit_to_start_p99_cycles", r.SubmitToStartP99Cycles);
                w.WriteNumber("submit_to_start_p50_us", Math.Round(r.SubmitToStartP50Cycles * usPerCycle, 3));
                w.WriteNumber("submit_to_start_p99_us", Math.Round(r.SubmitToStartP99Cycles * usPerCycle, 3));
                w.WriteNumber("ring0_gate_entries", r.Ring0GateEntries);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("notes");
            foreach (var note in report.Notes) w.WriteStringValue(note);
            w.WriteEndArray();
            w.WriteStartArray("audit_findings"); // the scheduling auditor's findings (docs/scheduling-policy.md)
            foreach (var warning in report.Warnings) w.WriteStringValue(warning);
            w.WriteEndArray();
            w.WriteNumber("trace_events_dropped", report.Trace.Dropped);
            if (files is not null)
            {
                w.WriteStartObject("files");
                w.WriteString("directory", files.Directory);
                w.WriteString("trace_json", files.TraceJson);
                if (files.TracePerfetto is not null) w.WriteString("trace_perfetto_trace", files.TracePerfetto);
                w.WriteString("timeline_html", files.TimelineHtml);
                if (files.FramePng is null) w.WriteNull("frame_png");
                else w.WriteString("frame_png", files.FramePng);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        output.WriteLine(Encoding.UTF8.GetString(ms.ToArray()));
    }

    /// <summary>Writes the report as CSV (RFC 4180 quoting): the header <see cref="CsvColumns"/>, then one row per context.</summary>
    public static void WriteCsv(TextWriter output, ScenarioReport report)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(report);
        output.WriteLine(string.Join(',', CsvColumns));
        WriteCsvRows(output, report, null);
    }

    /// <summary>
    /// Writes several runs of one scenario (<c>coproc compare --csv</c>) as one CSV table: a <c>model</c> column, then
    /// <see cref="CsvColumns"/> and <c>page_faults</c>; one row per context per run, runs in the order given.
    /// </summary>
    public static void WriteCsv(TextWriter output, IReadOnlyList<ScenarioReport> reports)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(reports);
        output.WriteLine(string.Join(',', ["model", .. CsvColumns, "page_faults"]));
        foreach (var report in reports) WriteCsvRows(output, report, report.Model.ToString().ToLowerInvariant());
    }

    private static void WriteCsvRows(TextWriter output, ScenarioReport report, string? model)
    {
        double usPerCycle = 1_000_000.0 / report.Trace.ClockHz;
        foreach (var r in report.Rows)
        {
            string[] cells =
            [
                Quote(r.Process), Quote(r.Context), ScenarioLoader.Name(r.Engine), I(r.GpuCycles), F(r.GpuTimeShare, "0.######"),
                I(r.BuffersCompleted), I(r.FramesPresented), I(r.MissedVsyncs), I(r.Preemptions), I(r.Faults), I(r.BytesPaged),
                I(r.SubmitToStartP50Cycles), I(r.SubmitToStartP99Cycles), F(r.SubmitToStartP50Cycles * usPerCycle, "0.###"),
                F(r.SubmitToStartP99Cycles * usPerCycle, "0.###"), I(r.Ring0GateEntries),
            ];
            output.WriteLine(model is null ? string.Join(',', cells) : string.Join(',', [model, .. cells, I(r.PageFaults)]));
        }
    }

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string I(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    private static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    private static string Quote(string s) =>
        s.AsSpan().IndexOfAny(",\"\r\n") < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>The files a rendered report produced.</summary>
/// <param name="Directory">The output folder.</param>
/// <param name="TraceJson">trace.json (Chrome/Perfetto trace events).</param>
/// <param name="TimelineHtml">timeline.html (self-contained picture).</param>
/// <param name="FramePng">frame.png, or null when the run displayed nothing.</param>
public sealed record RenderedFiles(string Directory, string TraceJson, string TimelineHtml, string? FramePng)
{
    /// <summary>trace.perfetto-trace (native Perfetto protobuf), or null when it was not written.</summary>
    public string? TracePerfetto { get; init; }
}
