using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>A small hand-built trace: two processes with one context each, two engines, a counter.</summary>
internal static class SampleTrace
{
    public static TraceSnapshot Build()
    {
        var r = new TraceRecorder();
        int render = r.DefineTrack(TraceTrackKind.Engine, "render", 0, "device");
        int copy = r.DefineTrack(TraceTrackKind.Engine, "copy", 0, "device");
        int comp = r.DefineTrack(TraceTrackKind.ContextQueue, "compositor / ctx 1", 1, "compositor", 1);
        int game = r.DefineTrack(TraceTrackKind.ContextQueue, "game & co / ctx 2", 2, "game & co", 2);
        int resident = r.DefineTrack(TraceTrackKind.Counter, "local memory resident", 0, "device");
        int dev = r.DefineTrack(TraceTrackKind.Device, "display", 0, "device");

        r.Emit(TraceEvent.Slice(comp, TraceCategory.DmaBuffer, "compose", 0, 2_000, 1, 1, id: 1));
        r.Emit(TraceEvent.Slice(render, TraceCategory.DmaBuffer, "compose", 1_000, 1_500, 1, 1, id: 1));
        r.Emit(new TraceEvent(TracePhase.Begin, game, TraceCategory.DmaBuffer, "frame <1>", 500, ProcessId: 2, ContextId: 2));
        r.Emit(new TraceEvent(TracePhase.End, game, TraceCategory.DmaBuffer, "frame <1>", 4_000, ProcessId: 2, ContextId: 2));
        r.Emit(TraceEvent.Slice(render, TraceCategory.DmaBuffer, "frame <1>", 2_500, 1_500, 2, 2, id: 2));
        r.Emit(TraceEvent.Slice(copy, TraceCategory.PagingBuffer, "page-in", 2_000, 800, 2, 0, value: 65536));
        r.Emit(TraceEvent.Instant(render, TraceCategory.Fault, "protection fault", 3_000, 2, 2, id: 0x4000));
        r.Emit(TraceEvent.Instant(dev, TraceCategory.Flip, "flip", 4_100, 1, 1));
        r.Emit(TraceEvent.Counter(resident, TraceCategory.Residency, "local memory resident", 0, 1 << 20));
        r.Emit(TraceEvent.Counter(resident, TraceCategory.Residency, "local memory resident", 2_800, 2 << 20));
        return r.Snapshot();
    }
}
