using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.VidMm.Paging;

/// <summary>
/// How the device paging queue gets its kernel context onto an engine. The scheduler owns engine scheduling and
/// implements this to give the paging context the engine first (seed 001 behaviour 17: the VidMm context's priority is
/// the highest): a machine's paging engine scheduler (VidSch, through its SchedulerGroup) switches to it at once, the
/// advanced model's run lists list it; <see cref="IdleEngineContextSwitch"/> (copy engine) is the stand-alone default.
/// </summary>
public interface IPagingContextScheduler
{
    /// <summary>
    /// The paging context whose save area is at <paramref name="saveArea"/> has new work. Called after every submission
    /// and from <see cref="DevicePagingQueue.Kick"/>; returns true when the context is (or will be) loaded.
    /// </summary>
    bool RequestRun(PhysicalAddress saveArea);
}

/// <summary>
/// Default <see cref="IPagingContextScheduler"/>: through registers only, on the device bus (native-layout.md §10.1) — nothing to do when the
/// engine already has the context loaded (a loaded empty context resumes when its WritePtr moves); CONTEXT_SWITCH to
/// it when the engine is idle; otherwise NEXT_CONTEXT when that register is free, so the engine switches when its
/// current context runs empty. Returns false (the caller retries with <see cref="DevicePagingQueue.Kick"/>) when the
/// engine is busy and NEXT_CONTEXT is taken by someone else.
/// </summary>
public sealed class IdleEngineContextSwitch(IDeviceBus bus, EngineKind engine = EngineKind.Copy) : IPagingContextScheduler
{
    private readonly IDeviceBus _bus = bus ?? throw new ArgumentNullException(nameof(bus));
    // native-layout.md §10.1: the engine's CONTEXT_SWITCH, CURRENT_CONTEXT and NEXT_CONTEXT registers.
    private readonly uint _contextSwitch = EngineRegisters.At(engine, EngineRegisters.ContextSwitch);
    private readonly uint _currentContext = EngineRegisters.At(engine, EngineRegisters.CurrentContext);
    private readonly uint _nextContext = EngineRegisters.At(engine, EngineRegisters.NextContext);

    /// <summary>The engine this hook drives.</summary>
    public EngineKind Engine { get; } = engine;

    /// <inheritdoc />
    public bool RequestRun(PhysicalAddress saveArea)
    {
        ulong current = _bus.ReadRegister(_currentContext);
        if (current == saveArea.Encoded) return true;
        if (current == 0)
        {
            _bus.WriteRegister(_contextSwitch, saveArea.Encoded);
            return true;
        }
        ulong next = _bus.ReadRegister(_nextContext);
        if (next == saveArea.Encoded) return true;
        if (next != 0) return false;
        _bus.WriteRegister(_nextContext, saveArea.Encoded);
        return true;
    }
}
