using Coproc.Cli.Reports;
using System.Text.Json;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Tests.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

public class DemoReportRendererTests
{
    private static ScenarioReport Report(DisplayedFrame? frame) => new(
        "desktop-under-pressure", 42, RunMode.Deterministic, 4_100,
        [
            new ContextReportRow("compositor", "compose", EngineKind.Render, 1_500, 0.5, 1, 1, 0, 0, 0, 0, 1_000, 1_000, 1),
            new ContextReportRow("game & co", "frames", EngineKind.Render, 1_500, 0.5, 1, 0, 1, 2, 1, 65_536, 2_000, 2_000, 1),
        ],
        SampleTrace.Build(), frame, ["compositor missed 0 vsyncs"]);

    [Test]
    public void Render_PrintsOneRowPerContext_AndWritesTheThreeFiles()
    {
        var dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "render-test");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var frame = new DisplayedFrame(2, 1, 8, 0x1000, [1, 2, 3, 255, 4, 5, 6, 255]);
        var o = new StringWriter();
        var files = DemoReportRenderer.Render(Report(frame), dir, CliConsole.To(o, TextWriter.Null).Console);

        var text = o.ToString();
        Assert.That(text, Does.Contain("compositor").And.Contain("game & co").And.Contain("50.0%").And.Contain("compositor missed 0 vsyncs"));
        Assert.That(text, Does.Contain(dir));
        Assert.That(files.FramePng, Is.Not.Null);
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(files.TraceJson)))
            Assert.That(doc.RootElement.GetProperty("traceEvents").GetArrayLength(), Is.GreaterThan(0));
        Assert.That(File.ReadAllText(files.TimelineHtml), Does.StartWith("<!DOCTYPE html>"));
        Assert.That(File.ReadAllBytes(files.FramePng!).AsSpan(0, 8).ToArray(), Is.EqualTo(PngWriter.Signature.ToArray()));
    }

    [Test]
    public void WriteFiles_WithoutADisplayedFrame_WritesNoPng()
    {
        var dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "render-test-noframe");
        var files = DemoReportRenderer.WriteFiles(Report(null), dir);
        Assert.That(files.FramePng, Is.Null);
        Assert.That(File.Exists(Path.Combine(dir, "frame.png")), Is.False);
    }

    [Test]
    public void SameReport_RendersTheSameSummaryAndTrace()
    {
        string Table(ScenarioReport r)
        {
            var o = new StringWriter();
            CliConsole.To(o, TextWriter.Null).Console.Write(DemoReportRenderer.SummaryTable(r));
            return o.ToString();
        }
        string first = Table(Report(null)), second = Table(Report(null)); // two renderings of two reports: deterministic
        Assert.That(second, Is.EqualTo(first));
        var a = DemoReportRenderer.WriteFiles(Report(null), Path.Combine(TestContext.CurrentContext.WorkDirectory, "det-a"));
        var b = DemoReportRenderer.WriteFiles(Report(null), Path.Combine(TestContext.CurrentContext.WorkDirectory, "det-b"));
        Assert.That(File.ReadAllBytes(b.TraceJson), Is.EqualTo(File.ReadAllBytes(a.TraceJson)));
        Assert.That(File.ReadAllBytes(b.TimelineHtml), Is.EqualTo(File.ReadAllBytes(a.TimelineHtml)));
    }
}
