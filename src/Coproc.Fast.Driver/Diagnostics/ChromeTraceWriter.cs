using System.Globalization;
using System.Text.Json;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// Writes a <see cref="TraceSnapshot"/> in the Chrome/Perfetto trace-event JSON format (the "JSON Object
/// Format": <c>{"traceEvents":[…]}</c>), which ui.perfetto.dev and chrome://tracing open directly.
/// <para>
/// Mapping: each emulated process is a trace process (pid = process id + 1; pid 1 is the device). Each track is laid
/// out in lanes by <see cref="TraceLayout"/> and every lane is a thread of its process, named by "M" metadata
/// events ("game / frames", then "game / frames #2", …; engines sorted first), so the complete ("X") slices of one
/// thread never overlap — the nesting rule of the format, which Perfetto enforces by dropping slices. Begin/end
/// pairs are written as complete slices. Instants are "i" (thread scope, on the track's first lane). Counters are
/// "C" events whose name is the series and whose single argument key is its unit ("bytes", "buffers"), so a viewer
/// shows "local memory resident bytes". Flows (v2: <c>bind_id</c> with <c>flow_out</c>/<c>flow_in</c>) run from a
/// zero-length "submit" slice at a buffer's submission to its first slice on the engine.
/// </para>
/// <para>
/// Timestamps are microseconds computed exactly (decimal) from device cycles at the snapshot's clock and rounded to
/// picoseconds, with a slice's duration taken as end minus start after rounding, so a slice that ends where the next
/// begins still does so in the file. Ids (buffer sequence numbers, fault addresses) and flow ids are strings, so
/// no JavaScript reader loses bits past 2^53. A deterministic run gives a byte-identical file.
/// </para>
/// </summary>
public static class ChromeTraceWriter
{
    // Largest integer a JavaScript number holds exactly.
    private const long MaxSafeInteger = (1L << 53) - 1;

    /// <summary>Writes the trace to <paramref name="output"/> (UTF-8).</summary>
    public static void Write(Stream output, TraceSnapshot trace)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(trace);
        var layout = TraceLayout.For(trace);
        var tids = LaneTids(layout);
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartArray("traceEvents");
        WriteMetadata(w, layout, tids);
        foreach (var s in layout.Slices) WriteSlice(w, trace, s, tids);
        foreach (var e in trace.Events)
            if ((uint)e.Track < (uint)trace.Tracks.Count && e.Phase is TracePhase.Instant or TracePhase.Counter) WriteMark(w, trace, e);
        w.WriteEndArray();
        w.WriteStartObject("otherData");
        w.WriteString("generator", "Coproc.Fast");
        w.WriteNumber("clock_hz", trace.ClockHz);
        w.WriteNumber("dropped_events", trace.Dropped);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>The trace process id of an emulated process (0, the device, becomes 1).</summary>
    public static int Pid(uint processId) => (int)processId + 1;

    /// <summary>The trace thread id of a track's first lane (further lanes get ids after every track's).</summary>
    public static int Tid(int track) => track + 1;

    /// <summary>The unit a counter series is written in, from its category.</summary>
    public static string CounterUnit(TraceCategory category) => category switch
    {
        TraceCategory.Residency => "bytes",
        TraceCategory.QueueDepth => "buffers",
        _ => "value",
    };

    // tids[track][lane]: lane 0 is Tid(track); lanes past it are numbered after the last track, in track order.
    private static int[][] LaneTids(TraceLayout layout)
    {
        var tracks = layout.Trace.Tracks;
        var tids = new int[tracks.Count][];
        int next = tracks.Count + 1;
        for (int t = 0; t < tracks.Count; t++)
        {
            tids[t] = new int[layout.LaneCount[t]];
            tids[t][0] = Tid(t);
            for (int l = 1; l < tids[t].Length; l++) tids[t][l] = next++;
        }
        return tids;
    }

    /// <summary>The display name of a track's lane: the track's name, then "name #2", "name #3", ….</summary>
    public static string LaneName(string trackName, int lane) =>
        lane == 0 ? trackName : $"{trackName} #{(lane + 1).ToString(CultureInfo.InvariantCulture)}";

    private static void WriteMetadata(Utf8JsonWriter w, TraceLayout layout, int[][] tids)
    {
        var named = new HashSet<uint>();
        foreach (var t in layout.Trace.Tracks)
        {
            if (named.Add(t.ProcessId))
            {
                Meta(w, "process_name", Pid(t.ProcessId), null, "name", t.ProcessId == 0 ? "device" : $"{t.ProcessName} (pid {t.ProcessId})");
                // The device process first, then processes in id order.
                Meta(w, "process_sort_index", Pid(t.ProcessId), null, "sort_index", (int)t.ProcessId);
            }
            for (int lane = 0; lane < tids[t.Id].Length; lane++)
            {
                Meta(w, "thread_name", Pid(t.ProcessId), tids[t.Id][lane], "name", LaneName(t.Name, lane));
                // Engines (hardware queues) above software queues inside a process, then in definition order, lanes together.
                Meta(w, "thread_sort_index", Pid(t.ProcessId), tids[t.Id][lane], "sort_index",
                    (t.Kind == TraceTrackKind.Engine ? 0 : 1_000_000) + t.Id * 1_000 + Math.Min(lane, 999));
            }
        }
    }

    private static void Meta(Utf8JsonWriter w, string name, int pid, int? tid, string argName, string value)
    {
        BeginMeta(w, name, pid, tid);
        w.WriteString(argName, value);
        EndMeta(w);
    }

    private static void Meta(Utf8JsonWriter w, string name, int pid, int? tid, string argName, int value)
    {
        BeginMeta(w, name, pid, tid);
        w.WriteNumber(argName, value);
        EndMeta(w);
    }

    // A metadata ("M") event: name, pid, optional tid, then an args object holding one value.
    private static void BeginMeta(Utf8JsonWriter w, string name, int pid, int? tid)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("ph", "M");
        w.WriteNumber("pid", pid);
        if (tid is int t) w.WriteNumber("tid", t);
        w.WriteStartObject("args");
    }

    private static void EndMeta(Utf8JsonWriter w)
    {
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Microseconds of <paramref name="cycles"/> at the trace's clock, exact to the picosecond.</summary>
    internal static decimal Micros(TraceSnapshot trace, ulong cycles) =>
        Math.Round((decimal)cycles * 1_000_000m / trace.ClockHz, 6, MidpointRounding.ToEven);

    private static void WriteSlice(Utf8JsonWriter w, TraceSnapshot trace, TraceLayout.Slice s, int[][] tids)
    {
        var e = s.Event;
        var track = trace.Tracks[s.Track];
        w.WriteStartObject();
        w.WriteString("name", e.Name);
        w.WriteString("cat", CategoryName(e.Category));
        w.WriteString("ph", "X");
        decimal ts = Micros(trace, s.Start);
        w.WriteNumber("ts", ts);
        w.WriteNumber("dur", Micros(trace, s.End) - ts);
        w.WriteNumber("pid", Pid(track.ProcessId));
        w.WriteNumber("tid", tids[s.Track][s.Lane]);
        if (s.FlowOut != 0 || s.FlowIn != 0)
        {
            w.WriteString("bind_id", FlowId(s.FlowOut != 0 ? s.FlowOut : s.FlowIn));
            w.WriteBoolean(s.FlowOut != 0 ? "flow_out" : "flow_in", true);
        }
        WriteArgs(w, e);
        w.WriteEndObject();
    }

    /// <summary>The string id of flow <paramref name="flow"/> (1-based).</summary>
    public static string FlowId(int flow) => "flow-" + flow.ToString(CultureInfo.InvariantCulture);

    private static void WriteMark(Utf8JsonWriter w, TraceSnapshot trace, in TraceEvent e)
    {
        var track = trace.Tracks[e.Track];
        w.WriteStartObject();
        w.WriteString("name", e.Name);
        w.WriteString("cat", CategoryName(e.Category));
        w.WriteString("ph", e.Phase == TracePhase.Instant ? "i" : "C");
        w.WriteNumber("ts", Micros(trace, e.StartCycle));
        w.WriteNumber("pid", Pid(track.ProcessId));
        w.WriteNumber("tid", Tid(track.Id));
        if (e.Phase == TracePhase.Instant)
        {
            w.WriteString("s", "t");
            WriteArgs(w, e);
        }
        else
        {
            w.WriteStartObject("args");
            WriteSafe(w, CounterUnit(e.Category), e.Value);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void WriteArgs(Utf8JsonWriter w, in TraceEvent e)
    {
        w.WriteStartObject("args");
        w.WriteNumber("start_cycle", e.StartCycle);
        if (e.Phase == TracePhase.Complete) w.WriteNumber("cycles", e.DurationCycles);
        if (e.ProcessId != 0) w.WriteNumber("process", e.ProcessId);
        if (e.ContextId != 0) w.WriteNumber("context", e.ContextId);
        if (e.Id != 0) w.WriteString("id", e.Id.ToString(CultureInfo.InvariantCulture));
        if (e.Value != 0) WriteSafe(w, "value", e.Value);
        w.WriteEndObject();
    }

    // A number when a JavaScript reader keeps it exactly, else its decimal string.
    private static void WriteSafe(Utf8JsonWriter w, string name, long value)
    {
        if (value is >= -MaxSafeInteger and <= MaxSafeInteger) w.WriteNumber(name, value);
        else w.WriteString(name, value.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The trace-event category string of a <see cref="TraceCategory"/>.</summary>
    public static string CategoryName(TraceCategory category) => category switch
    {
        TraceCategory.DmaBuffer => "dma_buffer",
        TraceCategory.PagingBuffer => "paging_buffer",
        TraceCategory.Fault => "fault",
        TraceCategory.Flip => "flip",
        TraceCategory.Interrupt => "interrupt",
        TraceCategory.Preemption => "preemption",
        TraceCategory.Residency => "residency",
        TraceCategory.QueueDepth => "queue_depth",
        TraceCategory.Vsync => "vsync",
        _ => "other",
    };
}
