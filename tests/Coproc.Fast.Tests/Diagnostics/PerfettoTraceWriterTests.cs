using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Diagnostics.Perfetto;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// trace.perfetto-trace decodes as a Perfetto <c>Trace</c>: named process and lane tracks, counter tracks with units,
/// begin/end slices that nest on every track, and flows that start once and end once.
/// </summary>
public class PerfettoTraceWriterTests
{
    /// <summary>What a decoded trace holds, checked for the protocol's structural rules.</summary>
    private sealed record Decoded(
        Dictionary<ulong, TrackDescriptor> Tracks,
        List<(ulong Ts, TrackEvent Event)> Events,
        List<string> Problems)
    {
        public IEnumerable<TrackDescriptor> Named(string name) => Tracks.Values.Where(t => t.Name == name || t.Process?.ProcessName == name);
    }

    private static Decoded Decode(byte[] bytes)
    {
        var trace = Trace.Parser.ParseFrom(bytes);
        var tracks = new Dictionary<ulong, TrackDescriptor>();
        var events = new List<(ulong, TrackEvent)>();
        var problems = new List<string>();
        var open = new Dictionary<ulong, int>();
        var flowStarts = new Dictionary<ulong, ulong>();
        var flowEnds = new Dictionary<ulong, ulong>();
        ulong last = 0;
        foreach (var p in trace.Packet)
        {
            if (p.TrustedPacketSequenceId != PerfettoTraceWriter.SequenceId) problems.Add("a packet off the sequence");
            if (p.TrackDescriptor is { } d)
            {
                if (!tracks.TryAdd(d.Uuid, d)) problems.Add($"track {d.Uuid} described twice");
                if (d.HasParentUuid && !tracks.ContainsKey(d.ParentUuid)) problems.Add($"track {d.Name} has an undescribed parent");
                continue;
            }
            if (p.TrackEvent is not { } e) continue;
            if (p.Timestamp < last) problems.Add("packets out of timestamp order");
            last = p.Timestamp;
            events.Add((p.Timestamp, e));
            if (!tracks.TryGetValue(e.TrackUuid, out var track)) { problems.Add($"event on undescribed track {e.TrackUuid}"); continue; }
            switch (e.Type)
            {
                case TrackEvent.Types.Type.SliceBegin:
                    open[e.TrackUuid] = open.GetValueOrDefault(e.TrackUuid) + 1;
                    foreach (var f in e.FlowIds) if (!flowStarts.TryAdd(f, p.Timestamp)) problems.Add($"flow {f} starts twice");
                    foreach (var f in e.TerminatingFlowIds) if (!flowEnds.TryAdd(f, p.Timestamp)) problems.Add($"flow {f} ends twice");
                    if (track.Counter is not null) problems.Add("a slice on a counter track");
                    break;
                case TrackEvent.Types.Type.SliceEnd:
                    if (open.GetValueOrDefault(e.TrackUuid) == 0) problems.Add($"an end with no open slice on {track.Name}");
                    else open[e.TrackUuid]--;
                    break;
                case TrackEvent.Types.Type.Counter:
                    if (track.Counter is null) problems.Add($"a counter value on non-counter track {track.Name}");
                    break;
                case TrackEvent.Types.Type.Instant:
                    break;
                default:
                    problems.Add($"unexpected event type {e.Type}");
                    break;
            }
        }
        foreach (var (uuid, n) in open) if (n != 0) problems.Add($"{n} slices left open on {tracks[uuid].Name}");
        foreach (var (f, ts) in flowStarts)
        {
            if (!flowEnds.TryGetValue(f, out var end)) problems.Add($"flow {f} never ends");
            else if (end < ts) problems.Add($"flow {f} ends before it starts");
        }
        foreach (var f in flowEnds.Keys) if (!flowStarts.ContainsKey(f)) problems.Add($"flow {f} ends without a start");
        return new Decoded(tracks, events, problems);
    }

    private static byte[] Bytes(TraceSnapshot trace)
    {
        using var ms = new MemoryStream();
        PerfettoTraceWriter.Write(ms, trace);
        return ms.ToArray();
    }

    [Test]
    public void SampleTrace_DecodesWith_NamedProcessAndEngineTracks_ACountersUnit_SlicesAndAFlow()
    {
        // Given the hand-built sample (two processes, render and copy engines, a residency counter),
        var trace = SampleTrace.Build();
        // when written and decoded,
        var d = Decode(Bytes(trace));
        // then it is well formed,
        Assert.That(d.Problems, Is.Empty, string.Join("\n", d.Problems));
        // its processes and tracks carry the trace's names, engines under the device process,
        Assert.That(d.Tracks.Values.Where(t => t.Process is not null).Select(t => t.Process.ProcessName),
            Is.EquivalentTo(new[] { "device", "compositor (pid 1)", "game & co (pid 2)" }));
        var device = d.Named("device").Single();
        Assert.That(d.Named("render").Single().ParentUuid, Is.EqualTo(device.Uuid));
        Assert.That(d.Named("compositor / ctx 1").Single().ParentUuid, Is.EqualTo(d.Named("compositor (pid 1)").Single().Uuid));
        // the residency counter has its own track in bytes with both samples,
        var resident = d.Tracks.Values.Single(t => t.Counter is not null);
        Assert.That(resident.Name, Is.EqualTo("local memory resident"));
        Assert.That(resident.Counter.Unit, Is.EqualTo(CounterDescriptor.Types.Unit.SizeBytes));
        Assert.That(d.Events.Where(e => e.Event.TrackUuid == resident.Uuid).Select(e => (e.Ts, e.Event.CounterValue)),
            Is.EqualTo(new[] { (0UL, 1L << 20), (2_800UL, 2L << 20) }));
        // the game's frame runs on render from 2.5 µs for 1.5 µs (cycles = ns at 1 GHz),
        var render = d.Named("render").Single().Uuid;
        var frame = d.Events.Single(e => e.Event.TrackUuid == render && e.Event.Name == "frame <1>");
        Assert.That(frame.Ts, Is.EqualTo(2_500UL));
        Assert.That(frame.Event.DebugAnnotations.Single(a => a.Name == "cycles").UintValue, Is.EqualTo(1_500UL));
        // and the compositor's buffer has a flow from its submission (cycle 0) to its start on render (cycle 1,000).
        var start = d.Events.Single(e => e.Event.FlowIds.Count > 0);
        var end = d.Events.Single(e => e.Event.TerminatingFlowIds.Count > 0);
        Assert.That(end.Event.TerminatingFlowIds, Is.EqualTo(start.Event.FlowIds));
        Assert.That((start.Ts, start.Event.Name, end.Ts, end.Event.TrackUuid), Is.EqualTo((0UL, "submit", 1_000UL, render)));
    }

    [TestCaseSource(typeof(ShippedScenarioTraces), nameof(ShippedScenarioTraces.Names))]
    public void ShippedScenario_PerfettoTrace_Decodes_WithEveryTrackNamed_BalancedSlices_CountersAndFlows(string scenario)
    {
        var (report, files) = ShippedScenarioTraces.Get(scenario);
        var d = Decode(File.ReadAllBytes(Path.Combine(files.Directory, "trace.perfetto-trace")));
        Assert.That(d.Problems, Is.Empty, string.Join("\n", d.Problems.Take(20)));
        Assert.That(d.Tracks.Values.Where(t => t.Process is null), Has.All.Matches<TrackDescriptor>(t => !string.IsNullOrEmpty(t!.Name)));
        foreach (var row in report.Rows)
            Assert.That(d.Named($"{row.Process} / {row.Context}"), Is.Not.Empty, $"a track for {row.Process} / {row.Context}");
        Assert.That(d.Events.Count(e => e.Event.Type == TrackEvent.Types.Type.Counter), Is.GreaterThan(0), "queue-depth counters");
        if (report.Rows.Sum(r => r.BuffersCompleted) > 0)
            Assert.That(d.Events.Count(e => e.Event.FlowIds.Count > 0), Is.GreaterThan(0), "flows from submission to execution");
    }

    [Test]
    public void Trace_OfTheSameSnapshot_IsByteIdentical()
    {
        var first = Bytes(SampleTrace.Build());
        var second = Bytes(SampleTrace.Build()); // a second build and write: the output is deterministic
        Assert.That(second, Is.EqualTo(first));
    }
}
