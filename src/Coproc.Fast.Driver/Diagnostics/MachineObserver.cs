using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// The one observer path of a <see cref="Machine"/> (docs/observability.md): feeds every engine's VidSch events
/// (<see cref="IScheduleObserver"/>) and every interrupt batch (<see cref="IInterruptTap"/>) into one
/// <see cref="SchedulingObserver"/> — trace and per-context statistics (the driver counts the metrics itself) — by
/// context id: BufferSubmitted → Submitted; the engine switching to a context with work → Started, switching away
/// (requested or yielded) from one still holding work → Preempted; BufferCompleted → Completed (and Started again when
/// more is in its ring); ContextFault + ContextReset → one Faulted that drops the queue; PagingBuffer → Paged (bytes
/// split page-in / evict) and a residency counter sample; faults of contexts that are not VidSch's (user queues) →
/// Faulted, page faults of demand-paged contexts (the advanced model) left to their driver's
/// <see cref="SchedulingObserver.PageFaulted"/>. The engine each context is loaded on is tracked per scheduler.
/// </summary>
/// <remarks>
/// Design: VidSch calls this under its kernel lock; the work per event is a dictionary lookup and a few stores. The
/// observer keeps its own count of each context's pending buffers so an event it cannot match (e.g. a paging-only
/// entry re-run after a reset) is ignored rather than thrown. Contexts of the run-list back end and user queues report
/// through <see cref="SchedulingObserver"/> directly (their submitters see starts and ends in memory).
/// </remarks>
public sealed class MachineObserver(SchedulingObserver observer, IResidencyManager residency, int copyBytesPerCycle) : IScheduleObserver, IInterruptTap
{
    private readonly Dictionary<int, VidSchScheduler> _schedulers = [];
    private readonly Dictionary<VidSchScheduler, int> _loaded = [];

    /// <summary>Observes <paramref name="machine"/> (its schedulers' events and its interrupt batches) into <paramref name="observer"/>.</summary>
    public MachineObserver(SchedulingObserver observer, Machine machine)
        : this(observer, (machine ?? throw new ArgumentNullException(nameof(machine))).Residency, machine.Device.Options.PacketCosts.CopyBytesPerCycle)
    {
    }

    /// <summary>Makes this the observer of every engine's scheduler of <paramref name="machine"/> and its interrupt tap.</summary>
    public void Attach(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        machine.SetObserver(this);
        machine.InterruptTap = this;
    }

    /// <summary>Records which engine's scheduler owns context <paramref name="contextId"/> (paging statistics are per scheduler).</summary>
    public void Track(int contextId, VidSchScheduler scheduler) => _schedulers[contextId] = scheduler;

    /// <summary>
    /// Registers any context of the machine (<see cref="Machine.Contexts"/>) with the observer under the given names:
    /// a kernel-path context's scheduler is tracked (its events arrive through <see cref="OnEvent"/>), a run-list
    /// context is marked demand-paged (<see cref="TrackDemandPaged"/>: its page faults are not errors), and a user
    /// queue's faults arrive as interrupts. Returns the observer's handle.
    /// </summary>
    public int Register(GpuContext context, string processName, string contextName)
    {
        ArgumentNullException.ThrowIfNull(context);
        VidSchScheduler? scheduler = null;
        if (context is VidSchContext k)
            scheduler = k.Scheduler ?? throw new ArgumentException("the context has no scheduler", nameof(context));
        int handle = observer.RegisterContext(context.ProcessId, processName, (uint)context.Id, contextName, context.Engine);
        if (scheduler is not null) Track(context.Id, scheduler);
        if (context.Path == ContextPath.RunList) TrackDemandPaged((uint)context.Id);
        return handle;
    }

    private readonly Dictionary<int, int> _pending = [];
    private readonly Dictionary<int, string> _faultPendingReset = [];

    private readonly HashSet<uint> _demandPaged = [];

    /// <summary>Marks <paramref name="contextId"/> as demand-paged (advanced model): its page-fault interrupts are not errors.</summary>
    public void TrackDemandPaged(uint contextId) => _demandPaged.Add(contextId);

    /// <summary>Paging buffers seen.</summary>
    public long PagingBuffers { get; private set; }

    /// <summary>Bytes paged in plus evicted, over every paging buffer seen.</summary>
    public long BytesPaged { get; private set; }

    private readonly System.Collections.Concurrent.ConcurrentQueue<(ScheduleEvent Event, ulong PagedIn, ulong Evicted)> _events = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<InterruptRecord> _interrupts = new();

    /// <summary>
    /// Threaded machines: events and interrupts arrive on the machine's threads (scheduler, worker, submitter) while
    /// VidSch holds its kernel lock; they are queued (a paging buffer's byte split captured at once) and applied to
    /// the single-threaded observer by the caller's thread in <see cref="Drain"/>.
    /// </summary>
    public bool Deferred { get; init; }

    /// <summary>Applies the events and interrupts queued by a <see cref="Deferred"/> adapter, in arrival order.</summary>
    public void Drain()
    {
        while (_events.TryDequeue(out var q)) Apply(q.Event, q.PagedIn, q.Evicted);
        Span<InterruptRecord> one = stackalloc InterruptRecord[1];
        while (_interrupts.TryDequeue(out var r))
        {
            one[0] = r;
            ApplyInterrupts(one);
        }
    }

    /// <inheritdoc />
    public void OnEvent(in ScheduleEvent e)
    {
        ulong pagedIn = 0, evicted = 0;
        if (e.Kind == ScheduleEventKind.PagingBuffer && _schedulers.TryGetValue(e.ContextId, out var s)) (pagedIn, evicted) = s.LastPagingBufferBytes;
        if (Deferred) _events.Enqueue((e, pagedIn, evicted));
        else Apply(e, pagedIn, evicted);
    }

    private void Apply(in ScheduleEvent e, ulong pagedIn, ulong evicted)
    {
        if (!observer.TryGetHandle((uint)e.ContextId, out int h)) return;
        _pending.TryGetValue(h, out int pending);
        switch (e.Kind)
        {
            case ScheduleEventKind.BufferSubmitted:
                observer.Submitted(h, e.Cycle, (ulong)e.SubmissionId, ring0: true);
                _pending[h] = pending + 1;
                break;
            case ScheduleEventKind.ContextSwitched:
            {
                if (!_schedulers.TryGetValue(e.ContextId, out var engine)) break;
                int leftId = (int)e.Extra;
                if (leftId != 0 && leftId != e.ContextId && observer.TryGetHandle((uint)leftId, out int left)
                    && _pending.GetValueOrDefault(left) > 0 && (SwitchReason)e.Value is SwitchReason.Requested or SwitchReason.Yielded)
                    observer.Preempted(left, e.Cycle); // seed 001 §8: switched out mid-buffer
                _loaded[engine] = e.ContextId;
                if (pending > 0) observer.Started(h, e.Cycle);
                break;
            }
            case ScheduleEventKind.ContextPreempted when _demandPaged.Contains((uint)e.ContextId):
                // A run-list context (registered as demand-paged): its back end applies the rule this adapter applies to
                // the kernel path's switches below (left for another with work outstanding), so the counts compare.
                // The kernel path's own ContextPreempted events are not counted here: its switches are (ContextSwitched).
                observer.PreemptionCounted(h, e.Cycle);
                break;
            case ScheduleEventKind.BufferStarted:
                // A chunk written to the ring of the context the engine runs: it runs now.
                if (pending > 0 && IsLoaded(e.ContextId)) observer.Started(h, e.Cycle);
                break;
            case ScheduleEventKind.BufferCompleted:
                if (pending > 0)
                {
                    observer.Completed(h, e.Cycle);
                    _pending[h] = pending - 1;
                    if (pending > 1 && IsLoaded(e.ContextId)) observer.Started(h, e.Cycle);
                }
                break;
            case ScheduleEventKind.ContextFault:
                // A fault is followed by the reset that fails the context's work: counted once, at the reset.
                _faultPendingReset[h] = SchedulingObserver.SourceName((InterruptSource)e.Value);
                break;
            case ScheduleEventKind.ContextReset:
            {
                string reason = _faultPendingReset.Remove(h, out var r) ? $"{r} (reset)"
                    : (SubmissionStatus)e.Extra == SubmissionStatus.FailedTimeout ? "timeout (reset)" : "reset";
                observer.Faulted(h, e.Cycle, reason, discardPending: true);
                _pending[h] = 0;
                if (_schedulers.TryGetValue(e.ContextId, out var engine) && IsLoaded(e.ContextId)) _loaded[engine] = -1;
                break;
            }
            case ScheduleEventKind.BufferFailed:
                // Its resources can never be resident at once (seed 001 §3.4): a fault of that buffer only. It stays
                // counted as pending in the observer (which has no "drop one" event).
                observer.Faulted(h, e.Cycle, "does not fit");
                break;
            case ScheduleEventKind.PagingBuffer:
            {
                // seed 001 §11: the paging buffer runs on the paging engine (the device paging queue's context) just before
                // the chunk it serves.
                if (!_schedulers.TryGetValue(e.ContextId, out var scheduler)) break;
                long bytes = (long)(pagedIn + evicted);
                // An estimate (the buffer runs later, inside the chunk's ring entry): its COPYs at the device's cost.
                ulong cycles = (pagedIn + evicted) / (ulong)Math.Max(1, copyBytesPerCycle) + e.Value * 64;
                observer.Paged(h, scheduler.PagingEngine, e.Cycle, cycles, bytes, evict: evicted > pagedIn);
                PagingBuffers++;
                BytesPaged += bytes;
                if (residency is ResidencyManager rm) observer.Residency(e.Cycle, (long)rm.ResidentBytes);
                break;
            }
        }
    }


    private bool IsLoaded(int contextId) =>
        _schedulers.TryGetValue(contextId, out var engine) && _loaded.TryGetValue(engine, out int id) && id == contextId;

    /// <summary>
    /// Every interrupt the ISR read becomes an instant on its engine's track (fence, context switch, doorbell …; vsyncs come from the runner). Faults of
    /// VidSch contexts are left to <see cref="ScheduleEventKind.ContextFault"/> (counted once, at the reset); faults of
    /// other contexts (ring-3 queues) are counted against them here.
    /// </summary>
    public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        if (Deferred)
        {
            foreach (var r in records) _interrupts.Enqueue(r);
            return;
        }
        ApplyInterrupts(records);
    }

    private void ApplyInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        foreach (var r in records)
        {
            bool fault = r.Source is InterruptRecord.PageFault or InterruptRecord.ProtectionFault or InterruptRecord.InvalidCommand;
            if (fault && _schedulers.ContainsKey((int)r.ContextId)) continue;
            // A page fault of a demand-paged context (advanced model) is its normal operation, reported by its driver
            // as a page fault (SchedulingObserver.PageFaulted), not an error.
            if (r.Source == InterruptRecord.PageFault && _demandPaged.Contains(r.ContextId)) continue;
            if ((InterruptSource)r.Source == InterruptSource.Vsync) continue; // the runner emits each vsync itself
            observer.Interrupt(r);
        }
    }
}
