using System.Globalization;
using System.Net;
using System.Text;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// Writes a GPUView-like picture of a <see cref="TraceSnapshot"/> as one self-contained HTML file (inline CSS and
/// SVG, no scripts, no network): the per-context software queues stacked over time (grouped by process), above
/// the engines' hardware queues, then counter rows. Slices are coloured per process; hovering one shows its
/// details through an SVG <c>title</c>. The markup is also well-formed XML, so tests can parse it.
/// </summary>
public static class TimelineHtmlWriter
{
    /// <summary>Drawing width of the time axis, in SVG units.</summary>
    public const int PlotWidth = 1200;

    private const int RowHeight = 18;
    private const int LaneHeight = 9;
    private const int MaxLanes = 16;
    private const int InstantStrip = 9; // rows of a track's instant markers under its slices

    // Distinguishable hues, assigned to processes in id order so the same run gets the same colours.
    private static readonly string[] Palette =
        ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"];

    /// <summary>Writes the timeline to <paramref name="output"/> (UTF-8).</summary>
    /// <param name="output">Destination.</param>
    /// <param name="trace">The recorded trace.</param>
    /// <param name="title">Page title (e.g. the scenario's name).</param>
    public static void Write(TextWriter output, TraceSnapshot trace, string title)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(title);
        ulong end = Math.Max(1, trace.EndCycle);
        var colours = AssignColours(trace);
        var byTrack = new List<TraceEvent>[trace.Tracks.Count];
        for (int i = 0; i < byTrack.Length; i++) byTrack[i] = [];
        foreach (var e in trace.Events)
            if ((uint)e.Track < (uint)byTrack.Length) byTrack[e.Track].Add(e);

        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n<title>").Append(Esc(title)).Append("</title>\n");
        sb.Append("<style>\nbody{font:12px sans-serif;margin:12px;background:#fafafa}\n.row{display:flex;align-items:center;margin:1px 0}\n.label{width:220px;flex:none;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\n")
          .Append("svg.lane{flex:none;background:#fff;border-bottom:1px solid #eee}\nh2{font-size:13px;margin:10px 0 4px}\n")
          .Append(".swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}\n</style>\n</head>\n<body>\n");
        sb.Append("<h1>").Append(Esc(title)).Append("</h1>\n<p>Time runs left to right over ")
          .Append(Num(trace.ToMicroseconds(end) / 1000)).Append(" ms of device time (")
          .Append(end.ToString(CultureInfo.InvariantCulture)).Append(" cycles at ")
          .Append(trace.ClockHz.ToString(CultureInfo.InvariantCulture)).Append(" Hz). Hover a slice for details.</p>\n");
        sb.Append("<p class=\"legend\">");
        foreach (var (pid, (name, colour)) in colours)
            sb.Append("<span class=\"swatch\" style=\"background:").Append(colour).Append("\"></span>").Append(Esc(name));
        sb.Append(" &#160; markers:");
        foreach (var (label, category) in new[] { ("fault", TraceCategory.Fault), ("flip", TraceCategory.Flip), ("preemption", TraceCategory.Preemption), ("vsync", TraceCategory.Vsync), ("interrupt / other", TraceCategory.Other) })
            sb.Append("<span class=\"swatch\" style=\"background:").Append(InstantColour(category)).Append("\"></span>").Append(label);
        sb.Append("</p>\n");

        Axis(sb, trace, end);
        Section(sb, trace, byTrack, colours, end, TraceTrackKind.ContextQueue, "Software queues (per context)", "context");
        Section(sb, trace, byTrack, colours, end, TraceTrackKind.Engine, "Hardware queues (per engine)", "engine");
        Section(sb, trace, byTrack, colours, end, TraceTrackKind.Device, "Device", "device");
        Section(sb, trace, byTrack, colours, end, TraceTrackKind.Counter, "Counters", "counter");
        if (trace.Dropped > 0)
            sb.Append("<p>").Append(trace.Dropped.ToString(CultureInfo.InvariantCulture)).Append(" events were dropped (recorder full).</p>\n");
        sb.Append("</body>\n</html>\n");
        output.Write(sb.ToString());
    }

    private static SortedDictionary<uint, (string Name, string Colour)> AssignColours(TraceSnapshot trace)
    {
        var names = new SortedDictionary<uint, string>();
        foreach (var t in trace.Tracks)
            if (t.ProcessId != 0) names.TryAdd(t.ProcessId, t.ProcessName);
        var result = new SortedDictionary<uint, (string, string)>();
        int i = 0;
        foreach (var (pid, name) in names) result[pid] = (name, Palette[i++ % Palette.Length]);
        return result;
    }

    private static void Section(StringBuilder sb, TraceSnapshot trace, List<TraceEvent>[] byTrack,
        SortedDictionary<uint, (string Name, string Colour)> colours, ulong end, TraceTrackKind kind, string heading, string cssKind)
    {
        var rows = trace.Tracks.Where(t => t.Kind == kind).OrderBy(t => kind == TraceTrackKind.ContextQueue ? t.ProcessId : 0).ThenBy(t => t.Id).ToList();
        if (rows.Count == 0) return;
        sb.Append("<h2>").Append(Esc(heading)).Append("</h2>\n");
        foreach (var t in rows)
        {
            List<Placed> slices = [];
            int lanes = 1;
            if (kind != TraceTrackKind.Counter)
            {
                slices = Resolve(byTrack[t.Id], end);
                lanes = AssignLanes(slices);
            }
            bool instants = kind != TraceTrackKind.Counter && byTrack[t.Id].Exists(e => e.Phase == TracePhase.Instant);
            int slicesHeight = lanes == 1 ? RowHeight : lanes * LaneHeight + 4;
            // Instants get a strip of their own under the slices, so hundreds of markers never hide the work.
            int height = slicesHeight + (instants && slices.Count > 0 ? InstantStrip : 0);
            sb.Append("<div class=\"row ").Append(cssKind).Append("\" data-track=\"").Append(t.Id.ToString(CultureInfo.InvariantCulture))
              .Append("\" data-process=\"").Append(t.ProcessId.ToString(CultureInfo.InvariantCulture)).Append("\" data-lanes=\"")
              .Append(lanes.ToString(CultureInfo.InvariantCulture)).Append("\">")
              .Append("<span class=\"label\">").Append(Esc(t.Name)).Append("</span>")
              .Append("<svg class=\"lane\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").Append(PlotWidth).Append("\" height=\"").Append(height)
              .Append("\" viewBox=\"0 0 ").Append(PlotWidth).Append(' ').Append(height).Append("\">");
            if (kind == TraceTrackKind.Counter)
            {
                CounterLine(sb, byTrack[t.Id], end);
            }
            else
            {
                int laneHeight = lanes == 1 ? RowHeight - 4 : LaneHeight - 1;
                foreach (var p in slices) Rect(sb, trace, p, 2 + p.Lane * LaneHeight, laneHeight, colours, end, t);
                int top = slices.Count > 0 ? slicesHeight : 2;
                int size = slices.Count > 0 ? InstantStrip - 2 : RowHeight - 4;
                foreach (var e in byTrack[t.Id])
                {
                    if (e.Phase != TracePhase.Instant) continue;
                    double x = X(e.StartCycle, end);
                    // A small triangle coloured by kind: faults red, flips blue, preemptions orange, the rest grey.
                    sb.Append("<path d=\"M").Append(Num(x)).Append(' ').Append(top).Append(" l3 ").Append(size).Append(" l-6 0 z\" fill=\"")
                      .Append(InstantColour(e.Category)).Append("\"><title>")
                      .Append(Esc(Details(trace, e, t))).Append("</title></path>");
                }
            }
            sb.Append("</svg></div>\n");
        }
    }

    private static string InstantColour(TraceCategory category) => category switch
    {
        TraceCategory.Fault => "#d62728",
        TraceCategory.Flip => "#1f77b4",
        TraceCategory.Preemption => "#ff7f0e",
        TraceCategory.Vsync => "#9467bd",
        _ => "#666",
    };

    /// <summary>A time axis: ten ticks labelled in milliseconds of device time.</summary>
    private static void Axis(StringBuilder sb, TraceSnapshot trace, ulong end)
    {
        sb.Append("<div class=\"row axis\"><span class=\"label\">time (ms)</span><svg class=\"lane\" xmlns=\"http://www.w3.org/2000/svg\" width=\"")
          .Append(PlotWidth).Append("\" height=\"16\" viewBox=\"0 0 ").Append(PlotWidth).Append(" 16\">");
        for (int i = 0; i <= 10; i++)
        {
            double x = PlotWidth * i / 10.0;
            ulong cycle = end / 10 * (ulong)i;
            sb.Append("<line x1=\"").Append(Num(x)).Append("\" y1=\"10\" x2=\"").Append(Num(x)).Append("\" y2=\"16\" stroke=\"#999\" />")
              .Append("<text x=\"").Append(Num(Math.Min(x + 2, PlotWidth - 40))).Append("\" y=\"9\" font-size=\"9\" fill=\"#555\">")
              .Append(Num(trace.ToMicroseconds(cycle) / 1000)).Append("</text>");
        }
        sb.Append("</svg></div>\n");
    }

    /// <summary>A slice with its resolved extent and the lane (sub-row) it is drawn in.</summary>
    private sealed class Placed(TraceEvent e, ulong start, ulong duration)
    {
        public TraceEvent Event { get; } = e;
        public ulong Start { get; } = start;
        public ulong Duration { get; } = duration;
        public int Lane { get; set; }
    }

    /// <summary>Complete slices as they are; begin/end pairs matched innermost-first; a slice still open runs to the end.</summary>
    private static List<Placed> Resolve(List<TraceEvent> events, ulong end)
    {
        var placed = new List<Placed>();
        var open = new Stack<TraceEvent>();
        foreach (var e in events)
        {
            switch (e.Phase)
            {
                case TracePhase.Complete:
                    placed.Add(new Placed(e, e.StartCycle, e.DurationCycles));
                    break;
                case TracePhase.Begin:
                    open.Push(e);
                    break;
                case TracePhase.End when open.Count > 0:
                    var b = open.Pop();
                    placed.Add(new Placed(b, b.StartCycle, e.StartCycle >= b.StartCycle ? e.StartCycle - b.StartCycle : 0));
                    break;
            }
        }
        while (open.Count > 0)
        {
            var b = open.Pop();
            placed.Add(new Placed(b, b.StartCycle, end - Math.Min(end, b.StartCycle)));
        }
        return placed;
    }

    /// <summary>
    /// Stacks overlapping slices GPUView-style: each goes to the first lane free at its start (greedy interval
    /// packing in start order), so a software queue with three buffers outstanding shows three boxes stacked.
    /// Returns the lane count (at most <see cref="MaxLanes"/>; deeper queues share the last lane).
    /// </summary>
    private static int AssignLanes(List<Placed> slices)
    {
        var laneEnds = new List<ulong>();
        foreach (var p in slices.OrderBy(p => p.Start).ThenBy(p => p.Event.StartCycle))
        {
            int lane = laneEnds.FindIndex(e => e <= p.Start);
            if (lane < 0)
            {
                lane = Math.Min(laneEnds.Count, MaxLanes - 1);
                if (lane == laneEnds.Count) laneEnds.Add(0);
            }
            p.Lane = lane;
            laneEnds[lane] = Math.Max(laneEnds[lane], p.Start + Math.Max(1, p.Duration));
        }
        return Math.Max(1, laneEnds.Count);
    }

    private static void Rect(StringBuilder sb, TraceSnapshot trace, Placed p, int y, int height,
        SortedDictionary<uint, (string Name, string Colour)> colours, ulong end, TraceTrack track)
    {
        var e = p.Event;
        uint pid = e.ProcessId != 0 ? e.ProcessId : track.ProcessId;
        string colour = colours.TryGetValue(pid, out var c) ? c.Colour : "#888";
        if (e.Category == TraceCategory.PagingBuffer) colour = "#7f7f7f";
        double x = X(p.Start, end), w = Math.Max(1.0, X(p.Start + p.Duration, end) - x);
        var shown = e with { StartCycle = p.Start, DurationCycles = p.Duration };
        sb.Append("<rect x=\"").Append(Num(x)).Append("\" y=\"").Append(y).Append("\" width=\"").Append(Num(w)).Append("\" height=\"").Append(height)
          .Append("\" fill=\"").Append(colour).Append("\" stroke=\"#fff\" stroke-width=\"0.5\"><title>").Append(Esc(Details(trace, shown, track))).Append("</title></rect>");
    }

    private static void CounterLine(StringBuilder sb, List<TraceEvent> events, ulong end)
    {
        long max = 1;
        foreach (var e in events) max = Math.Max(max, e.Value);
        sb.Append("<polyline fill=\"none\" stroke=\"#4e79a7\" points=\"");
        double lastY = RowHeight - 1;
        foreach (var e in events)
        {
            double x = X(e.StartCycle, end), y = RowHeight - 1 - (RowHeight - 3) * (double)Math.Max(0, e.Value) / max;
            sb.Append(Num(x)).Append(',').Append(Num(lastY)).Append(' ').Append(Num(x)).Append(',').Append(Num(y)).Append(' ');
            lastY = y;
        }
        sb.Append(PlotWidth).Append(',').Append(Num(lastY)).Append("\"><title>max ").Append(max.ToString(CultureInfo.InvariantCulture))
          .Append("</title></polyline>");
    }

    private static string Details(TraceSnapshot trace, in TraceEvent e, TraceTrack track)
    {
        var s = new StringBuilder();
        s.Append(e.Name).Append(" [").Append(ChromeTraceWriter.CategoryName(e.Category)).Append("] on ").Append(track.Name)
         .Append(": start ").Append(Num(trace.ToMicroseconds(e.StartCycle))).Append(" µs");
        if (e.Phase is TracePhase.Complete or TracePhase.Begin)
            s.Append(", ").Append(Num(trace.ToMicroseconds(e.DurationCycles))).Append(" µs (").Append(e.DurationCycles.ToString(CultureInfo.InvariantCulture)).Append(" cycles)");
        if (e.ProcessId != 0) s.Append(", process ").Append(e.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (e.ContextId != 0) s.Append(", context ").Append(e.ContextId.ToString(CultureInfo.InvariantCulture));
        if (e.Id != 0) s.Append(", id ").Append(e.Id.ToString(CultureInfo.InvariantCulture));
        if (e.Value != 0) s.Append(", value ").Append(e.Value.ToString(CultureInfo.InvariantCulture));
        return s.ToString();
    }

    private static double X(ulong cycle, ulong end) => (double)Math.Min(cycle, end) * PlotWidth / end;

    private static string Num(double v) => Math.Round(v, 3).ToString("0.###", CultureInfo.InvariantCulture);

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
