using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Driver;

/// <summary>How a <see cref="Machine"/> drives time (docs/concepts.md "Two ways to run").</summary>
public enum MachineRunMode
{
    /// <summary>One thread, a virtual clock; device steps, interrupt handling, preparation jobs and timers are events on it.</summary>
    Deterministic = 0,
    /// <summary>The device runs free on its own thread; the scheduler and the preparation worker are real threads.</summary>
    Threaded = 1,
}

/// <summary>
/// Which scheduling model a <see cref="Machine"/> runs (docs/models.md): the engine back end and the submission path
/// its contexts use. Ring-3 user queues, flips, sync objects and every engine exist in every model.
/// </summary>
public enum SchedulingModel
{
    /// <summary>
    /// Seed 000 / seed 001 §3: the KMD copies each command buffer in, validates and patches it, splits it and builds
    /// paging buffers; VidSch drives every engine with CONTEXT_SWITCH / NEXT_CONTEXT (direct switching).
    /// </summary>
    Basic = 0,
    /// <summary>
    /// Seed 001 §4–§8: processes with their own GPU virtual address spaces submit user-built (limited) DMA buffers as
    /// they are; surface- or page-level demand faulting with the paging list; the run-list engine
    /// (<see cref="RunListOptions.Engine"/>) is driven by hardware run lists (two-element rules or the history buffer).
    /// The other engines keep direct switching for kernel-path contexts.
    /// </summary>
    Advanced = 1,
    /// <summary>
    /// Seed 003 as the whole model (hardware-accelerated scheduling): applications' contexts are user queues
    /// registered once with the device's scheduling core and submitted through doorbells; the core arbitrates them by
    /// priority with time slices; the kernel registers queues, pages memory and handles faults. Kernel-path contexts
    /// (the present path's flips) remain available on every engine. The machine itself is built as in
    /// <see cref="Basic"/> (both offer user queues): the model is the applications' choice of
    /// <see cref="Machine.CreateUserQueue"/> over <see cref="Machine.CreateContext(uint, int)"/>, which the scenario
    /// runner makes for every context but the display owner (docs/models.md, "Simplified").
    /// </summary>
    Hardware = 2,
}

/// <summary>Configuration of a <see cref="Machine"/>.</summary>
public sealed record MachineOptions
{
    /// <summary>The scheduling model (default <see cref="SchedulingModel.Basic"/>).</summary>
    public SchedulingModel Model { get; init; } = SchedulingModel.Basic;

    /// <summary>The run-list back end of <see cref="SchedulingModel.Advanced"/> (ignored by the other models).</summary>
    public RunListOptions RunLists { get; init; } = new();

    /// <summary>The device. Default: 64 MiB local, 64 MiB system, no vsync.</summary>
    public CoprocessorOptions Device { get; init; } = new()
    {
        LocalMemoryBytes = 64UL << 20, SystemMemoryBytes = 64UL << 20, ApertureBytes = 4UL << 20, VsyncPeriodCycles = 0,
    };

    /// <summary>The scheduler (its <see cref="VidSchOptions.Engine"/> is the default engine of new contexts).</summary>
    public VidSchOptions Scheduler { get; init; } = new();

    /// <summary>
    /// Engines with a scheduler of their own (same options, engine and context-id range changed). Null (the default):
    /// all five. Must include the default engine.
    /// </summary>
    public IReadOnlyList<Coproc.Fast.Device.Engines.EngineKind>? ScheduledEngines { get; init; }

    /// <summary>
    /// The paging engine: the engine whose scheduler runs the machine's device paging queue (seed 004; docs/memory.md
    /// "One paging channel") — the kernel context that executes every paging buffer of every engine — at top priority
    /// while it has work. Null (the default): the copy engine when it is scheduled (<see cref="ScheduledEngines"/>),
    /// else the default engine (<see cref="VidSchOptions.Engine"/>). Must be a scheduled engine. Ignored in
    /// <see cref="SchedulingModel.Advanced"/>, whose run lists list the queue's context on
    /// <see cref="RunListOptions.Engine"/>.
    /// </summary>
    /// <remarks>
    /// The copy engine is WDDM's choice (a "paging node"): paging buffers are copies and page-table writes, and while
    /// they run they hold an engine no render or compute work then needs; the other engines' chunks wait on the paging
    /// fence only where they use memory being moved.
    /// </remarks>
    public Coproc.Fast.Device.Engines.EngineKind? PagingEngine { get; init; }

    /// <summary>The ring-0 gate. Default: modeled cost (deterministic).</summary>
    public Ring0GateOptions Gate { get; init; } = new();

    /// <summary>Per-process limits of the KMD (outstanding submissions, kernel memory; docs/containment.md).</summary>
    public KmdQuotas Quotas { get; init; } = new();

    /// <summary>Run mode.</summary>
    public MachineRunMode Mode { get; init; } = MachineRunMode.Deterministic;

    /// <summary>
    /// The largest span of device cycles any option may give (a quantum, a timeout, a step, a latency, a modeled cost):
    /// 2^48 cycles, about 78 hours of device time at 1 GHz. Deadlines are computed as <em>now + span</em> (and a few as a
    /// small multiple of one), so with every span at most this, no deadline of a run wraps around the 64-bit clock;
    /// options past it are refused when the machine or scheduler is made (<see cref="ArgumentOutOfRangeException"/>).
    /// </summary>
    public const ulong MaxCycleSpan = 1UL << 48;

    /// <summary>Device cycles per step while the device has work (1 … <see cref="MaxCycleSpan"/>).</summary>
    public ulong StepCycles { get; init; } = 4096;

    /// <summary>Modeled interrupt latency + handler cost in device cycles (deterministic mode; 2 µs at 1 GHz; at most <see cref="MaxCycleSpan"/>).</summary>
    public ulong InterruptLatencyCycles { get; init; } = 2_000;

    /// <summary>
    /// Threaded mode: how far the device clock may run past an interrupt or a due scheduler timer that the scheduler
    /// thread has not handled yet, or a preparation request the worker thread has not finished (default 50,000 cycles,
    /// 50 µs at 1 GHz; checked before each step, so the device may overshoot by up to about 2 × <see cref="StepCycles"/>).
    /// Past it the device waits for that thread, so scheduling decisions land within this much device time whatever
    /// the host does to its threads (docs/scheduling-policy.md rule 2). 0: lock step (the device waits at every
    /// interrupt until the scheduler thread has handled it). <see cref="ulong.MaxValue"/>: unbounded (the device runs free).
    /// </summary>
    public ulong SchedulerLagCycles { get; init; } = 50_000;

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> when a span of cycles is out of range (<see cref="StepCycles"/>
    /// 1 … <see cref="MaxCycleSpan"/>, <see cref="InterruptLatencyCycles"/> and the gate's modeled cost at most
    /// <see cref="MaxCycleSpan"/>); the
    /// scheduler's options are checked by their own schedulers.
    /// </summary>
    internal void Validate()
    {
        CheckSpan(StepCycles, nameof(StepCycles), min: 1);
        CheckSpan(InterruptLatencyCycles, nameof(InterruptLatencyCycles));
        CheckSpan(Gate.ModeledCycles, nameof(Ring0GateOptions.ModeledCycles));
    }

    /// <summary>Throws when a span-of-cycles option <paramref name="value"/> is below <paramref name="min"/> or above <see cref="MaxCycleSpan"/>.</summary>
    internal static void CheckSpan(ulong value, string name, ulong min = 0)
    {
        if (value < min || value > MaxCycleSpan)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be {min} … 2^48 cycles (MachineOptions.MaxCycleSpan)");
    }
}
