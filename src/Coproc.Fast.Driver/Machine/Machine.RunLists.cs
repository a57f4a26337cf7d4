using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Driver;

// The advanced model's engine back end (SchedulingModel.Advanced): the run-list scheduler, hosted by the same event
// loop as every other scheduler. Its paging thread is its deferred work (a preparation event of the pseudo-engine
// RunListSlot), its quantum its timer; its interrupts arrive in the machine's one delivery (DeliverInterrupts).
public sealed partial class Machine
{
    // Preparation and timer events of the run-list back end carry this pseudo-engine index (after the display's).
    private const int RunListSlot = Engines.Count + 1;

    private RunListScheduler? _runLists;

    /// <summary>
    /// The run-list back end of the advanced model (seed 001 §4–§8): processes with their own GPU address spaces,
    /// user-built DMA buffers, demand faulting, run lists on <see cref="RunListOptions.Engine"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The machine does not run <see cref="SchedulingModel.Advanced"/>.</exception>
    public RunListScheduler RunListScheduler =>
        _runLists ?? throw new InvalidOperationException($"the run-list back end exists only in the {SchedulingModel.Advanced} model (this machine runs {Options.Model})");

    /// <summary>True when <paramref name="engine"/> is driven by the run-list back end (advanced model), not by direct switching.</summary>
    public bool IsRunListEngine(EngineKind engine) => _runLists is not null && _runLists.Options.Engine == engine;

    private void CreateRunListBackEnd(IDeviceBus bus)
    {
        if (Options.Mode != MachineRunMode.Deterministic)
            throw new NotSupportedException("the advanced model's run-list back end runs in deterministic mode only (docs/models.md)");
        if (Residency is not ResidencyManager rm)
            throw new ArgumentException("the advanced model needs VidMm's ResidencyManager (demand faulting invalidates evicted VAs)", nameof(Options));
        _runLists = new RunListScheduler(Options.RunLists, VidMm, rm, bus, Scheduler.KernelLock) { Host = new EngineHost(this, RunListSlot) };
    }
}
