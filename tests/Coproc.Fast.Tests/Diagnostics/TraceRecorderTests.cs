using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

public class TraceRecorderTests
{
    [Test]
    public void Emit_RecordsEventsInEmissionOrder_WithTheirTracks()
    {
        var r = new TraceRecorder();
        int render = r.DefineTrack(TraceTrackKind.Engine, "render", 0, "device");
        int q = r.DefineTrack(TraceTrackKind.ContextQueue, "game / ctx 2", 7, "game", 2);

        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "frame 1", 100, 50, 7, 2, id: 1));
        r.Emit(TraceEvent.Slice(render, TraceCategory.DmaBuffer, "frame 1", 150, 400, 7, 2, id: 1));
        r.Emit(TraceEvent.Instant(render, TraceCategory.Fault, "page fault", 600, 7, 2, id: 0xDEAD));

        var s = r.Snapshot();
        Assert.That(s.Tracks.Select(t => t.Name), Is.EqualTo(new[] { "render", "game / ctx 2" }));
        Assert.That(s.Tracks[q].ContextId, Is.EqualTo(2u));
        Assert.That(s.Events.Select(e => e.StartCycle), Is.EqualTo(new ulong[] { 100, 150, 600 }));
        Assert.That(s.Events[2].Phase, Is.EqualTo(TracePhase.Instant));
        Assert.That(s.EndCycle, Is.EqualTo(600UL));
    }

    [Test]
    public void Emit_WhenFull_KeepsTheFirstEventsAndCountsTheDropped()
    {
        var r = new TraceRecorder(capacity: 3);
        int t = r.DefineTrack(TraceTrackKind.Device, "device", 0, "device");
        for (ulong i = 0; i < 10; i++) r.Emit(TraceEvent.Instant(t, TraceCategory.Vsync, "vsync", i));

        var s = r.Snapshot();
        Assert.That(s.Events.Select(e => e.StartCycle), Is.EqualTo(new ulong[] { 0, 1, 2 }));
        Assert.That(s.Dropped, Is.EqualTo(7));
    }

    [Test]
    public void Emit_ToAnUndefinedTrack_ThrowsAndRecordsNothing()
    {
        var r = new TraceRecorder();
        r.DefineTrack(TraceTrackKind.Device, "device", 0, "device");
        Assert.Throws<ArgumentOutOfRangeException>(() => r.Emit(TraceEvent.Instant(5, TraceCategory.Other, "x", 1)));
        Assert.That(r.Count, Is.Zero);
    }

    [Test]
    public void Paused_RecorderIsDisabledAndIgnoresEvents()
    {
        var r = new TraceRecorder { IsEnabled = false };
        int t = r.DefineTrack(TraceTrackKind.Device, "device", 0, "device");
        r.Emit(TraceEvent.Instant(t, TraceCategory.Other, "x", 1));
        Assert.That(r.Count, Is.Zero);
        Assert.That(NullTraceSink.Instance.IsEnabled, Is.False);
    }

    [Test]
    public void SteadyStateEmission_AllocatesNothing()
    {
        var r = new TraceRecorder(capacity: 4096);
        int t = r.DefineTrack(TraceTrackKind.Engine, "copy", 0, "device");
        for (int i = 0; i < 2048; i++) r.Emit(TraceEvent.Slice(t, TraceCategory.DmaBuffer, "buf", (ulong)i, 1));
        r.Clear();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 2048; i++) r.Emit(TraceEvent.Slice(t, TraceCategory.DmaBuffer, "buf", (ulong)i, 1));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }
}
