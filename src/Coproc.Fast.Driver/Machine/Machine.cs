using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Device.Display;

namespace Coproc.Fast.Driver;

/// <summary>
/// The composition root (docs/concepts.md): a <see cref="Coprocessor"/>, VidMm, the residency manager, the ring-0
/// gate, the KMD and the basic-model scheduler, wired through the hardware interface only, run either
/// deterministically on a virtual clock or with real threads (<see cref="MachineRunMode"/>).
/// </summary>
/// <remarks>
/// Design (deterministic mode): the virtual clock is the device's cycle counter. Driver work is a queue of events
/// ordered by (cycle, sequence) — interrupt service after <see cref="MachineOptions.InterruptLatencyCycles"/>,
/// preparation jobs after their modeled CPU cost, timers at their cycle. Between events the device is stepped
/// while it has work, or jumps to the next event when it has none. No wall-clock time and one thread: the same
/// inputs give the same bytes, order and trace.
/// </remarks>
public sealed partial class Machine : IDisposable
{
    private readonly PriorityQueue<(MachineEvent Kind, int Engine), (ulong Cycle, long Seq)> _events = new();
    private readonly DirectDeviceBus? _direct;
    private long _eventSeq;
    private int _pendingWork; // queued events other than timers (interrupt service, preparation jobs)
    private bool _disposed;
    private bool _inGateCharge;
    private bool _isrPending;
    private InterruptRecord[] _records = new InterruptRecord[64];

    /// <summary>
    /// Builds the machine. <paramref name="residency"/> creates the residency manager over VidMm and the device;
    /// null (the default) uses VidMm's <see cref="ResidencyManager"/>.
    /// </summary>
    public Machine(MachineOptions? options = null, Func<VideoMemoryManager, Coprocessor, IResidencyManager>? residency = null)
        : this(options, residency, runListBusView: null)
    {
    }

    /// <summary>
    /// For tests: <paramref name="runListBusView"/> wraps the bus the advanced model's run-list back end sees (e.g. a
    /// device whose registers report less, as the seed's hardware would).
    /// </summary>
    internal Machine(MachineOptions? options, Func<VideoMemoryManager, Coprocessor, IResidencyManager>? residency,
        Func<IDeviceBus, IDeviceBus>? runListBusView)
    {
        residency ??= static (vidmm, _) => new ResidencyManager(vidmm);
        Options = options ?? new MachineOptions();
        Options.Validate();
        Device = new Coprocessor(Options.Device);
        try
        {
            // The bus is the driver's only way to the registers (docs/embedding.md "How the driver reaches the device").
            IDeviceBus bus;
            if (Options.Mode == MachineRunMode.Deterministic) bus = _direct = new DirectDeviceBus(Device);
            else bus = _posted = new PostedDeviceBus(Device);
            Bus = bus;
            VidMm = new VideoMemoryManager(bus);
            Residency = residency(VidMm, Device);
            Scheduler = CreateSchedulers(bus, Options);
            var direct = new DirectSwitchingBackEnd(_schedulers);
            var core = new SchedulingCoreBackEnd(() => Volatile.Read(ref _userQueues), bus);
            if (Options.Model == SchedulingModel.Advanced)
            {
                var runLists = CreateRunListBackEnd(runListBusView?.Invoke(bus) ?? bus, Residency);
                foreach (var e in runLists.Scheduler.Engines)
                {
                    direct.YieldEngine(e);
                    if (_schedulers[(int)e] is { } s) s.DrivenByRunLists = true;
                }
                _backEnds = [direct, runLists, core];
                _polled = [runLists];
            }
            else
            {
                _backEnds = [direct, core];
                _polled = [];
            }
            var gate = Options.Gate;
            if (_direct is not null && gate.Policy == Ring0GatePolicy.Modeled && gate.ChargeVirtualCycles is null)
            {
                // Deterministic mode: the modeled kernel transition is CPU time during which the device keeps running,
                // so each entry advances the virtual clock by its cost (docs/concepts.md "The pipeline").
                gate = gate with { ChargeVirtualCycles = ChargeGate };
            }
            Gate = new Ring0Gate(gate);
            Kmd = new Kmd(Gate, VidMm, Residency, Scheduler, Options.Quotas) { InTransitWait = InTransitWaiter, AllocationDisowned = ForgetSubmissionMapping };
            Display = new PresentManager(Kmd, VidMm, bus, Scheduler.KernelLock, Options.Device.VsyncPeriodCycles, new EngineHost(this, DisplayTimer))
            {
                RunLists = _runLists?.Scheduler, // the advanced model's contexts flip through the same present path
            };
        }
        catch
        {
            Device.Dispose();
            throw;
        }
    }

    /// <summary>The configuration.</summary>
    public MachineOptions Options { get; }

    /// <summary>The device.</summary>
    public Coprocessor Device { get; }

    /// <summary>The video memory manager.</summary>
    public VideoMemoryManager VidMm { get; }

    /// <summary>The residency manager.</summary>
    public IResidencyManager Residency { get; }

    /// <summary>The ring-0 gate.</summary>
    public Ring0Gate Gate { get; }

    /// <summary>The kernel-mode driver.</summary>
    public Kmd Kmd { get; }

    private UserQueueRegistrar? _userQueues;

    /// <summary>
    /// Ring-3 user queues (seed 003): registered once through the ring-0 gate, then filled and rung from ring 3; the
    /// device's scheduling core runs them. Available in every <see cref="SchedulingModel"/>; the hardware model runs
    /// every application context this way.
    /// </summary>
    public UserQueueRegistrar UserQueues => LazyInitializer.EnsureInitialized(ref _userQueues, () => new UserQueueRegistrar(Bus, Gate)
    {
        KernelLock = Scheduler.KernelLock, InTransitWait = InTransitWaiter, // Open waits for memory in transit (Machine.CpuAccess.cs)
        ContextIdInUse = id => TryGetContext(id, out _), // ids unique across the machine (GpuContext)
    });

    /// <summary>The scheduler of the default engine (<see cref="VidSchOptions.Engine"/>, render unless configured).</summary>
    public VidSchScheduler Scheduler { get; }

    /// <summary>
    /// The device bus: every driver part reaches the registers through it (deterministic: at once; threaded: writes posted
    /// to the device thread, a read applies them first — <see cref="IDeviceBus"/>).
    /// </summary>
    public IDeviceBus Bus { get; }

    /// <summary>Deterministic mode: device steps taken.</summary>
    public long DeviceSteps { get; private set; }

    /// <summary>Deterministic mode: driver events run (interrupt service, preparation jobs, timers).</summary>
    public long EventsRun { get; private set; }

    /// <summary>Deterministic mode: interrupt batches the interrupt service routine drained and delivered.</summary>
    public long InterruptBatches { get; private set; }

    /// <summary>Virtual time: the device clock.</summary>
    public ulong Now => Device.Cycle;

    /// <summary>
    /// Creates a managed (evictable) allocation for <paramref name="processId"/> in <paramref name="context"/>'s working
    /// set through the residency manager, and records the process as its owner (seed 001 §5.1).
    /// </summary>
    /// <exception cref="InvalidOperationException">The residency manager is not VidMm's <see cref="ResidencyManager"/>.</exception>
    public AllocationHandle AllocateManaged(uint processId, VidSchContext context, ulong bytes)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(context);
        if (Residency is not ResidencyManager rm) throw new InvalidOperationException("managed allocations need VidMm's ResidencyManager");
        AllocationHandle h;
        lock (Scheduler.KernelLock) h = rm.CreateAllocation(bytes, context.Id);
        Kmd.Process(processId).Own(h, bytes);
        return h;
    }

    /// <summary>Creates a scheduling context on the default engine (<see cref="VidSch.VidSchOptions.Engine"/>): exactly
    /// <see cref="CreateContext(uint, int, EngineKind)"/> on that engine, with its checks and its wait for paging.</summary>
    /// <exception cref="InvalidOperationException">The default engine is driven by run lists (the advanced model: use
    /// <see cref="OpenContext"/> or <see cref="RunListScheduler"/>), or it already has <see cref="ContextIdsPerEngine"/> contexts.</exception>
    /// <exception cref="VidMm.VidMmException"><see cref="VidMm.VidMmError.OutOfLocalMemory"/>: no room for the save area or the ring.</exception>
    // Invariant: no kernel-path context is ever created on an engine the run lists drive — such a context's work (a
    // signal, a wait, a command buffer) took the engine away from the run lists and stalled every other process's
    // run-list work on it. This overload used to skip the check the engine overload makes.
    public VidSchContext CreateContext(uint processId, int priority = 0) => CreateContext(processId, priority, Options.Scheduler.Engine);

    /// <summary>
    /// Deterministic mode: runs events and the device until the scheduler is idle (everything submitted retired or
    /// failed) or <paramref name="maxCycles"/> pass. Returns true when idle.
    /// </summary>
    public bool RunUntilIdle(ulong maxCycles = 10_000_000_000)
    {
        RequireDeterministic();
        ulong until = Deadline(maxCycles);
        while (Now < until)
        {
            // Timers left armed for work that has since retired do not keep the machine busy; they stay queued (see
            // StepOnce) and fire harmlessly when time reaches them.
            if (AllIdle && _pendingWork == 0 && !_isrPending && !DeviceBusy()) return true;
            if (!StepOnce(until)) return AllIdle;
        }
        return AllIdle;
    }

    /// <summary>Deterministic mode: runs for exactly <paramref name="cycles"/> of virtual time.</summary>
    public void RunFor(ulong cycles)
    {
        RequireDeterministic();
        ulong until = Deadline(cycles);
        while (Now < until)
            if (!StepOnce(until)) { Device.Step(until - Now); NoteInterruptLine(); break; }
    }

    /// <summary>Deterministic mode: runs until <paramref name="condition"/> holds (checked after each step) or the budget ends.</summary>
    public bool RunUntil(Func<bool> condition, ulong maxCycles = 10_000_000_000)
    {
        RequireDeterministic();
        ArgumentNullException.ThrowIfNull(condition);
        ulong until = Deadline(maxCycles);
        while (Now < until)
        {
            if (condition()) return true;
            if (!StepOnce(until)) { if (Now < until) { Device.Step(until - Now); NoteInterruptLine(); } break; }
        }
        return condition();
    }

    // One event or one device step. False when there is nothing left to do before `until`.
    private bool StepOnce(ulong until)
    {
        ulong now = Now;
        // Work submitted since the last step is put on the device before time moves (the run lists' Poll).
        foreach (var b in _polled)
            if (b.Poll()) _direct!.Kicked = true;
        // An interrupt raised by a register write of a driver event (e.g. a reset's CONTEXT_SWITCH from a timer) is
        // serviced after the modeled latency, not at the end of the next idle jump.
        if (NoteInterruptLine()) return true;
        // Invariant: a timer a scheduler requested is never dropped. Each scheduler remembers the timer it armed and
        // does not ask again for a later cycle while that one is pending (VidSchScheduler.ArmTimer); a timer removed
        // behind its back would leave a hung context that is submitted later without a timeout. Idle stretches are
        // handled by RunUntilIdle, which does not wait for timers.
        if (_events.TryPeek(out var ev, out var key) && key.Cycle <= now)
        {
            _events.Dequeue();
            if (ev.Kind != MachineEvent.Timer) _pendingWork--;
            Run(ev);
            return true;
        }
        ulong next = _events.Count > 0 ? key.Cycle : ulong.MaxValue;
        bool busy = DeviceBusy();
        if (!busy && next == ulong.MaxValue)
        {
            if (NoteInterruptLine()) return true; // an idle step may have raised one
            // Idle with a vsync: time still moves vsync by vsync (each may complete a flip, native-layout.md §12), so
            // every vsync interrupt is serviced after the modeled latency, not at the end of a long idle stretch.
            uint period = _direct!.ReadRegister32(MmioMap.DisplayBase + DisplayRegisters.VsyncPeriod);
            if (period == 0) return false;
            next = (now / period + 1) * period;
        }
        ulong target = busy ? Math.Min(now + Options.StepCycles, next) : next;
        target = Math.Min(target, until);
        if (target <= now) return false;
        _direct!.Kicked = false;
        Device.Step(target - now);
        DeviceSteps++;
        NoteInterruptLine();
        return true;
    }

    // After a device step: an asserted line gets the interrupt service routine after the modeled latency. True when
    // that queued an event.
    private bool NoteInterruptLine()
    {
        if (_isrPending || !InterruptServiceRoutine.LineAsserted(Bus)) return false;
        _isrPending = true;
        Enqueue(MachineEvent.Interrupt, Now + Options.InterruptLatencyCycles);
        return true;
    }

    private void ChargeGate(ulong cycles)
    {
        if (_inGateCharge) return; // a charge while the machine is already running events (re-entry) is only counted
        _inGateCharge = true;
        try { RunFor(cycles); }
        finally { _inGateCharge = false; }
    }

    private void Run((MachineEvent Kind, int Engine) ev)
    {
        EventsRun++;
        switch (ev.Kind)
        {
            case MachineEvent.Interrupt:
                _isrPending = false;
                int n = InterruptServiceRoutine.Drain(Bus, ref _records);
                InterruptBatches++;
                DeliverInterrupts(_records.AsSpan(0, n));
                if (InterruptServiceRoutine.LineAsserted(Bus))
                {
                    _isrPending = true;
                    Enqueue(MachineEvent.Interrupt, Now + Options.InterruptLatencyCycles);
                }
                break;
            case MachineEvent.Preparation when ev.Engine == RunListSlot:
                _runLists!.Scheduler.RunPagingThread();
                break;
            case MachineEvent.Preparation:
                _schedulers[ev.Engine]!.RunPreparation();
                break;
            case MachineEvent.Timer when ev.Engine == DisplayTimer:
                Display.OnTimer();
                break;
            case MachineEvent.Timer when ev.Engine == RunListSlot:
                _runLists!.Scheduler.OnTimer();
                break;
            case MachineEvent.Timer:
                _schedulers[ev.Engine]!.OnTimer();
                break;
        }
    }

    private bool DeviceBusy()
    {
        if (_direct!.Kicked) return true;
        // Ring-3 user queues run under the device's scheduling core, not as an engine's loaded context: a pending doorbell
        // or a queue on a scheduling-core run list is work too (WORK_PENDING bit 8, native-layout.md §6.1). Without it a
        // hardware-model run jumped its whole budget in one step and noticed the queues' interrupts only at its end.
        if ((_direct.ReadRegister32(MmioMap.DeviceBase + DeviceRegisters.WorkPending) & DeviceRegisters.WorkPendingUserQueues) != 0) return true;
        for (int e = 0; e < Engines.Count; e++)
        {
            uint s = _direct!.ReadRegister32(EngineRegisters.At((EngineKind)e, EngineRegisters.Status));
            // Loaded, runnable, not empty; a context stalled on WAIT with nothing to yield to is not busy (time jumps).
            if ((s & (EngineRegisters.StatusLoaded | EngineRegisters.StatusRunnable | EngineRegisters.StatusEmpty | EngineRegisters.StatusWaiting)) == (EngineRegisters.StatusLoaded | EngineRegisters.StatusRunnable)) return true;
        }
        return false;
    }

    private void Enqueue(MachineEvent ev, ulong cycle, int engine = 0)
    {
        if (ev != MachineEvent.Timer) _pendingWork++;
        _events.Enqueue((ev, engine), (cycle, ++_eventSeq));
    }

    // The cycle `cycles` after Now, saturating at the end of the 64-bit clock: a caller's "run for ulong.MaxValue cycles"
    // means "as long as it takes", never a deadline that wrapped into the past (which returned at once).
    private ulong Deadline(ulong cycles) => cycles > ulong.MaxValue - Now ? ulong.MaxValue : Now + cycles;

    private void RequireDeterministic()
    {
        ThrowIfDisposed();
        if (_direct is null) throw new InvalidOperationException("this machine runs in threaded mode: use Start / WaitUntilIdle");
    }

    // A disposed machine's device memory is freed: every public call that would reach it throws instead of touching it
    // (docs/embedding.md "A disposed machine throws ObjectDisposedException").
    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Stops threads (threaded mode) and frees device memory. Afterwards the machine's calls throw
    /// <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        StopThreads();
        Device.Dispose();
    }

    private enum MachineEvent : byte { Interrupt, Preparation, Timer }
}
