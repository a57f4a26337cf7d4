using System.Diagnostics.Metrics;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

public class SchedulingObserverTests
{
    /// <summary>Given a compositor and a game on the render engine, the game preempted once by the compositor.</summary>
    private static (SchedulingObserver Observer, TraceRecorder Recorder, int Compositor, int Game) Script()
    {
        var r = new TraceRecorder();
        var o = new SchedulingObserver(r);
        int comp = o.RegisterContext(1, "compositor", 1, "compose", EngineKind.Render);
        int game = o.RegisterContext(2, "game", 2, "frames", EngineKind.Render);
        o.Submitted(game, 0, 100, ring0: true);
        o.Started(game, 1_000);                // waited 1,000
        o.Submitted(comp, 4_000, 200, ring0: true);
        o.Preempted(game, 5_000);              // ran 4,000
        o.Started(comp, 5_000);                // waited 1,000
        o.Completed(comp, 7_000);              // ran 2,000
        o.Presented(comp, 16_666);
        o.Started(game, 7_000);                // resumes: no second latency sample
        o.Completed(game, 13_000);             // ran 6,000
        o.MissedVsync(game, 16_666);
        o.Paged(game, EngineKind.Copy, 13_000, 500, 65_536, evict: false);
        o.Residency(13_500, 8 << 20);
        return (o, r, comp, game);
    }

    [Test]
    public void Statistics_CountTimeShareLatencyAndEvents_PerContext()
    {
        var (o, _, comp, game) = Script();
        var g = o.Contexts[game];
        var c = o.Contexts[comp];
        Assert.That((g.GpuCycles, c.GpuCycles), Is.EqualTo((10_000UL, 2_000UL)));
        Assert.That(o.GpuTimeShare(game), Is.EqualTo(10_000.0 / 12_000));
        Assert.That((g.SubmitToStartCount, g.LatencyPercentile(50), g.SubmitToStartMaxCycles), Is.EqualTo((1L, 1_000UL, 1_000UL)));
        Assert.That(c.LatencyPercentile(99), Is.EqualTo(1_000UL));
        Assert.That((g.Preemptions, g.BuffersCompleted, g.MissedVsyncs, g.BytesPaged), Is.EqualTo((1L, 1L, 1L, 65_536L)));
        Assert.That((c.FramesPresented, c.Ring0GateEntries), Is.EqualTo((1L, 1L)));
    }

    [Test]
    public void Trace_HasEngineSlicesSplitByThePreemption_AndOneQueueSlicePerBuffer()
    {
        var (_, r, _, _) = Script();
        var s = r.Snapshot();
        int render = s.Tracks.Single(t => t.Name == "render").Id;
        var engineSlices = s.Events.Where(e => e.Track == render && e.Phase == TracePhase.Complete)
            .Select(e => (e.StartCycle, e.DurationCycles, e.ProcessId)).ToArray();
        Assert.That(engineSlices, Is.EqualTo(new[] { (1_000UL, 4_000UL, 2u), (5_000UL, 2_000UL, 1u), (7_000UL, 6_000UL, 2u) }));
        var queueSlices = s.Events.Where(e => s.Tracks[e.Track].Kind == TraceTrackKind.ContextQueue && e.Phase == TracePhase.Complete).ToArray();
        Assert.That(queueSlices.Select(e => (e.Id, e.StartCycle, e.EndCycle)), Is.EquivalentTo(new[] { (200UL, 4_000UL, 7_000UL), (100UL, 0UL, 13_000UL) }));
        Assert.That(s.Events.Any(e => e.Category == TraceCategory.PagingBuffer && s.Tracks[e.Track].Name == "copy"), Is.True);
        Assert.That(s.Events.Count(e => e.Category == TraceCategory.Residency), Is.EqualTo(1));
        var gameDepth = s.Events.Where(e => e.Category == TraceCategory.QueueDepth && e.Name == "queue depth game / frames").Select(e => e.Value);
        Assert.That(gameDepth, Is.EqualTo(new long[] { 1, 0 }));
    }

    [Test]
    public void Observer_CountsFramesOnTheMeter_AndLeavesDriverEventsToTheDriver()
    {
        // The driver (VidSch, gate, user queue) counts submissions, preemptions and paging itself; the observer
        // only adds what the driver cannot know (presentation policy), so nothing is counted twice.
        long submissions = 0, preemptions = 0, paged = 0, presented = 0, missed = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter.Name == CoprocMetrics.MeterName) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((i, v, _, _) =>
        {
            if (i.Name == "coproc.submissions") submissions += v;
            if (i.Name == "coproc.preemptions") preemptions += v;
            if (i.Name == "coproc.bytes_paged") paged += v;
            if (i.Name == "coproc.frames_presented") presented += v;
            if (i.Name == "coproc.missed_vsyncs") missed += v;
        });
        listener.Start();
        Script(); // submissions, a preemption, paging, one presented frame and one missed vsync
        Assert.That((submissions, preemptions, paged, presented, missed), Is.EqualTo((0L, 0L, 0L, 1L, 1L)));
        var o = new SchedulingObserver();
        int x = o.RegisterContext(9, "presenter", 9, "p", EngineKind.Render);
        o.Presented(x, 100);
        o.MissedVsync(x, 200);
        Assert.That((submissions, preemptions, paged, presented, missed), Is.EqualTo((0L, 0L, 0L, 2L, 2L)));
    }

    [Test]
    public void ResetWithDiscard_DropsQueuedBuffers_AndStartingAnEmptyContextThrows()
    {
        var o = new SchedulingObserver();
        int x = o.RegisterContext(3, "broken", 3, "c", EngineKind.Render);
        o.Submitted(x, 0, 1, ring0: true);
        o.Submitted(x, 0, 2, ring0: true);
        o.Started(x, 10);
        o.Faulted(x, 50, "hung wait", discardPending: true);
        Assert.That((o.Contexts[x].Faults, o.Contexts[x].GpuCycles, o.Contexts[x].BuffersCompleted), Is.EqualTo((1L, 40UL, 0L)));
        Assert.Throws<InvalidOperationException>(() => o.Started(x, 60));
        Assert.Throws<InvalidOperationException>(() => o.Completed(x, 60));
    }

    [Test]
    public void WithoutASink_NothingIsRecorded_AndStatisticsStillCount()
    {
        var o = new SchedulingObserver();
        int x = o.RegisterContext(1, "p", 1, "c", EngineKind.Copy);
        o.Submitted(x, 0, 1, ring0: false);
        o.Started(x, 5);
        o.Completed(x, 10);
        Assert.That((o.Contexts[x].BuffersCompleted, o.Contexts[x].Doorbells, o.EngineBusyCycles(EngineKind.Copy)), Is.EqualTo((1L, 1L, 5UL)));
    }
}

public class SchedulingObserverRegistrationTests
{
    [Test]
    public void ContextIds_MapToHandles_AndADuplicateIdIsRejected()
    {
        var o = new SchedulingObserver();
        int h = o.RegisterContext(1, "p", 7, "c", EngineKind.Render);
        Assert.That(o.TryGetHandle(7, out int found) && found == h, Is.True);
        Assert.That(o.TryGetHandle(8, out _), Is.False);
        Assert.Throws<ArgumentException>(() => o.RegisterContext(2, "q", 7, "d", EngineKind.Copy));
        Assert.That(o.Contexts, Has.Count.EqualTo(1));
    }

    [Test]
    public void StartedTwiceWhileRunning_KeepsTheFirstStart()
    {
        var o = new SchedulingObserver();
        int h = o.RegisterContext(1, "p", 1, "c", EngineKind.Render);
        o.Submitted(h, 0, 1, ring0: true);
        o.Started(h, 10);
        o.Started(h, 30); // next chunk of a split buffer
        o.Completed(h, 50);
        Assert.That(o.Contexts[h].GpuCycles, Is.EqualTo(40UL));
    }
}

public class SchedulingObserverAllocationTests
{
    private static long SteadyStateBytes(SchedulingObserver o, int h)
    {
        void Cycle(ulong t)
        {
            o.Submitted(h, t, t, ring0: true);
            o.Started(h, t + 1);
            o.Preempted(h, t + 2);
            o.Started(h, t + 3);
            o.Completed(h, t + 4);
        }
        // Warm-up: the latency list (capacity 4,096 after 3,000 samples) and the recorder's array (32,768 after
        // 18,000 events) reach sizes the measured 1,000 buffers fit in without growing.
        for (ulong t = 0; t < 3_000; t++) Cycle(t * 10);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (ulong t = 3_000; t < 4_000; t++) Cycle(t * 10);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Test]
    public void WithNobodyListening_ABuffersLifeAllocatesNothing_InSteadyState()
    {
        var o = new SchedulingObserver();
        int h = o.RegisterContext(1, "p", 1, "c", EngineKind.Render);
        Assert.That(SteadyStateBytes(o, h), Is.Zero);
    }

    [Test]
    public void WithARecorder_EventsAreBuiltWithoutAllocating()
    {
        var r = new TraceRecorder(capacity: 1 << 16);
        var o = new SchedulingObserver(r);
        int h = o.RegisterContext(1, "p", 1, "c", EngineKind.Render);
        Assert.That(SteadyStateBytes(o, h), Is.Zero);
        Assert.That(r.Count, Is.EqualTo(4_000 * 6), "depth, preempt slice + instant, run slice, depth, queue slice per buffer");
    }
}

public class SchedulingObserverInterruptTests
{
    [Test]
    public void InterruptInfo_BecomesAnInstant_AndAFaultCountsAgainstItsContext()
    {
        var r = new TraceRecorder();
        var o = new SchedulingObserver(r);
        int h = o.RegisterContext(4, "misbehaving app", 9, "broken", EngineKind.Render);
        o.Interrupt(new Coproc.Fast.Driver.VidSch.InterruptRecord(Coproc.Fast.Driver.VidSch.InterruptRecord.ProtectionFault, 0, 9, 0, 0x2000, 1_234));
        o.Interrupt(new Coproc.Fast.Driver.VidSch.InterruptRecord((byte)Coproc.Fast.Device.Interrupts.InterruptSource.Vsync, 0xFF, 0, 7, 0x5000, 16_666_667));

        Assert.That(o.Contexts[h].Faults, Is.EqualTo(1));
        var s = r.Snapshot();
        var fault = s.Events.Single(e => e.Category == TraceCategory.Fault);
        Assert.That((fault.Name, s.Tracks[fault.Track].Name, fault.StartCycle), Is.EqualTo(("protection fault", "render", 1_234UL)));
        var vsync = s.Events.Single(e => e.Category == TraceCategory.Vsync);
        Assert.That((s.Tracks[vsync.Track].Kind, vsync.Value), Is.EqualTo((TraceTrackKind.Device, 7L)));
    }
}
