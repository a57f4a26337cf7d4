using System.Xml;
using System.Xml.Linq;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

public class TimelineHtmlWriterTests
{
    private static XDocument Parse(string html)
    {
        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    private static string Render(TraceSnapshot trace)
    {
        var sw = new StringWriter();
        TimelineHtmlWriter.Write(sw, trace, "demo <test>");
        return sw.ToString();
    }

    [Test]
    public void Timeline_IsWellFormed_WithOneRowPerContextAboveTheEngineRows()
    {
        var trace = SampleTrace.Build();
        var doc = Parse(Render(trace));
        var rows = doc.Descendants("div").Where(d => ((string?)d.Attribute("class"))?.StartsWith("row") == true).ToList();
        var contextRows = rows.Where(d => ((string)d.Attribute("class")!).Contains("context")).ToList();
        var engineRows = rows.Where(d => ((string)d.Attribute("class")!).Contains("engine")).ToList();

        Assert.That(contextRows.Select(r => r.Element("span")!.Value), Is.EqualTo(new[] { "compositor / ctx 1", "game & co / ctx 2" }));
        Assert.That(engineRows, Has.Count.EqualTo(2));
        Assert.That(rows.IndexOf(contextRows[^1]), Is.LessThan(rows.IndexOf(engineRows[0])));
    }

    [Test]
    public void Timeline_IsSelfContained_AndColoursSlicesPerProcess_WithHoverDetails()
    {
        var html = Render(SampleTrace.Build());
        Assert.That(html, Does.Not.Contain("<script"));
        Assert.That(html, Does.Not.Contain("http://").IgnoreCase.Or.Contain("xmlns=\"http://www.w3.org/2000/svg\""));
        Assert.That(html, Does.Not.Contain("https://"));

        var doc = Parse(html);
        XNamespace svg = "http://www.w3.org/2000/svg";
        var engineRects = doc.Descendants("div").Where(d => ((string?)d.Attribute("class")) == "row engine")
            .SelectMany(d => d.Descendants(svg + "rect")).ToList();
        var fills = engineRects.Where(r => r.Element(svg + "title")!.Value.Contains("dma_buffer")).Select(r => (string)r.Attribute("fill")!).Distinct().ToList();
        Assert.That(fills, Has.Count.EqualTo(2), "the compositor's and the game's buffers on the render engine differ in colour");
        Assert.That(engineRects.Select(r => r.Element(svg + "title")!.Value), Has.Some.Contains("frame <1>"));
    }
}

public class TimelineStackingTests
{
    [Test]
    public void OverlappingQueuedBuffers_AreStackedInLanes_LikeGpuView()
    {
        var r = new TraceRecorder();
        int q = r.DefineTrack(TraceTrackKind.ContextQueue, "game / ctx 2", 2, "game", 2);
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b1", 0, 100, 2, 2));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b2", 10, 100, 2, 2));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b3", 20, 100, 2, 2));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b4", 105, 50, 2, 2)); // b1's lane is free again
        var sw = new StringWriter();
        TimelineHtmlWriter.Write(sw, r.Snapshot(), "stack");

        using var reader = System.Xml.XmlReader.Create(new StringReader(sw.ToString()), new System.Xml.XmlReaderSettings { DtdProcessing = System.Xml.DtdProcessing.Ignore });
        var doc = System.Xml.Linq.XDocument.Load(reader);
        System.Xml.Linq.XNamespace svg = "http://www.w3.org/2000/svg";
        var row = doc.Descendants("div").Single(d => (string?)d.Attribute("class") == "row context");
        Assert.That((string?)row.Attribute("data-lanes"), Is.EqualTo("3"));
        var ys = row.Descendants(svg + "rect").Select(x => (string)x.Attribute("y")!).ToArray();
        Assert.That(ys, Has.Length.EqualTo(4));
        Assert.That(ys.Take(3).Distinct().Count(), Is.EqualTo(3), "three outstanding buffers, three lanes");
        Assert.That(ys[3], Is.EqualTo(ys[0]), "the fourth reuses the first lane");
    }
}
