using Coproc.Fast.Driver.Diagnostics.Perfetto;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// Writes a <see cref="TraceSnapshot"/> as a native Perfetto trace (<c>trace.perfetto-trace</c>: a protobuf
/// <c>Trace</c> of <c>TracePacket</c>s carrying TrackEvent data, schema subset in
/// <c>Diagnostics/Perfetto/perfetto_trace.proto</c>), which ui.perfetto.dev and trace_processor open with no JSON
/// conversion.
/// <para>
/// Tracks: one process track per emulated process (the device is pid 1, as in <see cref="ChromeTraceWriter"/>); under
/// it one named track per engine, context queue and device row — one per lane of <see cref="TraceLayout"/>, so
/// overlapping buffers are on sibling tracks ("game / frames", "game / frames #2") and begin/end pairs on one track
/// always nest — in explicit order (engines first); and one counter track per counter series, with its unit
/// (bytes for residency, a count of buffers for queue depth). Slices are <c>TYPE_SLICE_BEGIN</c>/<c>END</c> pairs,
/// instants <c>TYPE_INSTANT</c>, samples <c>TYPE_COUNTER</c>. Flows: the zero-length "submit" slice at a buffer's
/// submission carries <c>flow_ids</c>, its first engine slice <c>terminating_flow_ids</c>.
/// </para>
/// <para>
/// Timestamps are nanoseconds of device time (cycles scaled exactly by the snapshot's clock, floored). All packets
/// are on one trusted sequence and written in timestamp order (at one timestamp: slice ends, then begins, then
/// instants and counters), so the output is byte-identical for a deterministic run.
/// </para>
/// <para>
/// Packets are encoded straight into bytes (<c>Diagnostics/Perfetto/ProtoBuffer.cs</c>) in the field order and presence
/// the generated messages of <c>perfetto_trace.proto</c> would write (fields by number; every field that is set, even
/// when zero), one packet at a time, so a trace costs two small reused buffers and an index of its events, not an
/// object graph of every packet (docs/performance.md goal 9). The generated messages read the file back in the tests.
/// </para>
/// </summary>
public static class PerfettoTraceWriter
{
    /// <summary>The packet sequence every packet is written on.</summary>
    public const uint SequenceId = 1;

    // Track uuids: processes, lanes and counter series are numbered from these bases in definition order.
    private const ulong ProcessUuidBase = 0x1_0000;
    private const ulong LaneUuidBase = 0x100_0000;
    private const ulong CounterUuidBase = 0x200_0000;

    // Field numbers (perfetto_trace.proto).
    private const int TracePacketField = 1; // Trace.packet
    private const int PacketTimestamp = 8, PacketSequenceId = 10, PacketTrackEvent = 11, PacketSequenceFlags = 13,
        PacketTrackDescriptor = 60, PacketFirstOnSequence = 87;
    private const int TrackUuid = 1, TrackName = 2, TrackProcess = 3, TrackParentUuid = 5, TrackCounter = 8, TrackChildOrdering = 11,
        TrackSiblingOrderRank = 12, TrackDescription = 14;
    private const int ProcessPid = 1, ProcessName = 6;
    private const int CounterCategories = 2, CounterUnit = 3, CounterUnitName = 6;
    private const int EventDebugAnnotations = 4, EventType = 9, EventTrackUuid = 11, EventCategories = 22, EventName = 23,
        EventCounterValue = 30, EventFlowIds = 47, EventTerminatingFlowIds = 48;
    private const int AnnotationUintValue = 3, AnnotationIntValue = 4, AnnotationName = 10;

    private const int FlushBytes = 64 * 1024;

    /// <summary>Writes the trace to <paramref name="output"/>.</summary>
    public static void Write(Stream output, TraceSnapshot trace)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(trace);
        var layout = TraceLayout.For(trace);
        var w = new Writer(output);
        var lanes = Descriptors(layout, w, out var counterUuids);
        var entries = Events(layout);
        var events = trace.Events;
        foreach (var entry in entries)
        {
            var e = entry.Kind <= EntryKind.End ? layout.Slices[entry.Index].Event : events[entry.Index];
            var ev = w.Payload;
            switch (entry.Kind)
            {
                case EntryKind.Begin:
                {
                    var s = layout.Slices[entry.Index];
                    Annotate(w, e);
                    ev.WriteUInt64(EventType, (ulong)TrackEvent.Types.Type.SliceBegin);
                    ev.WriteUInt64(EventTrackUuid, lanes[s.Track][s.Lane]);
                    ev.WriteString(EventCategories, ChromeTraceWriter.CategoryName(e.Category));
                    ev.WriteString(EventName, e.Name);
                    if (s.FlowOut != 0) ev.WriteFixed64(EventFlowIds, (ulong)s.FlowOut);
                    if (s.FlowIn != 0) ev.WriteFixed64(EventTerminatingFlowIds, (ulong)s.FlowIn);
                    break;
                }
                case EntryKind.End:
                {
                    var s = layout.Slices[entry.Index];
                    ev.WriteUInt64(EventType, (ulong)TrackEvent.Types.Type.SliceEnd);
                    ev.WriteUInt64(EventTrackUuid, lanes[s.Track][s.Lane]);
                    break;
                }
                case EntryKind.Instant:
                    Annotate(w, e);
                    ev.WriteUInt64(EventType, (ulong)TrackEvent.Types.Type.Instant);
                    ev.WriteUInt64(EventTrackUuid, lanes[e.Track][0]);
                    ev.WriteString(EventCategories, ChromeTraceWriter.CategoryName(e.Category));
                    ev.WriteString(EventName, e.Name);
                    break;
                default:
                    ev.WriteUInt64(EventType, (ulong)TrackEvent.Types.Type.Counter);
                    ev.WriteUInt64(EventTrackUuid, counterUuids[(e.Track, e.Name)]);
                    ev.WriteInt64(EventCounterValue, e.Value);
                    break;
            }
            w.Packet(entry.Ts, PacketTrackEvent);
        }
        w.Flush();
    }

    /// <summary>Nanoseconds of device time of <paramref name="cycles"/> at the trace's clock.</summary>
    public static ulong Nanoseconds(TraceSnapshot trace, ulong cycles)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return (ulong)((UInt128)cycles * 1_000_000_000UL / trace.ClockHz);
    }

    // The output: Trace.packet after Trace.packet, each built in Packet from the payload (a TrackEvent or a
    // TrackDescriptor) and written behind its length; flushed to the stream in blocks.
    private sealed class Writer(Stream output)
    {
        private readonly ProtoBuffer _out = new(FlushBytes + 4096), _packet = new();
        private bool _first = true;

        public ProtoBuffer Payload { get; } = new();

        public ProtoBuffer Nested { get; } = new();

        // Fields by number, as the generated TracePacket writes them: timestamp, the sequence id, the track event,
        // the sequence flags (first packet only), the track descriptor, first_packet_on_sequence (first packet only).
        public void Packet(ulong timestamp, int payloadField)
        {
            var p = _packet;
            p.WriteUInt64(PacketTimestamp, timestamp);
            p.WriteUInt64(PacketSequenceId, SequenceId);
            if (payloadField == PacketTrackEvent) p.WriteMessage(PacketTrackEvent, Payload);
            if (_first) p.WriteUInt64(PacketSequenceFlags, (ulong)TracePacket.Types.SequenceFlags.SeqIncrementalStateCleared);
            if (payloadField == PacketTrackDescriptor) p.WriteMessage(PacketTrackDescriptor, Payload);
            if (_first) p.WriteBool(PacketFirstOnSequence, true);
            _first = false;
            _out.WriteMessage(TracePacketField, p);
            p.Clear();
            Payload.Clear();
            if (_out.Length >= FlushBytes) Flush();
        }

        public void Flush()
        {
            output.Write(_out.Written);
            _out.Clear();
        }
    }

    private static ulong[][] Descriptors(TraceLayout layout, Writer w, out Dictionary<(int Track, string Name), ulong> counterUuids)
    {
        var trace = layout.Trace;
        var d = w.Payload;
        var processes = new SortedDictionary<uint, string>();
        foreach (var t in trace.Tracks) processes.TryAdd(t.ProcessId, t.ProcessId == 0 ? "device" : t.ProcessName);
        foreach (var (pid, name) in processes)
        {
            d.WriteUInt64(TrackUuid, ProcessUuidBase + pid);
            w.Nested.WriteInt64(ProcessPid, ChromeTraceWriter.Pid(pid));
            w.Nested.WriteString(ProcessName, pid == 0 ? name : $"{name} (pid {pid})");
            d.WriteMessage(TrackProcess, w.Nested);
            w.Nested.Clear();
            d.WriteUInt64(TrackChildOrdering, (ulong)TrackDescriptor.Types.ChildTracksOrdering.Explicit);
            w.Packet(0, PacketTrackDescriptor);
        }

        var lanes = new ulong[trace.Tracks.Count][];
        ulong next = LaneUuidBase;
        foreach (var t in trace.Tracks)
        {
            lanes[t.Id] = new ulong[layout.LaneCount[t.Id]];
            for (int lane = 0; lane < lanes[t.Id].Length; lane++)
            {
                lanes[t.Id][lane] = next++;
                d.WriteUInt64(TrackUuid, lanes[t.Id][lane]);
                d.WriteString(TrackName, ChromeTraceWriter.LaneName(t.Name, lane));
                d.WriteUInt64(TrackParentUuid, ProcessUuidBase + t.ProcessId);
                d.WriteInt64(TrackSiblingOrderRank, (t.Kind == TraceTrackKind.Engine ? 0 : 1_000_000) + t.Id * 1_000 + Math.Min(lane, 999));
                d.WriteString(TrackDescription, t.Kind switch
                {
                    TraceTrackKind.Engine => "engine hardware queue: what ran on the engine",
                    TraceTrackKind.ContextQueue => "context software queue: buffers from submission to completion",
                    TraceTrackKind.Counter => "counter samples",
                    _ => "device-wide instants",
                });
                w.Packet(0, PacketTrackDescriptor);
            }
        }

        counterUuids = [];
        ulong nextCounter = CounterUuidBase;
        foreach (var e in trace.Events)
        {
            if (e.Phase != TracePhase.Counter || (uint)e.Track >= (uint)trace.Tracks.Count) continue;
            if (counterUuids.ContainsKey((e.Track, e.Name))) continue;
            var t = trace.Tracks[e.Track];
            ulong uuid = nextCounter++;
            counterUuids[(e.Track, e.Name)] = uuid;
            var unit = ChromeTraceWriter.CounterUnit(e.Category);
            d.WriteUInt64(TrackUuid, uuid);
            d.WriteString(TrackName, e.Name);
            d.WriteUInt64(TrackParentUuid, ProcessUuidBase + t.ProcessId);
            w.Nested.WriteString(CounterCategories, ChromeTraceWriter.CategoryName(e.Category));
            w.Nested.WriteUInt64(CounterUnit, (ulong)(unit == "bytes" ? CounterDescriptor.Types.Unit.SizeBytes : CounterDescriptor.Types.Unit.Count));
            w.Nested.WriteString(CounterUnitName, unit);
            d.WriteMessage(TrackCounter, w.Nested);
            w.Nested.Clear();
            d.WriteInt64(TrackSiblingOrderRank, 2_000_000 + (int)(uuid - CounterUuidBase));
            w.Packet(0, PacketTrackDescriptor);
        }
        return lanes;
    }

    private enum EntryKind : byte { Begin, End, Instant, Counter }

    // One packet to write: its timestamp, its order key among packets of that timestamp, and what it is (a slice's begin
    // or end: an index into the layout's slices; an instant or counter: an index into the trace's events).
    private readonly record struct Entry(ulong Ts, long Key, EntryKind Kind, int Index);

    // Sorted by timestamp, then ends < begins (in layout order) < instants/counters (in event order). Keys are unique.
    private static Entry[] Events(TraceLayout layout)
    {
        var trace = layout.Trace;
        var result = new List<Entry>(layout.Slices.Count * 2 + trace.Events.Count);
        const long Ends = 0, Begins = 1L << 40, Marks = 2L << 40;
        for (int i = 0; i < layout.Slices.Count; i++)
        {
            var s = layout.Slices[i];
            ulong start = Nanoseconds(trace, s.Start), end = Nanoseconds(trace, s.End);
            result.Add(new Entry(start, Begins + 2L * i, EntryKind.Begin, i));
            // A zero-length slice ends right after it begins; a longer one among the ends of its timestamp.
            result.Add(new Entry(end, end == start ? Begins + 2L * i + 1 : Ends + i, EntryKind.End, i));
        }
        var events = trace.Events;
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if ((uint)e.Track >= (uint)trace.Tracks.Count) continue;
            if (e.Phase is TracePhase.Instant or TracePhase.Counter)
                result.Add(new Entry(Nanoseconds(trace, e.StartCycle), Marks + i + 1, e.Phase == TracePhase.Instant ? EntryKind.Instant : EntryKind.Counter, i));
        }
        var sorted = result.ToArray();
        sorted.AsSpan().Sort(new EntryOrder());
        return sorted;
    }

    // A struct comparer: the sort's comparisons are inlined instead of called through a delegate.
    private readonly struct EntryOrder : IComparer<Entry>
    {
        public int Compare(Entry a, Entry b) => a.Ts != b.Ts ? a.Ts.CompareTo(b.Ts) : a.Key.CompareTo(b.Key);
    }

    // The debug annotations of an event, each a DebugAnnotation (value, then name: fields by number).
    private static void Annotate(Writer w, in TraceEvent e)
    {
        Annotation(w, "start_cycle", e.StartCycle);
        if (e.Phase == TracePhase.Complete) Annotation(w, "cycles", e.DurationCycles);
        if (e.ProcessId != 0) Annotation(w, "process", e.ProcessId);
        if (e.ContextId != 0) Annotation(w, "context", e.ContextId);
        if (e.Id != 0) Annotation(w, "id", e.Id);
        if (e.Value != 0)
        {
            w.Nested.WriteInt64(AnnotationIntValue, e.Value);
            w.Nested.WriteString(AnnotationName, "value");
            w.Payload.WriteMessage(EventDebugAnnotations, w.Nested);
            w.Nested.Clear();
        }
    }

    private static void Annotation(Writer w, string name, ulong value)
    {
        w.Nested.WriteUInt64(AnnotationUintValue, value);
        w.Nested.WriteString(AnnotationName, name);
        w.Payload.WriteMessage(EventDebugAnnotations, w.Nested);
        w.Nested.Clear();
    }
}
