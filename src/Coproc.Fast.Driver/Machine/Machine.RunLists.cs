using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Driver;

// The advanced model's run-list back end (RunListBackEnd, EngineBackEnds.cs), hosted by the same event loop as every
// other back end. Deterministic mode: its paging thread is its deferred work (a preparation event of the pseudo-engine
// RunListSlot), its quantum its timer; its interrupts arrive in the machine's one delivery (DeliverInterrupts).
// Threaded mode: the run-list register protocol reads SUBMIT status and SERIAL right after writing (native-layout.md
// §10.5); on another thread each such read would wait for the device's current step (IDeviceBus's ordering rule: a read
// applies the posted writes under the bus lock the stepping device thread holds), so every run-list register access
// happens on the device thread between steps (IEngineBackEnd.ServicedOnDeviceThread): new work, its interrupt records,
// its quantum timer and its paging thread.
public sealed partial class Machine
{
    // Preparation and timer events of the run-list back end carry this pseudo-engine index (after the display's).
    private const int RunListSlot = Engines.Count + 1;

    private RunListBackEnd? _runLists;

    /// <summary>
    /// The run-list back end of the advanced model (seed 001 §4–§8): processes with their own GPU address spaces,
    /// user-built DMA buffers, demand faulting, run lists on <see cref="RunListOptions.Engines"/> (default: <see cref="RunListOptions.Engine"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The machine does not run <see cref="SchedulingModel.Advanced"/>.</exception>
    public RunListScheduler RunListScheduler =>
        _runLists?.Scheduler ?? throw new InvalidOperationException($"the run-list back end exists only in the {SchedulingModel.Advanced} model (this machine runs {Options.Model})");

    /// <summary>True when <paramref name="engine"/> is driven by the run-list back end (advanced model), not by direct switching.</summary>
    public bool IsRunListEngine(EngineKind engine) => _runLists is not null && _runLists.Scheduler.Drives(engine);

    // residency: what the constructor's residency factory returned; the exception names that argument.
    private RunListBackEnd CreateRunListBackEnd(IDeviceBus bus, IResidencyManager residency)
    {
        if (residency is not ResidencyManager rm)
            throw new ArgumentException("the advanced model needs VidMm's ResidencyManager (demand faulting invalidates evicted VAs)", nameof(residency));
        var scheduler = new RunListScheduler(Options.RunLists, VidMm, rm, bus, Scheduler.KernelLock, Paging)
        {
            Host = new EngineHost(this, RunListSlot), KernelPath = Scheduler, InTransitWait = InTransitWaiter,
            // One access record for both back ends: what the KMD's record of the process names (owned or shared).
            KernelAccess = (process, handle) => Kmd.Process(process).TryGetSize(handle, out _),
        };
        return _runLists = new RunListBackEnd(scheduler);
    }
}
