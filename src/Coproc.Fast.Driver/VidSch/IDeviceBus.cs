using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// The driver's one way to the device's registers (docs/embedding.md "How the driver reaches the device"): MMIO reads
/// and writes of 32 and 64 bits, plus the other windows of the hardware interface — memory, the doorbell BAR — and the
/// device clock. Every driver part (VidSch, VidMm, the kernel, the display, the machine's interrupt service routine)
/// reaches registers through it; only the bus implementations touch the device's register file.
/// </summary>
/// <remarks>
/// Ordering rule, the same in both run modes (a PCI bus's: writes are posted, a read does not pass a posted write):
/// writes from one thread reach the device in the order they were made, and a register read returns only after every
/// write posted before it — by any thread, in particular by the reading thread — has been applied. So "write COMMAND,
/// then read STATUS" sees the command's result, and a read back flushes earlier writes. Deterministic mode
/// (<see cref="DirectDeviceBus"/>) applies each access at once on the one thread. Threaded mode posts writes to a
/// lock-free queue the device thread applies between steps, and a read takes the bus (waiting at most for the
/// device's current step), applies what is queued, then reads; reads are cheap on the device thread and rare elsewhere.
/// </remarks>
public interface IDeviceBus
{
    /// <summary>Device memory (rings, save areas, fences, DMA buffers).</summary>
    DeviceMemory Memory { get; }

    /// <summary>The doorbell BAR (native-layout.md §13.1): stores from any thread, lock-free.</summary>
    DoorbellAperture Doorbells { get; }

    /// <summary>The device clock (CYCLE register, native-layout.md §6.1).</summary>
    ulong Cycle { get; }

    /// <summary>A 32-bit MMIO register read; sees every write posted before it (see the ordering rule).</summary>
    uint ReadRegister32(uint offset);

    /// <summary>A 64-bit MMIO register read; sees every write posted before it (see the ordering rule).</summary>
    ulong ReadRegister(uint offset);

    /// <summary>A 64-bit MMIO register write.</summary>
    void WriteRegister(uint offset, ulong value);

    /// <summary>A 32-bit MMIO register write.</summary>
    void WriteRegister32(uint offset, uint value);

    /// <summary>Tells the device that a ring's write pointer moved (wakes a parked device thread).</summary>
    void Kick();
}

/// <summary>How the scheduler asks for CPU work to be done later (deterministic events or real threads).</summary>
public interface ISchedulerHost
{
    /// <summary>Asks the preparation worker to run <see cref="VidSchScheduler.RunPreparation"/> after about <paramref name="modeledCycles"/> of CPU work.</summary>
    void RequestPreparation(ulong modeledCycles);

    /// <summary>Asks for <see cref="VidSchScheduler.OnTimer"/> at device cycle <paramref name="cycle"/> (quantum end, timeout).</summary>
    void RequestTimer(ulong cycle);
}
