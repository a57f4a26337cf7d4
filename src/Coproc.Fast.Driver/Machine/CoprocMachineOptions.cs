using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Machine;

/// <summary>How a <see cref="CoprocMachine"/> drives time (ARCHITECTURE.md "Two ways to run the same code").</summary>
public enum MachineRunMode
{
    /// <summary>One thread, a virtual clock; device steps, interrupt handling, preparation jobs and timers are events on it.</summary>
    Deterministic = 0,
    /// <summary>The device runs free on its own thread; the scheduler and the preparation worker are real threads.</summary>
    Threaded = 1,
}

/// <summary>Configuration of a <see cref="CoprocMachine"/>.</summary>
public sealed record CoprocMachineOptions
{
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

    /// <summary>The ring-0 gate. Default: modeled cost (deterministic).</summary>
    public Ring0GateOptions Gate { get; init; } = new();

    /// <summary>Per-process limits of the KMD (outstanding submissions, kernel memory; docs/containment.md).</summary>
    public KmdQuotas Quotas { get; init; } = new();

    /// <summary>Run mode.</summary>
    public MachineRunMode Mode { get; init; } = MachineRunMode.Deterministic;

    /// <summary>Device cycles per step while the device has work.</summary>
    public ulong StepCycles { get; init; } = 4096;

    /// <summary>Modeled interrupt latency + handler cost in device cycles (deterministic mode; 2 µs at 1 GHz).</summary>
    public ulong InterruptLatencyCycles { get; init; } = 2_000;
}
