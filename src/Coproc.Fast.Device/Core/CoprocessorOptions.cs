using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Device.Core;

/// <summary>Construction-time configuration of a <see cref="Coprocessor"/>.</summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed record CoprocessorOptions
{
    /// <summary>Host: local video memory size in bytes (multiple of 2 MiB). Default 256 MiB.</summary>
    public ulong LocalMemoryBytes { get; init; } = 256UL << 20;

    /// <summary>Host: system memory size in bytes when the device allocates it itself. Default 256 MiB.</summary>
    public ulong SystemMemoryBytes { get; init; } = 256UL << 20;

    /// <summary>Host: aperture (CPU-visible BAR window onto local memory) size in bytes, multiple of 4 KiB. Default 64 MiB.</summary>
    public ulong ApertureBytes { get; init; } = 64UL << 20;

    /// <summary>Host: hardware run-list slots per engine in the scheduling core (1..256). Default 8.</summary>
    public int HardwareSlotsPerEngine { get; init; } = 8;
    /// <summary>
    /// Host: true (default): the engines execute the scheduling core's doorbell user queues when their kernel work is idle.
    /// False leaves the run lists to a host-side consumer (tests of the scheduling core alone).
    /// </summary>
    public bool UserQueuesOnEngines { get; init; } = true;

    /// <summary>
    /// Host: entries of each engine's TLB per address space (power of two). Default 64. Each TLB holds
    /// <see cref="Mmu.Tlb.AddressSpaceSlots"/> such tables of 64-byte entries (16 KiB at the default).
    /// </summary>
    public int EngineTlbEntries { get; init; } = 64;

    /// <summary>Host: cycle cost of each packet (native-layout.md §10.4). Default <see cref="PacketCosts.Default"/>.</summary>
    public PacketCosts PacketCosts { get; init; } = PacketCosts.Default;

    /// <summary>Host: cycle cost of the work packets (native-layout.md §8A). Default <see cref="WorkCosts.Default"/>.</summary>
    public WorkCosts WorkCosts { get; init; } = WorkCosts.Default;

    /// <summary>Host: display vsync period in device cycles; 0 disables vsync. Default 16,666,667 (60 Hz at 1 GHz).</summary>
    public uint VsyncPeriodCycles { get; init; } = 16_666_667;

    /// <summary>Host: checks the options; throws <see cref="ArgumentOutOfRangeException"/> naming the bad property.</summary>
    public void Validate()
    {
        if (LocalMemoryBytes == 0 || LocalMemoryBytes % (2UL << 20) != 0)
            throw new ArgumentOutOfRangeException(nameof(LocalMemoryBytes), LocalMemoryBytes, "must be a non-zero multiple of 2 MiB");
        if (SystemMemoryBytes == 0 || SystemMemoryBytes % 4096 != 0)
            throw new ArgumentOutOfRangeException(nameof(SystemMemoryBytes), SystemMemoryBytes, "must be a non-zero multiple of 4 KiB");
        if (ApertureBytes == 0 || ApertureBytes % 4096 != 0)
            throw new ArgumentOutOfRangeException(nameof(ApertureBytes), ApertureBytes, "must be a non-zero multiple of 4 KiB");
        if (HardwareSlotsPerEngine is < 1 or > 256)
            throw new ArgumentOutOfRangeException(nameof(HardwareSlotsPerEngine), HardwareSlotsPerEngine, "must be 1..256");
        if (EngineTlbEntries < 1 || EngineTlbEntries > 65536 || (EngineTlbEntries & (EngineTlbEntries - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(EngineTlbEntries), EngineTlbEntries, "must be a power of two in 1..65536");
        PacketCosts.Validate();
    }
}
