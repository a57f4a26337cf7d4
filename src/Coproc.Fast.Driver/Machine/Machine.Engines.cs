using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver;

public sealed partial class Machine
{
    /// <summary>
    /// Context ids of one engine's scheduler: the default engine keeps <see cref="VidSchOptions.FirstContextId"/>, the
    /// others follow in steps of this many ids (so an interrupt's context id names one engine's context only).
    /// </summary>
    public const int ContextIdsPerEngine = 0x1000;

    // Timer events of the present path carry this pseudo-engine index.
    private const int DisplayTimer = Engines.Count;

    private readonly VidSchScheduler?[] _schedulers = new VidSchScheduler?[Engines.Count];
    // The engine back ends (EngineBackEnds.cs): direct switching, the run lists (advanced model), the scheduling core —
    // in the order interrupt batches reach them. The event loops below and in Machine.cs / Machine.Threaded.cs know them
    // only through IEngineBackEnd.
    private readonly IEngineBackEnd[] _backEnds;
    // The back ends with work to put on the device before time moves (deterministic mode; IEngineBackEnd.Poll).
    private readonly IEngineBackEnd[] _polled;
    // Threaded mode: each engine's oldest preparation request the worker has not finished, as the device cycle it was made at
    // (long.MaxValue: none); set by the requester, cleared by the worker once it has served every request counted so far.
    private readonly long[] _preparationRequestedAt = Enumerable.Repeat(long.MaxValue, Engines.Count).ToArray();
    // Threaded mode: preparation requests made per engine (the worker runs a preparation while it has not served them all).
    private readonly long[] _preparationRequests = new long[Engines.Count];
    private readonly long[] _preparationsServed = new long[Engines.Count]; // worker thread only

    /// <summary>
    /// The schedulers, indexed by <see cref="EngineKind"/> (null for an engine the machine does not schedule). They
    /// share the kernel lock, VidMm / residency, the device paging queue (<see cref="Paging"/>) and each other's pinned
    /// chunks (docs/concepts.md, "Several engines").
    /// </summary>
    public IReadOnlyList<VidSchScheduler?> Schedulers => _schedulers;

    /// <summary>
    /// Every context of the machine, whichever back end runs it (docs/models.md "One context type"): the kernel-path
    /// contexts of every engine's scheduler (<see cref="VidSchContext"/>), the run-list contexts of the advanced model
    /// (<see cref="VidSch.RunLists.VaContext"/>) and the user queues registered now (<see cref="Kernel.UserQueueContext"/>),
    /// ordered by id; a copy. The kernel's own paging context is not listed (it is the paging queue's, <see cref="Paging"/>).
    /// </summary>
    public IReadOnlyList<GpuContext> Contexts
    {
        get
        {
            var all = CollectContexts();
            all.Sort(static (a, b) => a.Id.CompareTo(b.Id));
            return all;
        }
    }

    /// <summary>The context with id <paramref name="id"/> (<see cref="Contexts"/>), if there is one.</summary>
    public bool TryGetContext(int id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GpuContext? context)
    {
        context = CollectContexts().Find(c => c.Id == id);
        return context is not null;
    }

    // Every back end's live contexts, unordered (a new list).
    private List<GpuContext> CollectContexts()
    {
        var all = new List<GpuContext>();
        lock (Scheduler.KernelLock) // lock order: the kernel lock, then the registrar's own
            foreach (var b in _backEnds) b.AddContexts(all);
        return all;
    }

    /// <summary>
    /// The machine's one paging channel, the seed 004 device paging queue (docs/memory.md "One paging channel"): every
    /// paging buffer of every engine's scheduler and of the advanced model's run-list back end runs on its kernel context,
    /// on <see cref="MachineOptions.PagingEngine"/> (the advanced model: in the run lists of <see cref="VidSch.RunLists.RunListOptions.Engine"/>).
    /// </summary>
    public VidMm.Paging.DevicePagingQueue Paging { get; private set; } = null!;

    /// <summary>The scheduler of <paramref name="engine"/>.</summary>
    /// <exception cref="InvalidOperationException">The machine does not schedule that engine (<see cref="MachineOptions.ScheduledEngines"/>).</exception>
    public VidSchScheduler SchedulerFor(EngineKind engine) =>
        (uint)engine < Engines.Count && _schedulers[(int)engine] is { } s
            ? s : throw new InvalidOperationException($"engine {engine} is not scheduled by this machine");

    /// <summary>
    /// Creates a scheduling context of <paramref name="processId"/> on <paramref name="engine"/>. Its save area and ring
    /// are local memory the kernel writes at once; when the only room is memory a recorded eviction has not finished
    /// reading yet (memory in transit, docs/memory.md), it waits for that paging — running the machine in deterministic
    /// mode — and tries again, unless called under the kernel lock or on a machine thread.
    /// </summary>
    /// <exception cref="InvalidOperationException">The engine is not scheduled, or it already has <see cref="ContextIdsPerEngine"/> contexts.</exception>
    /// <exception cref="VidMm.VidMmException"><see cref="VidMm.VidMmError.OutOfLocalMemory"/>: no room for the save area or the ring.</exception>
    public VidSchContext CreateContext(uint processId, int priority, EngineKind engine)
    {
        ThrowIfDisposed();
        if (IsRunListEngine(engine))
            throw new InvalidOperationException($"engine {engine} is driven by run lists in the advanced model: create a process and a context on RunListScheduler");
        var s = SchedulerFor(engine);
        if (s.Contexts.Count >= ContextIdsPerEngine)
            throw new InvalidOperationException($"engine {engine} already has {ContextIdsPerEngine} contexts (its id range is full)");
        return AfterPagingWhenInTransit(static a => a.S.CreateContext(a.ProcessId, a.Priority), (S: s, ProcessId: processId, Priority: priority));
    }

    /// <summary>
    /// Sets the observer of every engine's scheduler and of the advanced model's run-list back end (its preemptions,
    /// <see cref="ScheduleEventKind.ContextPreempted"/>); events carry their context id, unique across engines and back ends.
    /// </summary>
    public void SetObserver(IScheduleObserver? observer)
    {
        foreach (var b in _backEnds) b.SetObserver(observer);
    }

    /// <summary>
    /// Sets one opt-in log for the machine's one event history (seed 001 §11; <c>Sync/SyncObjectTable.cs</c>): every
    /// processed history entry of every back end's contexts (every engine's scheduler, and the advanced model's run
    /// lists) lands in <paramref name="log"/>, in processing order (null: no log). For tests and tools; it grows without
    /// bound while set. Like the observer, a host attachment: a machine save-state does not keep it.
    /// </summary>
    public void SetEventHistoryLog(List<VidSch.Sync.SchedulerEventRecord>? log)
    {
        lock (Scheduler.KernelLock)
            foreach (var b in _backEnds) b.SetEventHistoryLog(log);
    }

    /// <summary>The present path: display mode, primary surfaces, flips (seed 001 §9).</summary>
    public PresentManager Display { get; }

    /// <summary>
    /// True when every engine back end is idle — every engine's scheduler, the run lists (advanced model) and the
    /// registered user queues (none pending behind a doorbell or on a scheduling-core run list) — no paging is left to
    /// run, and no flip or held buffer waits for a vsync.
    /// </summary>
    public bool AllIdle
    {
        get
        {
            // Threaded mode: an interrupt batch is delivered to the schedulers, then to the display; between the two a
            // retired flip buffer leaves the schedulers idle before the display has noted the latch. A delivery
            // sequence (odd while delivering) makes the snapshot consistent.
            // Deterministic mode: the kernel state changes only on the thread that steps the machine, which is the thread
            // asking (progress is reported synchronously on it), so the per-step test reads it without the kernel lock.
            // Threaded mode: each part is read under the kernel lock.
            // Paging still to run (the queue's context may run on an engine without contexts) keeps the machine busy.
            ThrowIfDisposed();
            if (_posted is null)
            {
                if (Paging.HasWork) return false;
                foreach (var b in _backEnds)
                    if (!b.IsIdle(unlocked: true)) return false;
                return Display.IsIdleUnlocked;
            }
            int before = Volatile.Read(ref _deliverySequence);
            if ((before & 1) != 0) return false;
            lock (Scheduler.KernelLock) if (Paging.HasWork) return false;
            foreach (var b in _backEnds)
                if (!b.IsIdle(unlocked: false)) return false;
            return Display.IsIdle && Volatile.Read(ref _deliverySequence) == before;
        }
    }

    private int _deliverySequence;

    // options: the constructor's argument (or its default), named in the exceptions that reject it.
    private VidSchScheduler CreateSchedulers(IDeviceBus bus, MachineOptions options)
    {
        var o = options.Scheduler;
        var group = new SchedulerGroup();
        var engines = options.ScheduledEngines ?? AllEngines;
        if (!engines.Contains(o.Engine))
            throw new ArgumentException($"the default engine {o.Engine} must be scheduled", nameof(options));
        if (options.PagingEngine is { } pe && options.Model != SchedulingModel.Advanced && !engines.Contains(pe))
            throw new ArgumentException($"the paging engine {pe} must be scheduled", nameof(options));
        // One paging channel for every engine and model (seed 004; docs/memory.md "One paging channel"): created before
        // the schedulers, which share it; the advanced model's run-list back end uses the same queue (its ring size, in
        // local memory as its VidMm context always was; the other models keep it in system memory, as their paging buffers
        // always were, so it takes nothing from the local memory paging manages).
        bool advanced = options.Model == SchedulingModel.Advanced;
        group.CreatePaging(VidMm, Residency, advanced ? options.RunLists.PagingRingBytes : 64 << 10, inSystemMemory: !advanced);
        foreach (var e in engines)
        {
            if ((uint)e >= Engines.Count) throw new ArgumentOutOfRangeException(nameof(options), $"unknown engine {e}");
            if (_schedulers[(int)e] is not null) continue;
            int slot = ((int)e - (int)o.Engine + Engines.Count) % Engines.Count;
            var engineOptions = o with { Engine = e, FirstContextId = checked(o.FirstContextId + slot * ContextIdsPerEngine) };
            _schedulers[(int)e] = new VidSchScheduler(engineOptions, bus, VidMm, Residency, group) { Host = new EngineHost(this, (int)e) };
        }
        Paging = group.Paging;
        if (options.Model == SchedulingModel.Advanced)
        {
            group.PagingQueuedElsewhere = () => _runLists?.Scheduler.PagingQueued(); // its run lists list the queue's context
            group.PagingEngine = options.RunLists.Engine;
        }
        else
        {
            var pagingEngine = options.PagingEngine ?? (engines.Contains(EngineKind.Copy) ? EngineKind.Copy : o.Engine);
            group.SetPagingMember(_schedulers[(int)pagingEngine]!);
        }
        return _schedulers[(int)o.Engine]!;
    }

    private static readonly EngineKind[] AllEngines =
        [EngineKind.Render, EngineKind.Compute, EngineKind.Copy, EngineKind.VideoDecode, EngineKind.VideoEncode];

    private uint _interruptsDroppedSeen; // INFO_DROPPED as of the last delivery

    /// <summary>
    /// Deliveries after which the interrupt controller had dropped records (INFO_DROPPED moved) and the back ends rebuilt
    /// their picture of the engines from registers and save areas (docs/containment.md "An interrupt flood").
    /// </summary>
    public long InterruptLossesHandled { get; private set; }

    // Interrupts routed by engine: every back end reads the batch and keeps only its engines' records (the information
    // queue carries the engine). Then work one back end's retirement unblocked runs (IEngineBackEnd.AfterDelivery), then
    // the display.
    private void DeliverInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        Interlocked.Increment(ref _deliverySequence);
        try
        {
            // Inside the odd delivery sequence: a tap that calls SaveState is refused (the batch is drained, not delivered).
            InterruptTap?.OnInterrupts(records); // diagnostics (Machine.InterruptTap.cs)
            // Threaded mode: a back end serviced on the device thread got them there (Machine.Threaded.cs).
            foreach (var b in _backEnds)
                if (_posted is null || !b.ServicedOnDeviceThread) b.OnInterrupts(records);
            // Invariant: the kernel never waits for a report the device dropped. An information queue that overflowed
            // (an application's TRAP or FENCE flood fills its 64 entries) drops records and counts them in INFO_DROPPED
            // (native-layout.md §9.1); a context switch or fault among them would leave a scheduler waiting for ever —
            // the engine idle, work queued. So after a batch, a moved count makes every back end rebuild its picture from
            // the engines' registers and the save areas (docs/containment.md "An interrupt flood").
            uint dropped = Bus.ReadRegister32(MmioMap.InterruptBase + InterruptRegisters.InfoDropped);
            if (dropped != _interruptsDroppedSeen)
            {
                _interruptsDroppedSeen = dropped;
                InterruptLossesHandled++;
                // Records raised before the rebuild and not delivered yet, read before the back ends read the device.
                // Deterministic: exactly those still in the information queue (raised by this delivery's own register
                // writes). Threaded: the device thread drains the queue meanwhile, so no count is exact (one read twice
                // would skip fresh records — the hang this rebuild exists to prevent); records raised before the device
                // cycle read now are skipped instead (INFO_CYCLE), a record of that same cycle applied.
                int raisedBefore = _posted is null ? (int)Bus.ReadRegister32(MmioMap.InterruptBase + InterruptRegisters.InfoCount) : 0;
                ulong raisedBeforeCycle = _posted is null ? 0 : _posted.Cycle;
                // Threaded mode: a back end serviced on the device thread (the run lists) runs its handler pass there at
                // every drained batch, and that pass is its whole rebuild; its registers are driven from that thread only.
                foreach (var b in _backEnds)
                    if (_posted is null || !b.ServicedOnDeviceThread) b.OnInterruptsLost(raisedBefore, raisedBeforeCycle);
            }
            foreach (var b in _backEnds) b.AfterDelivery();
            Display.OnInterrupts(records);
        }
        finally { Interlocked.Increment(ref _deliverySequence); }
    }

    /// <summary>One engine's view of the machine as its scheduler's host (preparation jobs and timers carry the engine).</summary>
    private sealed class EngineHost(Machine machine, int engine) : ISchedulerHost
    {
        public void RequestPreparation(ulong modeledCycles)
        {
            if (machine._posted is not null && engine == RunListSlot)
            {
                machine._runLists!.RequestDeferred(); // the device thread runs it at its next pass
                machine._posted.Kick();
                return;
            }
            if (machine._posted is not null)
            {
                // Counted, then stamped with the device cycle unless an older request's stamp stands (invariant T1,
                // Machine.Threaded.cs): the device waits for the worker until every request is served.
                Interlocked.Increment(ref machine._preparationRequests[engine]);
                Interlocked.CompareExchange(ref machine._preparationRequestedAt[engine], (long)machine._posted.Cycle, long.MaxValue);
                machine.SignalWorker();
                return;
            }
            machine.Enqueue(MachineEvent.Preparation, machine.Now + modeledCycles, engine);
        }

        public void RequestTimer(ulong cycle)
        {
            if (machine._posted is not null && engine == RunListSlot) { machine._runLists!.SetTimer(cycle); return; }
            if (machine._posted is not null) { machine.SetThreadedTimer(cycle); return; }
            machine.Enqueue(MachineEvent.Timer, cycle, engine);
        }
    }
}
