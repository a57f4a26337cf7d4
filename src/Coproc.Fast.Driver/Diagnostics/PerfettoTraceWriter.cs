using Coproc.Fast.Driver.Diagnostics.Perfetto;
using Google.Protobuf;

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
/// </summary>
public static class PerfettoTraceWriter
{
    /// <summary>The packet sequence every packet is written on.</summary>
    public const uint SequenceId = 1;

    // Track uuids: processes, lanes and counter series are numbered from these bases in definition order.
    private const ulong ProcessUuidBase = 0x1_0000;
    private const ulong LaneUuidBase = 0x100_0000;
    private const ulong CounterUuidBase = 0x200_0000;

    /// <summary>Writes the trace to <paramref name="output"/>.</summary>
    public static void Write(Stream output, TraceSnapshot trace)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(trace);
        var layout = TraceLayout.Build(trace);
        var coded = new CodedOutputStream(output, leaveOpen: true);
        bool first = true;
        void Put(TracePacket packet)
        {
            packet.TrustedPacketSequenceId = SequenceId;
            if (first)
            {
                packet.FirstPacketOnSequence = true;
                packet.SequenceFlags = (uint)TracePacket.Types.SequenceFlags.SeqIncrementalStateCleared;
                first = false;
            }
            coded.WriteTag(Trace.PacketFieldNumber, WireFormat.WireType.LengthDelimited);
            coded.WriteMessage(packet);
        }

        var laneUuids = Descriptors(layout, out var counterUuids, out var descriptors);
        foreach (var d in descriptors) Put(new TracePacket { Timestamp = 0, TrackDescriptor = d });
        foreach (var (_, _, packet) in Events(layout, laneUuids, counterUuids)) Put(packet);
        coded.Flush();
    }

    /// <summary>Nanoseconds of device time of <paramref name="cycles"/> at the trace's clock.</summary>
    public static ulong Nanoseconds(TraceSnapshot trace, ulong cycles)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return (ulong)((UInt128)cycles * 1_000_000_000UL / trace.ClockHz);
    }

    private static ulong[][] Descriptors(TraceLayout layout, out Dictionary<(int Track, string Name), ulong> counterUuids,
        out List<TrackDescriptor> descriptors)
    {
        var trace = layout.Trace;
        descriptors = [];
        var processes = new SortedDictionary<uint, string>();
        foreach (var t in trace.Tracks) processes.TryAdd(t.ProcessId, t.ProcessId == 0 ? "device" : t.ProcessName);
        foreach (var (pid, name) in processes)
            descriptors.Add(new TrackDescriptor
            {
                Uuid = ProcessUuidBase + pid,
                Process = new ProcessDescriptor { Pid = ChromeTraceWriter.Pid(pid), ProcessName = pid == 0 ? name : $"{name} (pid {pid})" },
                ChildOrdering = TrackDescriptor.Types.ChildTracksOrdering.Explicit,
            });

        var lanes = new ulong[trace.Tracks.Count][];
        ulong next = LaneUuidBase;
        foreach (var t in trace.Tracks)
        {
            lanes[t.Id] = new ulong[layout.LaneCount[t.Id]];
            for (int lane = 0; lane < lanes[t.Id].Length; lane++)
            {
                lanes[t.Id][lane] = next++;
                descriptors.Add(new TrackDescriptor
                {
                    Uuid = lanes[t.Id][lane],
                    ParentUuid = ProcessUuidBase + t.ProcessId,
                    Name = ChromeTraceWriter.LaneName(t.Name, lane),
                    Description = t.Kind switch
                    {
                        TraceTrackKind.Engine => "engine hardware queue: what ran on the engine",
                        TraceTrackKind.ContextQueue => "context software queue: buffers from submission to completion",
                        TraceTrackKind.Counter => "counter samples",
                        _ => "device-wide instants",
                    },
                    SiblingOrderRank = (t.Kind == TraceTrackKind.Engine ? 0 : 1_000_000) + t.Id * 1_000 + Math.Min(lane, 999),
                });
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
            descriptors.Add(new TrackDescriptor
            {
                Uuid = uuid,
                ParentUuid = ProcessUuidBase + t.ProcessId,
                Name = e.Name,
                SiblingOrderRank = 2_000_000 + (int)(uuid - CounterUuidBase),
                Counter = new CounterDescriptor
                {
                    Unit = unit == "bytes" ? CounterDescriptor.Types.Unit.SizeBytes : CounterDescriptor.Types.Unit.Count,
                    UnitName = unit,
                    Categories = { ChromeTraceWriter.CategoryName(e.Category) },
                },
            });
        }
        return lanes;
    }

    // (timestamp, order key, packet): sorted by timestamp, then ends < begins (in layout order) < instants/counters.
    private static List<(ulong Ts, long Key, TracePacket Packet)> Events(TraceLayout layout, ulong[][] lanes,
        Dictionary<(int Track, string Name), ulong> counterUuids)
    {
        var trace = layout.Trace;
        var result = new List<(ulong, long, TracePacket)>(layout.Slices.Count * 2 + trace.Events.Count);
        const long Ends = 0, Begins = 1L << 40, Marks = 2L << 40;
        for (int i = 0; i < layout.Slices.Count; i++)
        {
            var s = layout.Slices[i];
            var e = s.Event;
            ulong uuid = lanes[s.Track][s.Lane];
            ulong start = Nanoseconds(trace, s.Start), end = Nanoseconds(trace, s.End);
            var begin = new TrackEvent
            {
                Type = TrackEvent.Types.Type.SliceBegin,
                TrackUuid = uuid,
                Name = e.Name,
                Categories = { ChromeTraceWriter.CategoryName(e.Category) },
            };
            Annotate(begin, e);
            if (s.FlowOut != 0) begin.FlowIds.Add((ulong)s.FlowOut);
            if (s.FlowIn != 0) begin.TerminatingFlowIds.Add((ulong)s.FlowIn);
            var finish = new TrackEvent { Type = TrackEvent.Types.Type.SliceEnd, TrackUuid = uuid };
            result.Add((start, Begins + 2L * i, new TracePacket { Timestamp = start, TrackEvent = begin }));
            // A zero-length slice ends right after it begins; a longer one among the ends of its timestamp.
            result.Add((end, end == start ? Begins + 2L * i + 1 : Ends + i, new TracePacket { Timestamp = end, TrackEvent = finish }));
        }
        long order = 0;
        foreach (var e in trace.Events)
        {
            order++;
            if ((uint)e.Track >= (uint)trace.Tracks.Count) continue;
            ulong ts = Nanoseconds(trace, e.StartCycle);
            if (e.Phase == TracePhase.Instant)
            {
                var instant = new TrackEvent
                {
                    Type = TrackEvent.Types.Type.Instant,
                    TrackUuid = lanes[e.Track][0],
                    Name = e.Name,
                    Categories = { ChromeTraceWriter.CategoryName(e.Category) },
                };
                Annotate(instant, e);
                result.Add((ts, Marks + order, new TracePacket { Timestamp = ts, TrackEvent = instant }));
            }
            else if (e.Phase == TracePhase.Counter)
            {
                var sample = new TrackEvent { Type = TrackEvent.Types.Type.Counter, TrackUuid = counterUuids[(e.Track, e.Name)], CounterValue = e.Value };
                result.Add((ts, Marks + order, new TracePacket { Timestamp = ts, TrackEvent = sample }));
            }
        }
        result.Sort(static (a, b) => a.Item1 != b.Item1 ? a.Item1.CompareTo(b.Item1) : a.Item2.CompareTo(b.Item2));
        return result;
    }

    private static void Annotate(TrackEvent target, in TraceEvent e)
    {
        target.DebugAnnotations.Add(new DebugAnnotation { Name = "start_cycle", UintValue = e.StartCycle });
        if (e.Phase == TracePhase.Complete) target.DebugAnnotations.Add(new DebugAnnotation { Name = "cycles", UintValue = e.DurationCycles });
        if (e.ProcessId != 0) target.DebugAnnotations.Add(new DebugAnnotation { Name = "process", UintValue = e.ProcessId });
        if (e.ContextId != 0) target.DebugAnnotations.Add(new DebugAnnotation { Name = "context", UintValue = e.ContextId });
        if (e.Id != 0) target.DebugAnnotations.Add(new DebugAnnotation { Name = "id", UintValue = e.Id });
        if (e.Value != 0) target.DebugAnnotations.Add(new DebugAnnotation { Name = "value", IntValue = e.Value });
    }
}
