using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// timeline.html as written: one self-contained page whose embedded data holds the rows in display order (software
/// queues by process, then engines, device, counters; empty rows left out), stacked lanes, a distinct colour per
/// process and every marker. How it behaves in a browser is in <see cref="TimelineBrowserTests"/>.
/// </summary>
public class TimelineHtmlWriterTests
{
    internal static string Render(TraceSnapshot trace)
    {
        var sw = new StringWriter();
        TimelineHtmlWriter.Write(sw, trace, "demo <test>");
        return sw.ToString();
    }

    internal static JsonElement Data(string html)
    {
        var m = Regex.Match(html, "<script id=\"timeline-data\" type=\"application/json\">(.*?)</script>", RegexOptions.Singleline);
        Assert.That(m.Success, "the page embeds its data");
        using var doc = JsonDocument.Parse(m.Groups[1].Value);
        return doc.RootElement.Clone();
    }

    private static string[] RowNames(JsonElement data) =>
        data.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("name").GetString()!).ToArray();

    [Test]
    public void Timeline_IsSelfContained_NoNetworkNoExternalResources_AndEscapesTheTitle()
    {
        var html = Render(SampleTrace.Build());
        Assert.That(html, Does.Not.Contain("http://").And.Not.Contain("https://").And.Not.Contain(" src=").And.Not.Contain("<link"));
        Assert.That(html, Does.Contain("<canvas id=\"plot\">"));
        Assert.That(html, Does.Contain("<title>demo &lt;test&gt;</title>"));
        Assert.That(Regex.Count(html, "</script>"), Is.EqualTo(2), "data and viewer, nothing able to close a script early");
    }

    [Test]
    public void Timeline_ListsContextRowsByProcess_AboveEngines_Device_AndCounters()
    {
        var names = RowNames(Data(Render(SampleTrace.Build())));
        Assert.That(names, Is.EqualTo(new[] { "compositor / ctx 1", "game & co / ctx 2", "render", "copy", "display", "local memory resident" }));
    }

    [Test]
    public void Timeline_LeavesOutRowsWithNothingToShow()
    {
        var r = new TraceRecorder();
        int render = r.DefineTrack(TraceTrackKind.Engine, "render", 0, "device");
        r.DefineTrack(TraceTrackKind.Engine, "video_encode", 0, "device");
        r.DefineTrack(TraceTrackKind.ContextQueue, "idle / ctx 3", 3, "idle", 3);
        r.Emit(TraceEvent.Slice(render, TraceCategory.DmaBuffer, "dma buffer", 0, 10, 1, 1));
        Assert.That(RowNames(Data(Render(r.Snapshot()))), Is.EqualTo(new[] { "render" }));
    }

    [Test]
    public void StarvedContext_WithBuffersWaitingAndNoneCompleted_KeepsItsRow_WithItsQueueDepth_AndNoSeparateCounterRow()
    {
        // Given a context whose two buffers wait from cycle 100 on and never complete (no "queued" slice ever closes),
        var r = new TraceRecorder();
        int q = r.DefineTrack(TraceTrackKind.ContextQueue, "starved / q", 4, "starved", 4);
        r.Emit(TraceEvent.Counter(q, TraceCategory.QueueDepth, "queue depth starved / q", 100, 1));
        r.Emit(TraceEvent.Counter(q, TraceCategory.QueueDepth, "queue depth starved / q", 100, 2));
        // then its row is shown, carrying the depth samples (time deltas and values) drawn behind it.
        var rows = Data(Render(r.Snapshot())).GetProperty("rows").EnumerateArray().ToArray();
        Assert.That(rows.Select(x => x.GetProperty("name").GetString()), Is.EqualTo(new[] { "starved / q" }));
        Assert.That(rows[0].GetProperty("depth").EnumerateArray().Select(x => x.GetInt64()), Is.EqualTo(new long[] { 100, 1, 0, 2 }));
    }

    [Test]
    public void OverlappingQueuedBuffers_AreStackedInLanes_LikeGpuView()
    {
        var r = new TraceRecorder();
        int q = r.DefineTrack(TraceTrackKind.ContextQueue, "game / ctx 2", 2, "game", 2);
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b1", 0, 100, 2, 2));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b2", 10, 100, 2, 2));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b3", 20, 100, 2, 2));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "b4", 105, 50, 2, 2)); // b1's lane is free again
        var row = Data(Render(r.Snapshot())).GetProperty("rows")[0];
        Assert.That(row.GetProperty("lanes").GetInt32(), Is.EqualTo(3));
        var flat = row.GetProperty("slices").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        var lanes = Enumerable.Range(0, flat.Length / 6).Select(i => flat[i * 6 + 2]).ToArray();
        Assert.That(lanes, Is.EqualTo(new long[] { 0, 1, 2, 0 }), "three outstanding buffers, three lanes; the fourth reuses the first");
    }

    [Test]
    public void ProcessColours_StayDistinct_PastTenProcesses()
    {
        var colours = Enumerable.Range(0, 64).Select(TimelineHtmlWriter.ProcessColour).ToArray();
        Assert.That(colours, Is.Unique);
        Assert.That(colours, Has.All.Match("^#[0-9a-f]{6}$"));

        var r = new TraceRecorder();
        for (uint p = 1; p <= 24; p++)
        {
            int t = r.DefineTrack(TraceTrackKind.ContextQueue, $"p{p} / c", p, $"p{p}", p);
            r.Emit(TraceEvent.Slice(t, TraceCategory.DmaBuffer, "queued", p, 10, p, p));
        }
        var shown = Data(Render(r.Snapshot())).GetProperty("processes").EnumerateArray().Select(p => p[2].GetString()).ToArray();
        Assert.That(shown, Has.Length.EqualTo(24).And.Unique);
    }

    [Test]
    public void Timeline_KeepsIdsBeyond2Pow53_AsStrings_AndNamesEveryMarkerKind()
    {
        var r = new TraceRecorder();
        int render = r.DefineTrack(TraceTrackKind.Engine, "render", 0, "device");
        r.Emit(TraceEvent.Instant(render, TraceCategory.Fault, "page fault", 5, 1, 1, id: (1UL << 62) + 1));
        r.Emit(TraceEvent.Instant(render, TraceCategory.Vsync, "vsync", 6));
        r.Emit(TraceEvent.Instant(render, TraceCategory.Flip, "flip", 6));
        var data = Data(Render(r.Snapshot()));
        var instants = data.GetProperty("rows")[0].GetProperty("instants").EnumerateArray().ToArray();
        Assert.That(instants[3].GetString(), Is.EqualTo(((1UL << 62) + 1).ToString(CultureInfo.InvariantCulture)));
        var markers = data.GetProperty("kinds").EnumerateArray().Select(k => k[2].GetString()).ToArray();
        Assert.That(markers, Is.EquivalentTo(new[] { "fault", "vsync", "flip" }), "vsync and flip are separate kinds, so separate strips");
    }

    [Test]
    public void RunListStress_Timeline_StaysAFewMegabytes()
    {
        // 300 ms of 24 queues: ~85,000 slices and as many counter samples, delta-encoded and interned.
        var (_, files) = ShippedScenarioTraces.Get("run-list-stress");
        Assert.That(new FileInfo(files.TimelineHtml).Length, Is.LessThan(4L << 20));
    }
}
