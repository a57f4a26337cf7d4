using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver;

/// <summary>
/// The machine's plug point for an engine back end (docs/models.md "Engine back ends"): what decides which context an
/// engine runs. Three exist — direct switching (<see cref="DirectSwitchingBackEnd"/>: the kernel's VidSch schedulers
/// write CONTEXT_SWITCH / NEXT_CONTEXT, seed 001 §3), run lists (<see cref="RunListBackEnd"/>: the kernel hands the engine
/// a two-entry list or reads its history buffer, seed 001 §6) and the device's scheduling core
/// (<see cref="SchedulingCoreBackEnd"/>: the device arbitrates registered ring-3 queues itself, seed 003). The machine's
/// event loops (deterministic and threaded, written once in <see cref="Machine"/>) know only this interface: they poll
/// each back end for new work before time moves, hand each interrupt batch to every back end, and ask each whether it is
/// idle and which contexts it holds. Every back end reaches the device through the hardware interface only (MMIO through
/// the machine's <see cref="IDeviceBus"/>, memory, interrupt records).
/// </summary>
internal interface IEngineBackEnd
{
    /// <summary>What the machine's summaries call it.</summary>
    string Name { get; }

    /// <summary>
    /// Threaded mode: the back end's register traffic must happen on the device thread between steps (the run-list
    /// protocol reads status right after each write; native-layout.md §10.5), so the device thread services it
    /// (<see cref="ServiceOnDeviceThread"/>) and the scheduler thread's interrupt delivery skips it.
    /// </summary>
    bool ServicedOnDeviceThread { get; }

    /// <summary>Adds the back end's live contexts to <paramref name="into"/> (the caller holds the kernel lock).</summary>
    void AddContexts(List<GpuContext> into);

    /// <summary>Sets the observer its scheduling events go to.</summary>
    void SetObserver(IScheduleObserver? observer);

    /// <summary>Sets the log its contexts' processed event-history entries go to (the caller holds the kernel lock).</summary>
    void SetEventHistoryLog(List<SchedulerEventRecord>? log);

    /// <summary>
    /// Deterministic mode, before time moves: puts work submitted since the last call on the device. True when it wrote
    /// registers (the device has new work even if it looked idle).
    /// </summary>
    bool Poll();

    /// <summary>An interrupt batch: the back end keeps the records of the engines it drives.</summary>
    void OnInterrupts(ReadOnlySpan<InterruptRecord> records);

    /// <summary>After every back end has seen a batch: work one back end's retirement unblocked runs now.</summary>
    void AfterDelivery();

    /// <summary>
    /// The interrupt controller dropped records (INFO_DROPPED moved, its information queue was full): the back end may
    /// have missed reports it depends on, so it rebuilds its picture of its engines from their registers and its
    /// contexts' save areas (docs/containment.md "An interrupt flood"). <paramref name="raisedBefore"/>: records raised
    /// before the rebuild reads the device and not yet delivered — their effect is in the rebuilt picture, so a back end
    /// that would apply them twice skips that many of the next records it is given (deterministic mode, where the count is
    /// exact). <paramref name="raisedBeforeCycle"/>: threaded mode, where no count is exact (the device thread drains
    /// meanwhile): records raised before this device cycle are skipped instead; 0 = none.
    /// </summary>
    void OnInterruptsLost(int raisedBefore, ulong raisedBeforeCycle);

    /// <summary>
    /// Nothing submitted is still to run. <paramref name="unlocked"/>: the caller is the one thread that changes kernel
    /// state (deterministic mode), so the test reads it without the kernel lock.
    /// </summary>
    bool IsIdle(bool unlocked);

    /// <summary>Threaded mode, scheduler thread: every device record up to <paramref name="cycle"/> has been delivered.</summary>
    void ObserveThrough(ulong cycle);

    /// <summary>Threaded mode, scheduler thread: the machine's shared timer fired.</summary>
    void OnSharedTimer();

    /// <summary>
    /// Threaded mode, device thread, between steps (only when <see cref="ServicedOnDeviceThread"/>): interrupt records,
    /// deferred work, due timers and new work. True when it did something.
    /// </summary>
    bool ServiceOnDeviceThread(ReadOnlySpan<InterruptRecord> records, ulong cycle);

    /// <summary>Threaded mode: a timer of this back end's own is armed (the device clock must keep moving to reach it).</summary>
    bool OwnTimerPending { get; }
}

/// <summary>
/// Direct switching (basic model, and every engine the advanced model does not give to run lists): one
/// <see cref="VidSchScheduler"/> per scheduled engine writes CONTEXT_SWITCH / NEXT_CONTEXT (seed 001 §3; native-layout.md §10).
/// </summary>
internal sealed class DirectSwitchingBackEnd(VidSchScheduler?[] schedulers) : IEngineBackEnd
{
    // Engines another back end drives: their records are not this back end's (its schedulers there have no contexts and
    // must not react to the run lists' switches).
    private readonly bool[] _drivenElsewhere = new bool[Engines.Count];

    public string Name => "direct switching";
    public bool ServicedOnDeviceThread => false;
    public bool OwnTimerPending => false;

    /// <summary>Gives <paramref name="engine"/> to another back end.</summary>
    public void YieldEngine(EngineKind engine) => _drivenElsewhere[(int)engine] = true;

    public void AddContexts(List<GpuContext> into)
    {
        foreach (var s in schedulers)
            if (s is not null) into.AddRange(s.Contexts);
    }

    public void SetObserver(IScheduleObserver? observer)
    {
        foreach (var s in schedulers)
            if (s is not null) s.Observer = observer;
    }

    public void SetEventHistoryLog(List<SchedulerEventRecord>? log)
    {
        foreach (var s in schedulers)
            if (s is not null) s.EventHistoryLog = log;
    }

    public bool Poll() => false; // the kernel path writes its registers when a buffer is submitted

    // An engine without contexts has nothing to retire, prepare or switch: skipped (the common single-engine case then
    // costs what it did with one scheduler). The paging engine's scheduler hears its engine even without contexts: it
    // runs the paging queue's context.
    private bool Hears(VidSchScheduler s) => (s.Contexts.Count > 0 || s.IsPagingEngine) && !_drivenElsewhere[(int)s.Options.Engine];

    private int _staleRecords;     // records raised before the last rebuild, still to be delivered (OnInterruptsLost)
    private ulong _staleBeforeCycle; // threaded: records raised before this cycle are the last rebuild's, 0 = none

    public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        // Records the last rebuild already accounted for are not applied again: a CONTEXT_SWITCH report would regress the
        // loaded context, an idle-switch report would be counted twice (invariant R2), a fault report would reset a
        // context whose reset already finished. They are the oldest of the stream (the information queue is FIFO).
        if (_staleRecords > 0)
        {
            int skip = Math.Min(_staleRecords, records.Length);
            _staleRecords -= skip;
            records = records[skip..];
        }
        if (_staleBeforeCycle != 0)
        {
            int skip = 0;
            while (skip < records.Length && records[skip].Cycle < _staleBeforeCycle) skip++;
            if (skip < records.Length) _staleBeforeCycle = 0; // a record of the rebuild's time or later: the rest is fresh
            records = records[skip..];
        }
        foreach (var s in schedulers)
            if (s is not null && Hears(s)) s.OnInterrupts(records);
    }

    public void OnInterruptsLost(int raisedBefore, ulong raisedBeforeCycle)
    {
        _staleRecords = raisedBefore;
        _staleBeforeCycle = raisedBeforeCycle;
        foreach (var s in schedulers)
            if (s is not null && Hears(s)) s.Resynchronize();
    }

    // A member whose deferred preparation waited for another engine's chunks to retire runs again (SchedulerGroup: pinned
    // chunks are shared).
    public void AfterDelivery()
    {
        foreach (var s in schedulers)
            if (s is not null && (s.Contexts.Count > 0 || s.IsPagingEngine)) s.PumpIfGroupRetired();
    }

    public bool IsIdle(bool unlocked)
    {
        foreach (var s in schedulers)
            if (s is not null && s.Contexts.Count > 0 && !(unlocked ? s.IsIdleUnlocked : s.IsIdle)) return false; // no context: nothing to run
        return true;
    }

    public void ObserveThrough(ulong cycle)
    {
        foreach (var s in schedulers) s?.ObserveThrough(cycle);
    }

    // One timer for every engine: each scheduler re-runs its decision and re-arms what it still needs.
    public void OnSharedTimer()
    {
        foreach (var s in schedulers) s?.OnTimer();
    }

    public bool ServiceOnDeviceThread(ReadOnlySpan<InterruptRecord> records, ulong cycle) => false;
}

/// <summary>
/// Run lists (advanced model, seed 001 §4–§8): the <see cref="RunListScheduler"/> on its engines. Deterministic mode: its
/// paging thread is a preparation event of the machine's run-list slot and its quantum a timer event there. Threaded mode:
/// the whole register traffic happens on the device thread between steps (<see cref="ServiceOnDeviceThread"/>); submitters on
/// other threads only write rings and save areas in memory and raise the work flag, and the kernel lock (shared with
/// VidSch) orders them against the device thread's pass.
/// </summary>
internal sealed class RunListBackEnd(RunListScheduler runLists) : IEngineBackEnd
{
    private int _deferredRequested;
    private long _timerAt = long.MaxValue;

    public string Name => "run lists";
    public bool ServicedOnDeviceThread => true;
    public RunListScheduler Scheduler => runLists;

    public void AddContexts(List<GpuContext> into) => into.AddRange(runLists.Contexts);

    public void SetObserver(IScheduleObserver? observer)
    {
        lock (runLists.KernelLock) runLists.Observer = observer;
    }

    public void SetEventHistoryLog(List<SchedulerEventRecord>? log) => runLists.EventHistoryLog = log;

    public bool Poll() => runLists.Poll();

    public void OnInterrupts(ReadOnlySpan<InterruptRecord> records) => runLists.OnInterrupts(records);

    // Its handler tolerates records it already acted on (fences and history are read from memory, the decision table from
    // the lists), and a two-element fault report must still reach it: nothing is skipped.
    public void OnInterruptsLost(int raisedBefore, ulong raisedBeforeCycle) => runLists.Resynchronize();

    public void AfterDelivery() { }

    public bool IsIdle(bool unlocked) => unlocked ? runLists.IsIdleUnlocked : runLists.IsIdle;

    public void ObserveThrough(ulong cycle) { }

    public void OnSharedTimer() { } // its quantum has a timer of its own (threaded: _timerAt)

    /// <summary>Threaded mode: asks the device thread to run the paging thread at its next pass.</summary>
    public void RequestDeferred() => Volatile.Write(ref _deferredRequested, 1);

    /// <summary>Threaded mode: arms the quantum timer at <paramref name="cycle"/> unless an earlier one is armed.</summary>
    public void SetTimer(ulong cycle) => Machine.ArmEarliest(ref _timerAt, cycle);

    public bool OwnTimerPending => Interlocked.Read(ref _timerAt) != long.MaxValue;

    public bool ServiceOnDeviceThread(ReadOnlySpan<InterruptRecord> records, ulong cycle)
    {
        bool any = false;
        if (records.Length > 0) { runLists.OnInterrupts(records); any = true; }
        if (Interlocked.Exchange(ref _deferredRequested, 0) != 0) { runLists.RunPagingThread(); any = true; }
        long at = Interlocked.Read(ref _timerAt);
        if (at != long.MaxValue && (long)cycle >= at && Interlocked.CompareExchange(ref _timerAt, long.MaxValue, at) == at)
        {
            runLists.OnTimer();
            any = true;
        }
        any |= runLists.Poll();
        return any;
    }
}

/// <summary>
/// The device's scheduling core (seed 003; native-layout.md §13): registered ring-3 queues, rung through doorbells, are
/// arbitrated by the device itself — by priority, with time slices — so the kernel takes no part in choosing what runs;
/// it registers queues (<see cref="UserQueueRegistrar"/>), pages and handles faults. This back end therefore only
/// answers for the queues: which contexts they are and whether any still has work, read through WORK_PENDING
/// (native-layout.md §6.1) like every other driver access.
/// </summary>
internal sealed class SchedulingCoreBackEnd(Func<UserQueueRegistrar?> registrar, IDeviceBus bus) : IEngineBackEnd
{
    public string Name => "scheduling core";
    public bool ServicedOnDeviceThread => false;
    public bool OwnTimerPending => false;

    public void AddContexts(List<GpuContext> into)
    {
        if (registrar() is { } r) into.AddRange(r.Contexts); // none before the registrar's first use
    }

    public void SetObserver(IScheduleObserver? observer) { } // the device arbitrates; the kernel sees no switch

    // User queues synchronize with fences and WAIT/SIGNAL packets: no event history of theirs reaches the kernel.
    public void SetEventHistoryLog(List<SchedulerEventRecord>? log) { }

    public bool Poll() => false; // ring 3 rings the doorbell itself

    public void OnInterrupts(ReadOnlySpan<InterruptRecord> records) { } // a faulting queue is stopped alone by the device

    public void OnInterruptsLost(int raisedBefore, ulong raisedBeforeCycle) { } // the kernel keeps no picture of the queues: the device arbitrates them

    public void AfterDelivery() { }

    // Idle when no queue is registered, or none is pending behind a doorbell or on a scheduling-core run list.
    public bool IsIdle(bool unlocked) =>
        registrar() is not { HasLiveQueues: true }
        || (bus.ReadRegister32(MmioMap.DeviceBase + DeviceRegisters.WorkPending) & DeviceRegisters.WorkPendingUserQueues) == 0;

    public void ObserveThrough(ulong cycle) { }

    public void OnSharedTimer() { }

    public bool ServiceOnDeviceThread(ReadOnlySpan<InterruptRecord> records, ulong cycle) => false;
}
