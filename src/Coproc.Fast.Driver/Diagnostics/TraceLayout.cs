namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// The shape every trace writer draws from a <see cref="TraceSnapshot"/>: slices resolved (complete slices as they
/// are, begin/end pairs matched innermost-first, a begin never ended runs to the trace's end), packed into
/// <b>lanes</b>, and flows from a buffer's submission to its first run on an engine.
/// <para>
/// Design: a track's slices may overlap (a context's software queue holds several buffers at once, seed 001 §6.2),
/// but the trace-event format requires the complete slices of one thread to nest, and Perfetto drops those that do
/// not. So each track is split into lanes, and slices within one lane never overlap (touching is allowed: one may
/// end at the cycle the next starts). Packing is greedy in (start, longest first, emission) order — the same
/// snapshot always gives the same lanes. The JSON writer makes each lane a thread; the Perfetto writer a child
/// track; the timeline stacks lanes GPUView-style.
/// </para>
/// <para>
/// Flows: a <see cref="TraceCategory.DmaBuffer"/> slice on a context-queue track with a non-zero id (the buffer's
/// sequence number, from submission to completion) is linked to the earliest engine slice of the same context and
/// id — the moment the engine picked the buffer up. The link starts at a zero-length "submit" slice at the
/// submission cycle, so arrows run from submission to execution.
/// </para>
/// </summary>
internal sealed class TraceLayout
{
    /// <summary>A resolved slice: its event (phase complete), the lane it is drawn in, and its flow links.</summary>
    internal sealed class Slice(int track, TraceEvent e, int order)
    {
        /// <summary>The track it belongs to.</summary>
        public int Track { get; } = track;
        /// <summary>The event, as a complete slice.</summary>
        public TraceEvent Event { get; } = e;
        /// <summary>Emission order (ties broken by it so the layout is deterministic).</summary>
        public int Order { get; } = order;
        /// <summary>Lane within its track (0 = the track's first row).</summary>
        public int Lane { get; set; }
        /// <summary>For a synthetic "submit" slice, the queued slice it sits at the start of (it shares its lane).</summary>
        public Slice? Parent { get; init; }
        /// <summary>Flow leaving this slice (1-based), 0 when none.</summary>
        public int FlowOut { get; set; }
        /// <summary>Flow arriving at this slice (1-based), 0 when none.</summary>
        public int FlowIn { get; set; }
        /// <summary>Start cycle.</summary>
        public ulong Start => Event.StartCycle;
        /// <summary>End cycle.</summary>
        public ulong End => Event.EndCycle;
    }

    private TraceLayout(TraceSnapshot trace, List<Slice> slices, int[] lanes, int flows)
    {
        Trace = trace;
        Slices = slices;
        LaneCount = lanes;
        FlowCount = flows;
    }

    /// <summary>The snapshot laid out.</summary>
    public TraceSnapshot Trace { get; }

    /// <summary>Every slice (including the synthetic "submit" flow sources), ordered by start, longest first, emission.</summary>
    public IReadOnlyList<Slice> Slices { get; }

    /// <summary>Lanes per track (at least 1).</summary>
    public IReadOnlyList<int> LaneCount { get; }

    /// <summary>Number of flows (ids 1..FlowCount).</summary>
    public int FlowCount { get; }

    /// <summary>Name of the synthetic zero-length slice a flow starts from.</summary>
    public const string SubmitSliceName = "submit";

    // One layout per snapshot (by reference): the report writes the same snapshot as JSON, Perfetto and HTML, and each
    // writer only reads its layout. A snapshot's lists are not changed after it is taken (TraceRecorder.Snapshot).
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TraceSnapshot, TraceLayout> Layouts = new();

    /// <summary>The layout of <paramref name="trace"/>, built on first use and shared by every writer of that snapshot.</summary>
    public static TraceLayout For(TraceSnapshot trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return Layouts.GetValue(trace, Build);
    }

    /// <summary>Lays out <paramref name="trace"/>.</summary>
    public static TraceLayout Build(TraceSnapshot trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        int tracks = trace.Tracks.Count;
        ulong end = trace.EndCycle;
        var slices = new List<Slice>();
        var open = new Stack<(TraceEvent Event, int Order)>[tracks];
        int order = 0;
        foreach (var e in trace.Events)
        {
            order++;
            if ((uint)e.Track >= (uint)tracks) continue;
            switch (e.Phase)
            {
                case TracePhase.Complete:
                    slices.Add(new Slice(e.Track, e, order));
                    break;
                case TracePhase.Begin:
                    (open[e.Track] ??= new()).Push((e, order));
                    break;
                case TracePhase.End when open[e.Track] is { Count: > 0 } stack:
                    var (b, o) = stack.Pop();
                    slices.Add(new Slice(e.Track, b with { Phase = TracePhase.Complete, DurationCycles = e.StartCycle - Math.Min(e.StartCycle, b.StartCycle) }, o));
                    break;
            }
        }
        foreach (var stack in open)
            while (stack is { Count: > 0 })
            {
                var (b, o) = stack.Pop();
                slices.Add(new Slice(b.Track, b with { Phase = TracePhase.Complete, DurationCycles = end - Math.Min(end, b.StartCycle) }, o));
            }

        int flows = LinkFlows(trace, slices, ref order);
        slices.Sort(static (a, b) =>
        {
            int c = a.Start.CompareTo(b.Start);
            if (c != 0) return c;
            c = b.Event.DurationCycles.CompareTo(a.Event.DurationCycles);
            if (c != 0) return c;
            c = a.Order.CompareTo(b.Order);
            return c != 0 ? c : (a.Parent is null ? 0 : 1).CompareTo(b.Parent is null ? 0 : 1);
        });

        // Greedy lane packing per track; a lane is free when its last slice ended at or before this one's start.
        var laneEnds = new List<ulong>[tracks];
        foreach (var s in slices)
        {
            if (s.Parent is not null) continue; // nested at its parent's start, in its parent's lane
            var ends = laneEnds[s.Track] ??= [];
            int lane = ends.FindIndex(x => x <= s.Start);
            if (lane < 0)
            {
                lane = ends.Count;
                ends.Add(0);
            }
            s.Lane = lane;
            ends[lane] = s.End;
        }
        foreach (var s in slices)
            if (s.Parent is { } parent) s.Lane = parent.Lane;
        var lanes = new int[tracks];
        for (int t = 0; t < tracks; t++) lanes[t] = Math.Max(1, laneEnds[t]?.Count ?? 0);
        return new TraceLayout(trace, slices, lanes, flows);
    }

    private static int LinkFlows(TraceSnapshot trace, List<Slice> slices, ref int order)
    {
        var firstRun = new Dictionary<(uint Context, ulong Id), Slice>();
        foreach (var s in slices)
        {
            var e = s.Event;
            if (e.Category != TraceCategory.DmaBuffer || e.Id == 0 || e.ContextId == 0 || trace.Tracks[s.Track].Kind != TraceTrackKind.Engine) continue;
            var key = (e.ContextId, e.Id);
            if (!firstRun.TryGetValue(key, out var seen) || s.Start < seen.Start || (s.Start == seen.Start && s.Order < seen.Order))
                firstRun[key] = s;
        }
        if (firstRun.Count == 0) return 0;
        int flows = 0;
        var sources = new List<Slice>();
        foreach (var s in slices)
        {
            var e = s.Event;
            if (e.Category != TraceCategory.DmaBuffer || e.Id == 0 || trace.Tracks[s.Track].Kind != TraceTrackKind.ContextQueue) continue;
            if (!firstRun.TryGetValue((e.ContextId, e.Id), out var run) || run.FlowIn != 0) continue;
            var submit = new Slice(s.Track, e with { Name = SubmitSliceName, DurationCycles = 0 }, s.Order) { Parent = s, FlowOut = ++flows };
            run.FlowIn = flows;
            sources.Add(submit);
        }
        slices.AddRange(sources);
        order += sources.Count;
        return flows;
    }
}
