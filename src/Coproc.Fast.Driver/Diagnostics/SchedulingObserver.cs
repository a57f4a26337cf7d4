using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// The one object a scheduler calls at each scheduling event (seed 001 §6 life of a DMA buffer: submitted → queued
/// in the context's software queue → started on the engine's hardware queue → preempted/resumed → completed; plus
/// faults, paging, flips, vsyncs, residency). It fans each event out to the trace sink (only when enabled — nothing
/// is built otherwise), to <see cref="CoprocMetrics"/> (frames presented, missed vsyncs and the submit-to-start latency histogram: the driver counts its own events), and to per-context <see cref="ContextStatistics"/> from which a
/// report is made. Times are device cycles. Not thread-safe: call it from the scheduler's thread (or under its lock).
/// </summary>
public sealed class SchedulingObserver
{
    private readonly ITraceSink _sink;
    private readonly int[] _engineTracks = new int[Engines.Count];
    private readonly ulong[] _engineBusy = new ulong[Engines.Count];
    private readonly List<ContextState> _contexts = [];
    private readonly Dictionary<uint, int> _byContextId = [];
    private readonly int _deviceTrack, _residencyTrack;

    private sealed class ContextState(ContextStatistics stats, int track)
    {
        public ContextStatistics Stats { get; } = stats;
        public int Track { get; } = track;
        // Built once so emitting the counter allocates nothing.
        public string QueueDepthName { get; } = $"queue depth {stats.ProcessName} / {stats.ContextName}";
        public Queue<(ulong Id, ulong Submitted)> Pending { get; } = new();
        public bool HeadStarted { get; set; }
        public ulong RunningSince { get; set; }
        public bool Running { get; set; }
    }

    /// <summary>Creates the observer and its device-wide tracks (one per engine, display, residency).</summary>
    public SchedulingObserver(ITraceSink? sink = null)
    {
        _sink = sink ?? NullTraceSink.Instance;
        for (int e = 0; e < Engines.Count; e++)
            _engineTracks[e] = _sink.DefineTrack(TraceTrackKind.Engine, EngineName((EngineKind)e), 0, "device");
        _deviceTrack = _sink.DefineTrack(TraceTrackKind.Device, "display and interrupts", 0, "device");
        _residencyTrack = _sink.DefineTrack(TraceTrackKind.Counter, "local memory resident", 0, "device");
    }

    /// <summary>Every registered context's statistics, in registration order.</summary>
    public IReadOnlyList<ContextStatistics> Contexts => _contexts.Select(c => c.Stats).ToArray();

    /// <summary>Cycles an engine spent on buffers.</summary>
    public ulong EngineBusyCycles(EngineKind engine) => _engineBusy[(int)engine];

    /// <summary>A context's share of its engine's busy time (0 when the engine never ran).</summary>
    public double GpuTimeShare(int context)
    {
        var s = _contexts[context].Stats;
        ulong busy = _engineBusy[s.Engine];
        return busy == 0 ? 0 : (double)s.GpuCycles / busy;
    }

    /// <summary>Registers a context (set-up time); returns the handle used by every other call.</summary>
    public int RegisterContext(uint processId, string processName, uint contextId, string contextName, EngineKind engine)
    {
        ArgumentException.ThrowIfNullOrEmpty(processName);
        ArgumentException.ThrowIfNullOrEmpty(contextName);
        int track = _sink.DefineTrack(TraceTrackKind.ContextQueue, $"{processName} / {contextName}", processId, processName, contextId);
        if (!_byContextId.TryAdd(contextId, _contexts.Count))
            throw new ArgumentException($"context id {contextId} is already registered", nameof(contextId));
        _contexts.Add(new ContextState(new ContextStatistics(processId, processName, contextId, contextName, (int)engine), track));
        return _contexts.Count - 1;
    }

    /// <summary>The handle of a registered context id (for adapters of scheduler events that carry context ids).</summary>
    public bool TryGetHandle(uint contextId, out int handle) => _byContextId.TryGetValue(contextId, out handle);

    /// <summary>A buffer entered the context's software queue (through the gate when <paramref name="ring0"/>, else a ring-3 doorbell).</summary>
    public void Submitted(int context, ulong cycle, ulong bufferId, bool ring0)
    {
        var c = _contexts[context];
        c.Pending.Enqueue((bufferId, cycle));
        c.Stats.BuffersSubmitted++;
        EmitDepth(c, cycle);
        if (ring0)
        {
            c.Stats.Ring0GateEntries++;
        }
        else
        {
            c.Stats.Doorbells++;
        }
    }

    /// <summary>
    /// The context's oldest pending buffer started (or resumed after a preemption) on its engine. A second call while
    /// it is already running (e.g. the next chunk of a split buffer handed to the hardware) changes nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The context has no pending buffer.</exception>
    public void Started(int context, ulong cycle)
    {
        var c = _contexts[context];
        if (!c.Pending.TryPeek(out var head)) throw new InvalidOperationException($"context {c.Stats.ContextName} has no pending buffer to start");
        if (c.Running) return;
        if (!c.HeadStarted)
        {
            // seed 001 §6: the latency a process feels is from submission to the engine picking the buffer up.
            ulong latency = cycle >= head.Submitted ? cycle - head.Submitted : 0;
            c.Stats.AddLatency(latency);
            CoprocMetrics.SubmitToStartLatency.Record((long)Math.Min(latency, long.MaxValue));
            c.HeadStarted = true;
        }
        c.Running = true;
        c.RunningSince = cycle;
    }

    /// <summary>The running buffer was preempted off the engine (seed 001 §8); it stays at the head of the queue.</summary>
    public void Preempted(int context, ulong cycle)
    {
        var c = _contexts[context];
        EndRun(c, cycle, "preempted");
        c.Stats.Preemptions++;
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Instant(_engineTracks[c.Stats.Engine], TraceCategory.Preemption, "preempt", cycle, c.Stats.ProcessId, c.Stats.ContextId));
    }

    /// <summary>
    /// A preemption of a context whose engine time is accounted from its own buffers' start and end (the run-list back
    /// end's contexts: TIMESTAMPs in memory): counted and marked in the trace, the running slice left as it is.
    /// </summary>
    public void PreemptionCounted(int context, ulong cycle)
    {
        var c = _contexts[context];
        c.Stats.Preemptions++;
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Instant(_engineTracks[c.Stats.Engine], TraceCategory.Preemption, "preempt", cycle, c.Stats.ProcessId, c.Stats.ContextId));
    }

    /// <summary>The running buffer completed: its engine slice and its queue slice end.</summary>
    /// <exception cref="InvalidOperationException">The context has no pending buffer.</exception>
    public void Completed(int context, ulong cycle)
    {
        var c = _contexts[context];
        if (c.Pending.Count == 0) throw new InvalidOperationException($"context {c.Stats.ContextName} has no pending buffer to complete");
        EndRun(c, cycle, "dma buffer");
        var head = c.Pending.Dequeue();
        c.HeadStarted = false;
        EmitDepth(c, cycle);
        c.Stats.BuffersCompleted++;
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Slice(c.Track, TraceCategory.DmaBuffer, "queued", head.Submitted, cycle - Math.Min(cycle, head.Submitted),
                c.Stats.ProcessId, c.Stats.ContextId, head.Id));
    }

    private void EndRun(ContextState c, ulong cycle, string name)
    {
        if (!c.Running) return;
        c.Running = false;
        ulong ran = cycle - Math.Min(cycle, c.RunningSince);
        c.Stats.GpuCycles += ran;
        _engineBusy[c.Stats.Engine] += ran;
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Slice(_engineTracks[c.Stats.Engine], TraceCategory.DmaBuffer, name, c.RunningSince, ran,
                c.Stats.ProcessId, c.Stats.ContextId, c.Pending.TryPeek(out var head) ? head.Id : 0));
    }

    /// <summary>
    /// The context faulted or was reset: its running buffer, if any, stops; with <paramref name="discardPending"/>
    /// (a reset) its queued buffers are dropped and never complete.
    /// </summary>
    public void Faulted(int context, ulong cycle, string reason, ulong address = 0, bool discardPending = false)
    {
        var c = _contexts[context];
        EndRun(c, cycle, "dma buffer (faulted)");
        if (discardPending)
        {
            c.Pending.Clear();
            c.HeadStarted = false;
            EmitDepth(c, cycle);
        }
        c.Stats.Faults++;
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Instant(_engineTracks[c.Stats.Engine], TraceCategory.Fault, reason, cycle, c.Stats.ProcessId, c.Stats.ContextId, address));
    }

    /// <summary>
    /// A page fault of the context that demand paging resolves (the advanced model, seed 001 §5.6–§5.8): counted apart
    /// from <see cref="Faulted"/> (errors and resets); its work stays queued and resumes once the page is resident.
    /// </summary>
    public void PageFaulted(int context, ulong cycle, ulong address = 0)
    {
        var c = _contexts[context];
        c.Stats.PageFaults++;
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Instant(_engineTracks[c.Stats.Engine], TraceCategory.Fault, "page fault", cycle, c.Stats.ProcessId, c.Stats.ContextId, address));
    }

    /// <summary>A paging buffer ran on <paramref name="engine"/> for the context's allocations (seed 001 §11).</summary>
    public void Paged(int context, EngineKind engine, ulong startCycle, ulong cycles, long bytes, bool evict)
    {
        var c = _contexts[context];
        c.Stats.BytesPaged += bytes;
        _engineBusy[(int)engine] += cycles;
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Slice(_engineTracks[(int)engine], TraceCategory.PagingBuffer, evict ? "evict" : "page-in", startCycle, cycles,
                c.Stats.ProcessId, c.Stats.ContextId, value: bytes));
    }

    /// <summary>The context's flip became visible.</summary>
    public void Presented(int context, ulong cycle)
    {
        var c = _contexts[context];
        c.Stats.FramesPresented++;
        CoprocMetrics.FramesPresented.Add(1);
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Instant(_deviceTrack, TraceCategory.Flip, "flip", cycle, c.Stats.ProcessId, c.Stats.ContextId));
    }

    /// <summary>A vsync passed with the context's frame due and not ready.</summary>
    public void MissedVsync(int context, ulong cycle)
    {
        var c = _contexts[context];
        c.Stats.MissedVsyncs++;
        CoprocMetrics.MissedVsyncs.Add(1);
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Instant(c.Track, TraceCategory.Vsync, "missed vsync", cycle, c.Stats.ProcessId, c.Stats.ContextId));
    }

    /// <summary>A vsync (device-wide).</summary>
    public void Vsync(ulong cycle, ulong count)
    {
        if (_sink.IsEnabled) _sink.Emit(TraceEvent.Instant(_deviceTrack, TraceCategory.Vsync, "vsync", cycle, value: (long)count));
    }

    /// <summary>A device interrupt taken by the driver.</summary>
    public void Interrupt(ulong cycle, string source)
    {
        if (_sink.IsEnabled) _sink.Emit(TraceEvent.Instant(_deviceTrack, TraceCategory.Interrupt, source, cycle));
    }

    /// <summary>
    /// An entry of the device's interrupt information queue as the driver's interrupt handler read it
    /// (native-layout.md §9.2): an instant on the engine's track (or the device track), named after its source;
    /// faults are in the fault category (and counted against their context when it is registered), vsyncs in vsync.
    /// </summary>
    public void Interrupt(in InterruptRecord info)
    {
        var source = (InterruptSource)info.Source;
        bool fault = source is InterruptSource.PageFault or InterruptSource.ProtectionFault or InterruptSource.InvalidCommand;
        if (fault && _byContextId.TryGetValue(info.ContextId, out int handle))
        {
            Faulted(handle, info.Cycle, SourceName(source), info.Data0);
            return;
        }
        if (!_sink.IsEnabled) return;
        int track = info.Engine < Engines.Count ? _engineTracks[info.Engine] : _deviceTrack;
        var category = fault ? TraceCategory.Fault : source == InterruptSource.Vsync ? TraceCategory.Vsync : TraceCategory.Interrupt;
        _sink.Emit(TraceEvent.Instant(track, category, SourceName(source), info.Cycle, 0, info.ContextId, info.Data1, (long)info.Data0));
    }

    /// <summary>The trace name of an interrupt source (constant strings: emitting allocates nothing).</summary>
    public static string SourceName(InterruptSource source) => source switch
    {
        InterruptSource.Fence => "fence interrupt",
        InterruptSource.Trap => "trap",
        InterruptSource.ContextSwitch => "context switch",
        InterruptSource.PageFault => "page fault",
        InterruptSource.ProtectionFault => "protection fault",
        InterruptSource.InvalidCommand => "invalid command",
        InterruptSource.Vsync => "vsync",
        InterruptSource.Doorbell => "doorbell",
        _ => "device error",
    };

    /// <summary>Bytes of local memory resident now.</summary>
    public void Residency(ulong cycle, long residentBytes)
    {
        if (_sink.IsEnabled) _sink.Emit(TraceEvent.Counter(_residencyTrack, TraceCategory.Residency, "local memory resident", cycle, residentBytes));
    }

    private void EmitDepth(ContextState c, ulong cycle)
    {
        // A counter series per context queue (seed 001 §6.2: the software queue's depth).
        if (_sink.IsEnabled)
            _sink.Emit(TraceEvent.Counter(c.Track, TraceCategory.QueueDepth, c.QueueDepthName, cycle, c.Pending.Count));
    }

    /// <summary>The trace name of an engine.</summary>
    public static string EngineName(EngineKind engine) => engine switch
    {
        EngineKind.Render => "render",
        EngineKind.Compute => "compute",
        EngineKind.Copy => "copy",
        EngineKind.VideoDecode => "video_decode",
        _ => "video_encode",
    };
}
