using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// The scheduler's view of the hardware interface (docs/concepts.md "Two ways to run"): memory,
/// the device clock and MMIO register writes. Deterministic mode writes registers at once; threaded mode posts them
/// to the device thread, which applies them between steps (no lock on the device's loop).
/// </summary>
public interface IDeviceBus
{
    /// <summary>Device memory (rings, save areas, fences, DMA buffers).</summary>
    DeviceMemory Memory { get; }

    /// <summary>The device clock (CYCLE register, native-layout.md §6.1).</summary>
    ulong Cycle { get; }

    /// <summary>A 64-bit MMIO register write.</summary>
    void WriteRegister(uint offset, ulong value);

    /// <summary>A 32-bit MMIO register write (display mode registers, native-layout.md §12).</summary>
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
