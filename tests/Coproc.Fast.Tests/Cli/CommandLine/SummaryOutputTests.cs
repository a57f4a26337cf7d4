using Coproc.Cli.Reports;
using System.Text.Json;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Tests.Diagnostics;

namespace Coproc.Fast.Tests.Cli.CommandLine;

/// <summary>
/// Results as data: <c>--json</c> and <c>--csv</c> summaries on standard output with people's lines on standard error;
/// plain text when not a terminal; a table that never wraps inside a number; a report that says what its columns mean.
/// </summary>
public class SummaryOutputTests
{
    private const string Small = """
        {
          "name": "small, \"quoted\"",
          "duration_cycles": 2000000,
          "options": { "vsync_period_cycles": 0, "local_memory_bytes": 16777216, "system_memory_bytes": 33554432 },
          "processes": [
            { "name": "p", "contexts": [
              { "name": "copy, the first", "engine": "copy", "submission": { "count": 8, "bytes": 256, "period_cycles": 100000, "work_cycles": 20000, "packets": { "fill": 1, "fence": 1 } } },
              { "name": "render", "engine": "render", "submission": { "count": 4, "bytes": 256, "period_cycles": 200000, "work_cycles": 40000, "packets": { "draw_rects": 1 } } }
            ] }
          ]
        }
        """;

    private static (int Code, string Out, string Err) RunSmall(string format)
    {
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, "small-summary.json");
        File.WriteAllText(file, Small);
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(["run", file, format, "-o", Path.Combine(TestContext.CurrentContext.WorkDirectory, "small-" + format.TrimStart('-'))], CliConsole.To(o, e));
        return (code, o.ToString(), e.ToString());
    }

    [Test]
    public void RunJson_PrintsOneJsonObject_WithARowPerContext_AndPeoplesLinesOnStandardError()
    {
        var (code, output, err) = RunSmall("--json");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("scenario").GetString(), Is.EqualTo("small, \"quoted\""));
        Assert.That(root.GetProperty("cycles_run").GetUInt64(), Is.EqualTo(2_000_000UL));
        Assert.That(root.GetProperty("stopped_by").GetString(), Is.EqualTo("completed"));
        var rows = root.GetProperty("contexts").EnumerateArray().ToArray();
        Assert.That(rows.Select(r => r.GetProperty("context").GetString()), Is.EqualTo(new[] { "copy, the first", "render" }));
        Assert.That(rows[0].GetProperty("buffers_completed").GetInt64(), Is.EqualTo(8));
        Assert.That(rows[1].GetProperty("gpu_share_of_engine_busy").GetDouble(), Is.EqualTo(1.0), "alone on its engine, which pages nothing");
        Assert.That(rows[0].GetProperty("gpu_share_of_engine_busy").GetDouble(), Is.InRange(0.5, 0.99), "paging buffers share the copy engine's busy time");
        Assert.That(root.GetProperty("definitions").GetProperty("submit_to_start").GetString(), Does.Contain("queueing"));
        Assert.That(File.Exists(root.GetProperty("files").GetProperty("trace_json").GetString()), Is.True);
        Assert.That(err, Does.Contain("Scenario small").And.Contain("Wrote"));
    }

    [Test]
    public void RunCsv_PrintsAHeaderAndOneQuotedRowPerContext()
    {
        var (code, output, err) = RunSmall("--csv");
        Assert.That(code, Is.Zero, err);
        var lines = output.TrimEnd().Split(Environment.NewLine);
        Assert.That(lines[0], Is.EqualTo(string.Join(',', ReportFormats.CsvColumns)));
        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.That(lines[1], Does.StartWith("p,\"copy, the first\",copy,"));
        Assert.That(lines[1].Split(',').Length, Is.EqualTo(ReportFormats.CsvColumns.Count + 1), "one quoted comma");
    }

    [Test]
    public void RedirectedOutput_HasNoEscapeSequences_AndTheReportExplainsItsColumns()
    {
        var (code, output, err) = RunSmall("--no-preemption");
        Assert.That(code, Is.Zero, err);
        int esc = (output + err).IndexOf('\u001b', StringComparison.Ordinal);
        Assert.That(esc, Is.EqualTo(-1), esc < 0 ? "" : string.Concat("no ANSI escapes in files and pipes: ", (output + err).AsSpan(Math.Max(0, esc - 60), 80)));
        Assert.That(output, Does.Contain("GPU share: the context's share of its engine's busy time"));
        Assert.That(output, Does.Contain("p50 / p99 µs: submit-to-start latency"));
        Assert.That(err, Is.Empty, "no progress lines when standard error is not a terminal");
    }

    [Test]
    public void SummaryTable_At110Columns_NeverWrapsInsideANumber()
    {
        // Numbers as large as a long run's, names longer than a terminal has room for.
        var report = new ScenarioReport("wide", 1, RunMode.Deterministic, 9_876_543_210,
        [
            new ContextReportRow("a process with a rather long name", "a context with a long name too", EngineKind.VideoDecode, 1, 0.123,
                1_234_567, 98_765, 1_234, 23_456, 345, 1_294_467_072, 98_765_432, 987_654_321, 1_234_567),
            new ContextReportRow("compositor", "compose", EngineKind.Render, 1, 1, 12_345, 12_345, 0, 0, 0, 0, 1_000, 2_000, 12_345),
        ], SampleTrace.Build(), null, []);
        var o = new StringWriter();
        var console = CliConsole.Plain(o, width: 110);
        console.Write(DemoReportRenderer.Summary(report, 110));
        var text = o.ToString();
        Assert.That(text, Does.Contain("╭"), "still a table at 110 columns");
        foreach (var number in new[] { "1,234,567", "98,765", "1,234", "23,456", "345", "1234.5", "98765.4", "987654.3", "12.3%", "12,345", "100.0%" })
            Assert.That(text, Does.Contain(number), $"{number} is on one line");
        Assert.That(text.Split('\n').Max(l => l.TrimEnd().Length), Is.LessThanOrEqualTo(110));
    }

    [Test]
    public void Summary_TooNarrowForATable_PrintsBlocks_StillWithoutWrappingANumber()
    {
        var report = new ScenarioReport("narrow", 1, RunMode.Deterministic, 1,
            [new ContextReportRow("p", "c", EngineKind.Render, 1, 1, 1_234_567_890, 0, 0, 0, 0, 0, 1_000, 2_000, 1_234_567_890)], SampleTrace.Build(), null, []);
        var o = new StringWriter();
        CliConsole.Plain(o, width: 60).Write(DemoReportRenderer.Summary(report, 60));
        var text = o.ToString();
        Assert.That(text, Does.Contain("p / c (render)").And.Contain("buffers 1,234,567,890").And.Contain("ring-0 entries 1,234,567,890"));
        Assert.That(text.Split('\n').Max(l => l.TrimEnd().Length), Is.LessThanOrEqualTo(60));
    }
}
