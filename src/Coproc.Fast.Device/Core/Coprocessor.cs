using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Device.Core;

/// <summary>
/// The emulated coprocessor: memories, register BAR and the parts behind it. The hardware interface —
/// MMIO, memory and the interrupt line — is everything a driver or a host emulator may touch
/// (native-layout.md). Nothing here reads wall-clock time.
/// </summary>
public sealed class Coprocessor : IDisposable
{
    /// <summary>Creates a device that allocates its own local and system memory.</summary>
    public Coprocessor(CoprocessorOptions? options = null) : this(options ?? new CoprocessorOptions(), null) { }

    /// <summary>
    /// Creates a device over a host emulator's system memory (its guest RAM); the device allocates only
    /// local memory. The host keeps <paramref name="hostSystemMemory"/> alive.
    /// </summary>
    public Coprocessor(CoprocessorOptions options, NativeRegion? hostSystemMemory)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Memory = new DeviceMemory(NativeRegion.Allocate(options.LocalMemoryBytes),
            hostSystemMemory ?? NativeRegion.Allocate(options.SystemMemoryBytes));
        Mmu = new GpuMmu(Memory);
        Aperture = new Aperture(Memory, Mmu, options.ApertureBytes);
        Mmio = new MmioRegisterFile();
        Mmio.Attach(new DeviceIdentityBlock(this));
        DoorbellBlock = new DoorbellBlock(Memory);
        SchedulingCore = new SchedulingCore(Memory, DoorbellBlock, options.HardwareSlotsPerEngine);
        DoorbellAperture = new DoorbellAperture(DoorbellBlock);
        Mmio.Attach(DoorbellBlock);
        Mmio.Attach(new MmuRegisterBlock(Mmu, Aperture));
    }

    /// <summary>The options the device was built with.</summary>
    public CoprocessorOptions Options { get; }

    /// <summary>Local and system memory.</summary>
    public DeviceMemory Memory { get; }

    /// <summary>The GPU MMU that walks page tables in <see cref="Memory"/>.</summary>
    public GpuMmu Mmu { get; }

    /// <summary>
    /// The CPU-visible aperture window onto local memory (seed 001 §12), programmed through the MMU registers
    /// (APERTURE_TABLE, APERTURE_ENTRIES, TLB_INV_CMD 3). This is the host/CPU side of the bus.
    /// </summary>
    public Aperture Aperture { get; }

    /// <summary>The register BAR.</summary>
    public MmioRegisterFile Mmio { get; }

    /// <summary>The doorbell block (seed 003); its registers are at <see cref="MmioMap.DoorbellBase"/>.</summary>
    public DoorbellBlock DoorbellBlock { get; }

    /// <summary>The doorbell aperture BAR: 256 doorbell pages (native-layout.md §13.1).</summary>
    public DoorbellAperture DoorbellAperture { get; }

    /// <summary>The scheduling core: services doorbells and keeps the engines' run lists.</summary>
    public SchedulingCore SchedulingCore { get; }

    /// <summary>Device clock: cycles run so far.</summary>
    public ulong Cycle { get; private set; }

    /// <summary>Capability bits reported in the CAPS register (native-layout.md).</summary>
    public uint Capabilities => 0;

    /// <summary>Advances the device clock by a cycle budget.</summary>
    public void Step(ulong cycles)
    {
        Cycle += cycles;
        if (DoorbellBlock.Vector.AnyPending) SchedulingCore.Service(Cycle);
    }

    /// <summary>Frees device-owned memory.</summary>
    public void Dispose()
    {
        DoorbellBlock.Dispose();
        Memory.Dispose();
    }
}
