using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The kernel's record of a registered user queue as a scheduling context (seed 003; native-layout.md §13.7): the queue's
/// context id, owner, engine and granted priority, and its doorbell. The device's scheduling core arbitrates it; the
/// kernel only registered it, so nothing here is on the submission path.
/// </summary>
public sealed class UserQueueContext : GpuContext
{
    private readonly IDeviceBus _bus;
    private readonly Lock _doorbellBlock;
    private volatile bool _unregistered;

    internal UserQueueContext(int id, uint processId, byte priority, EngineKind engine, int doorbell, IDeviceBus bus, Lock doorbellBlock,
        PhysicalAddress? saveArea)
        : base(id, processId, priority, engine, ContextPath.UserQueue)
    {
        Doorbell = doorbell;
        SaveArea = saveArea;
        _bus = bus;
        _doorbellBlock = doorbellBlock;
    }

    /// <summary>
    /// The registration the queue was made by: open its ring with <see cref="UserQueueRegistration.Open"/>, unregister it with
    /// <see cref="UserQueueRegistrar.Unregister"/>.
    /// </summary>
    public UserQueueRegistration Registration { get; internal set; } = null!;

    /// <summary>The GPU address space the queue runs in, when a <c>Machine</c> registered it (null otherwise).</summary>
    internal VidMm.GpuAddressSpace? Space { get; init; }

    /// <summary>
    /// The writer Machine.TrySubmit writes this queue's packets with (caller holds <see cref="DoorbellBlock"/>; the queue is
    /// registered): opened on first use, then brought to the published WritePtr on every use, as a fresh writer would
    /// start — another writer of the process may have published since, and packets a refused call wrote were never published.
    /// </summary>
    internal Umd.UserQueue SubmissionWriter(Coproc.Fast.Device.Memory.DeviceMemory memory)
    {
        if (_submissionWriter is { } w) w.ResyncToPublished();
        else _submissionWriter = w = Registration.Open(memory);
        return w;
    }

    private Umd.UserQueue? _submissionWriter;

    /// <summary>The registrar's doorbell-block lock: <see cref="UserQueueRegistrar.Unregister"/> frees the queue's memory under it.</summary>
    internal Lock DoorbellBlock => _doorbellBlock;

    /// <summary>The queue's doorbell (0..255).</summary>
    public int Doorbell { get; }

    /// <summary>The queue's execution context (its save area in local memory), or null when it has none.</summary>
    public PhysicalAddress? SaveArea { get; }

    /// <summary>
    /// Times an engine set the queue aside while it still had work — a time slice, a queue or kernel context that
    /// outranked it, its own WAIT — read from its save area, where the engine counts them (native-layout.md §11 +92; the
    /// kernel never switches a queue itself, so this is its only picture of the queue's preemptions). 0 for a queue
    /// without a save area, or once unregistered (its save area may be freed).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The machine was disposed.</exception>
    public long Preemptions
    {
        get
        {
            if (_unregistered || SaveArea is not { } sa) return 0;
            var local = _bus.Memory.Local;
            ObjectDisposedException.ThrowIf(local.Length == 0, this); // the machine was disposed
            return local.Ref<ContextSaveArea>(sa.Offset).Preemptions;
        }
    }

    /// <summary>True once it was unregistered (<see cref="UserQueueRegistrar.Unregister"/>).</summary>
    public bool IsUnregistered => _unregistered;

    /// <summary>
    /// True when the queue was unregistered, or the device faulted it (DB_STATE of its doorbell, read through MMIO: a
    /// malformed packet, a timeout, an address it may not touch) — it runs nothing more until registered again.
    /// </summary>
    public override bool IsStopped
    {
        get
        {
            if (_unregistered) return true;
            lock (_doorbellBlock)
            {
                if (_unregistered) return true;
                _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Index, (uint)Doorbell);
                return (DoorbellState)_bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.State) != DoorbellState.Registered;
            }
        }
    }

    internal void MarkUnregistered() => _unregistered = true;
}
