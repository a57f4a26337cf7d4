using System.Text.Json;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// Writes a <see cref="TraceSnapshot"/> in the Chrome/Perfetto trace-event JSON format (the "JSON Object
/// Format": <c>{"traceEvents":[…]}</c>), which ui.perfetto.dev and chrome://tracing open directly.
/// Mapping: each emulated process is a trace process (pid = process id + 1; pid 1 is the device), each track a
/// thread of its process named by "M" metadata events (engines sorted first); complete slices are "X", begin/end
/// "B"/"E", instants "i" (thread scope), counters "C". Timestamps are microseconds derived from device cycles at
/// the snapshot's clock — a deterministic run therefore gives a byte-identical file.
/// </summary>
public static class ChromeTraceWriter
{
    /// <summary>Writes the trace to <paramref name="output"/> (UTF-8).</summary>
    public static void Write(Stream output, TraceSnapshot trace)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(trace);
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartArray("traceEvents");
        WriteMetadata(w, trace);
        foreach (var e in trace.Events) WriteEvent(w, trace, e);
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

    /// <summary>The trace thread id of a track.</summary>
    public static int Tid(int track) => track + 1;

    private static void WriteMetadata(Utf8JsonWriter w, TraceSnapshot trace)
    {
        var named = new HashSet<uint>();
        foreach (var t in trace.Tracks)
        {
            if (named.Add(t.ProcessId))
            {
                Meta(w, "process_name", Pid(t.ProcessId), null, "name", t.ProcessId == 0 ? "device" : $"{t.ProcessName} (pid {t.ProcessId})");
                // The device process first, then processes in id order.
                Meta(w, "process_sort_index", Pid(t.ProcessId), null, "sort_index", (int)t.ProcessId);
            }
            Meta(w, "thread_name", Pid(t.ProcessId), Tid(t.Id), "name", t.Name);
            // Engines (hardware queues) above software queues inside a process, then in definition order.
            Meta(w, "thread_sort_index", Pid(t.ProcessId), Tid(t.Id), "sort_index", (t.Kind == TraceTrackKind.Engine ? 0 : 10_000) + t.Id);
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

    private static void WriteEvent(Utf8JsonWriter w, TraceSnapshot trace, in TraceEvent e)
    {
        if ((uint)e.Track >= (uint)trace.Tracks.Count) return; // a snapshot never holds one; a hand-built one may
        var track = trace.Tracks[e.Track];
        w.WriteStartObject();
        w.WriteString("name", e.Name);
        w.WriteString("cat", CategoryName(e.Category));
        w.WriteString("ph", e.Phase switch
        {
            TracePhase.Complete => "X",
            TracePhase.Begin => "B",
            TracePhase.End => "E",
            TracePhase.Instant => "i",
            _ => "C",
        });
        w.WriteNumber("ts", trace.ToMicroseconds(e.StartCycle));
        if (e.Phase == TracePhase.Complete) w.WriteNumber("dur", trace.ToMicroseconds(e.DurationCycles));
        w.WriteNumber("pid", Pid(track.ProcessId));
        w.WriteNumber("tid", Tid(track.Id));
        if (e.Phase == TracePhase.Instant) w.WriteString("s", "t");
        w.WriteStartObject("args");
        if (e.Phase == TracePhase.Counter)
        {
            w.WriteNumber(e.Name, e.Value);
        }
        else
        {
            w.WriteNumber("start_cycle", e.StartCycle);
            if (e.Phase == TracePhase.Complete) w.WriteNumber("cycles", e.DurationCycles);
            if (e.ProcessId != 0) w.WriteNumber("process", e.ProcessId);
            if (e.ContextId != 0) w.WriteNumber("context", e.ContextId);
            if (e.Id != 0) w.WriteNumber("id", e.Id);
            if (e.Value != 0) w.WriteNumber("value", e.Value);
        }
        w.WriteEndObject();
        w.WriteEndObject();
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
