using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// Writes an interactive GPUView-like timeline of a <see cref="TraceSnapshot"/> as one self-contained HTML file
/// (inline CSS, data and script; no network, no external resources): the per-context software queues, grouped by
/// process, above the engines' hardware queues, the device row (vsyncs, flips, interrupts) and counter rows.
/// <para>
/// The page draws on a canvas with decimation — slices narrower than a pixel that fall on an already painted pixel
/// of their lane are skipped — so a 300 ms run with two dozen queues draws quickly at any zoom. Controls: wheel to
/// zoom at the cursor, shift+drag (or shift+wheel, A/D) to pan, drag to select a range (its summary shows the range
/// and every context's busy time on the engines inside it), Z zooms to the selection, 0 resets, Esc clears, the
/// search box keeps the contexts whose name matches (and fades other contexts' work on the engines), hovering shows
/// a slice's or marker's details with its duration. Ticks fall on round times (1, 2 or 5 × 10^k). Each process gets
/// its own colour (golden-angle hues, so they stay distinct past ten processes); paging buffers and every marker
/// kind are in the legend, each marker kind on its own strip of a row (vsyncs never hide under flips). Rows with
/// nothing to show are left out. A context's queue depth is shaded behind its row, so a starved context (buffers
/// waiting, none completing) shows even though none of its "queued" slices ever closed.
/// </para>
/// <para>
/// Data layout (the <c>script#timeline-data</c> JSON): slices per row as flat 6-tuples <c>[start delta, duration,
/// lane, kind, owner, id]</c> in start order (lanes from <see cref="TraceLayout"/>), kinds and owners interned, so
/// a large run stays a few MB. The script also exposes <c>window.timeline</c> (view, zoom, locate) for tests.
/// </para>
/// </summary>
public static class TimelineHtmlWriter
{
    /// <summary>Most lanes a row draws; deeper queues share the last lane.</summary>
    public const int MaxLanes = 16;

    /// <summary>Writes the timeline to <paramref name="output"/>.</summary>
    /// <param name="output">Destination.</param>
    /// <param name="trace">The recorded trace.</param>
    /// <param name="title">Page title (e.g. the scenario's name).</param>
    public static void Write(TextWriter output, TraceSnapshot trace, string title)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(title);
        output.Write("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n<title>");
        output.Write(WebUtility.HtmlEncode(title));
        output.Write("</title>\n<style>\n");
        output.Write(TimelineAssets.Css);
        output.Write("</style>\n</head>\n<body>\n<h1>");
        output.Write(WebUtility.HtmlEncode(title));
        output.Write("</h1>\n");
        output.Write(TimelineAssets.Body);
        output.Write("<script id=\"timeline-data\" type=\"application/json\">");
        output.Write(DataJson(trace, title));
        output.Write("</script>\n<script>\n");
        output.Write(TimelineAssets.Script);
        output.Write("</script>\n</body>\n</html>\n");
    }

    /// <summary>
    /// The colour of the <paramref name="index"/>-th process (in id order): hues a golden angle apart with two
    /// alternating lightnesses, so neighbours differ and no two of the first few hundred coincide.
    /// </summary>
    public static string ProcessColour(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        double hue = (index * 137.50776405) % 360;
        double light = index % 2 == 0 ? 0.46 : 0.62;
        double sat = (index / 2) % 2 == 0 ? 0.62 : 0.50;
        return Hsl(hue, sat, light);
    }

    private static string Hsl(double h, double s, double l)
    {
        double c = (1 - Math.Abs(2 * l - 1)) * s, x = c * (1 - Math.Abs(h / 60 % 2 - 1)), m = l - c / 2;
        (double r, double g, double b) = h switch
        {
            < 60 => (c, x, 0.0),
            < 120 => (x, c, 0.0),
            < 180 => (0.0, c, x),
            < 240 => (0.0, x, c),
            < 300 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        static int B(double v) => (int)Math.Round(Math.Clamp(v, 0, 1) * 255);
        return string.Create(CultureInfo.InvariantCulture, $"#{B(r + m):x2}{B(g + m):x2}{B(b + m):x2}");
    }

    /// <summary>The marker kind of an instant: its own strip and legend entry.</summary>
    internal static string MarkerKind(in TraceEvent e) => e.Category switch
    {
        TraceCategory.Vsync when e.Name == "missed vsync" => "missed vsync",
        TraceCategory.Vsync => "vsync",
        TraceCategory.Flip => "flip",
        TraceCategory.Preemption => "preemption",
        TraceCategory.Fault => "fault",
        TraceCategory.Interrupt => "interrupt",
        _ => "other",
    };

    private sealed class Row(string name, string kind, TraceTrack track)
    {
        public string Name { get; } = name;
        public string Kind { get; } = kind;
        public TraceTrack Track { get; } = track;
        public List<TraceLayout.Slice> Slices { get; } = [];
        public List<TraceEvent> Instants { get; } = [];
        public List<TraceEvent> Samples { get; } = [];
        public int Lanes { get; set; } = 1;
        public string Unit { get; set; } = "";
    }

    private static string DataJson(TraceSnapshot trace, string title)
    {
        var layout = TraceLayout.For(trace);
        var tracks = trace.Tracks;
        var rows = new Row[tracks.Count];
        for (int t = 0; t < tracks.Count; t++)
        {
            var kind = tracks[t].Kind switch
            {
                TraceTrackKind.Engine => "engine",
                TraceTrackKind.ContextQueue => "context",
                TraceTrackKind.Counter => "counter",
                _ => "device",
            };
            rows[t] = new Row(tracks[t].Name, kind, tracks[t]) { Lanes = Math.Min(MaxLanes, layout.LaneCount[t]) };
        }
        foreach (var s in layout.Slices)
            if (s.Parent is null) rows[s.Track].Slices.Add(s); // the zero-length submit slices are flow anchors only
        // Counter series become counter rows of their own (a context's queue depth is emitted on its queue's track).
        var series = new Dictionary<(int, string), Row>();
        var seriesOrder = new List<Row>();
        foreach (var e in trace.Events)
        {
            if ((uint)e.Track >= (uint)tracks.Count) continue;
            if (e.Phase == TracePhase.Instant) rows[e.Track].Instants.Add(e);
            else if (e.Phase == TracePhase.Counter && tracks[e.Track].Kind == TraceTrackKind.ContextQueue)
            {
                // A context's queue depth is drawn behind its own row: buffers waiting that never complete (a starved
                // context) show there even though no "queued" slice was ever closed.
                rows[e.Track].Samples.Add(e);
            }
            else if (e.Phase == TracePhase.Counter)
            {
                if (!series.TryGetValue((e.Track, e.Name), out var row))
                {
                    row = new Row(e.Name, "counter", tracks[e.Track]) { Unit = ChromeTraceWriter.CounterUnit(e.Category) };
                    series[(e.Track, e.Name)] = row;
                    seriesOrder.Add(row);
                }
                row.Samples.Add(e);
            }
        }

        var processes = new SortedDictionary<uint, string>();
        foreach (var t in tracks)
            if (t.ProcessId != 0) processes.TryAdd(t.ProcessId, t.ProcessName);

        // Display order: software queues grouped by process, hardware queues, device, counters; empty rows left out.
        var ordered = rows.Where(r => r.Kind == "context").OrderBy(r => r.Track.ProcessId).ThenBy(r => r.Track.Id)
            .Concat(rows.Where(r => r.Kind == "engine"))
            .Concat(rows.Where(r => r.Kind == "device"))
            .Concat(rows.Where(r => r.Kind == "counter"))
            .Where(r => r.Slices.Count > 0 || r.Instants.Count > 0 || r.Samples.Exists(x => x.Value != 0))
            .Concat(seriesOrder.Where(r => r.Samples.Exists(s => s.Value != 0))
                .OrderBy(r => r.Track.Kind == TraceTrackKind.Counter ? 0 : 1).ThenBy(r => r.Track.ProcessId).ThenBy(r => r.Track.Id))
            .ToList();

        var kinds = new Dictionary<(string, TraceCategory), int>();
        var owners = new Dictionary<(uint, uint), int>();
        int Kind(string name, TraceCategory c) => kinds.TryGetValue((name, c), out int k) ? k : kinds[(name, c)] = kinds.Count;
        int Owner(uint pid, uint ctx) => owners.TryGetValue((pid, ctx), out int o) ? o : owners[(pid, ctx)] = owners.Count;

        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.Default }))
        {
            w.WriteStartObject();
            w.WriteString("title", title);
            w.WriteNumber("clockHz", trace.ClockHz);
            w.WriteNumber("end", Math.Max(1, trace.EndCycle));
            w.WriteNumber("dropped", trace.Dropped);
            w.WriteStartArray("processes");
            int i = 0;
            foreach (var (pid, name) in processes)
            {
                w.WriteStartArray();
                w.WriteNumberValue(pid);
                w.WriteStringValue(name);
                w.WriteStringValue(ProcessColour(i++));
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("rows");
            foreach (var r in ordered)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteString("kind", r.Kind);
                w.WriteNumber("pid", r.Track.ProcessId);
                w.WriteNumber("ctx", r.Track.ContextId);
                if (r.Kind == "counter")
                {
                    w.WriteString("unit", r.Unit.Length > 0 ? r.Unit : "value");
                    WriteSamples(w, "samples", r.Samples);
                }
                else
                {
                    if (r.Samples.Count > 0) WriteSamples(w, "depth", r.Samples);
                    w.WriteNumber("lanes", r.Lanes);
                    w.WriteStartArray("slices");
                    ulong last = 0;
                    foreach (var s in r.Slices)
                    {
                        var e = s.Event;
                        w.WriteNumberValue(s.Start - last);
                        w.WriteNumberValue(e.DurationCycles);
                        w.WriteNumberValue(Math.Min(s.Lane, MaxLanes - 1));
                        w.WriteNumberValue(Kind(e.Name, e.Category));
                        w.WriteNumberValue(Owner(e.ProcessId != 0 ? e.ProcessId : r.Track.ProcessId, e.ContextId));
                        WriteSafe(w, e.Id);
                        last = s.Start;
                    }
                    w.WriteEndArray();
                    w.WriteStartArray("instants"); // [time delta, kind, owner, id, value] in time order
                    last = 0;
                    foreach (var e in r.Instants.OrderBy(e => e.StartCycle))
                    {
                        w.WriteNumberValue(e.StartCycle - last);
                        w.WriteNumberValue(Kind(e.Name, e.Category));
                        w.WriteNumberValue(Owner(e.ProcessId, e.ContextId));
                        WriteSafe(w, e.Id);
                        w.WriteNumberValue(e.Value);
                        last = e.StartCycle;
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("kinds"); // [name, category, marker kind or "" for slices]
            foreach (var ((name, cat), _) in kinds.OrderBy(k => k.Value))
            {
                w.WriteStartArray();
                w.WriteStringValue(name);
                w.WriteStringValue(ChromeTraceWriter.CategoryName(cat));
                w.WriteStringValue(MarkerKind(new TraceEvent(TracePhase.Instant, 0, cat, name, 0)));
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("owners"); // [process id, context id]
            foreach (var ((pid, ctx), _) in owners.OrderBy(o => o.Value))
            {
                w.WriteStartArray();
                w.WriteNumberValue(pid);
                w.WriteNumberValue(ctx);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.GetBuffer(), 0, (int)ms.Length);
    }

    // [time delta, value] pairs in time order, repeats of the last value dropped.
    private static void WriteSamples(Utf8JsonWriter w, string name, List<TraceEvent> samples)
    {
        w.WriteStartArray(name);
        ulong last = 0;
        long? lastValue = null;
        foreach (var s in samples)
        {
            if (lastValue == s.Value) continue;
            w.WriteNumberValue(s.StartCycle - last);
            w.WriteNumberValue(s.Value);
            last = s.StartCycle;
            lastValue = s.Value;
        }
        w.WriteEndArray();
    }

    // Ids beyond 2^53 (fault addresses) as strings: JavaScript numbers would round them.
    private static void WriteSafe(Utf8JsonWriter w, ulong id)
    {
        if (id < (1UL << 53)) w.WriteNumberValue(id);
        else w.WriteStringValue(id.ToString(CultureInfo.InvariantCulture));
    }
}
