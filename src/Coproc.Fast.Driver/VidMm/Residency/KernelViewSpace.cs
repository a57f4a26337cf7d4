using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm.Residency;

/// <summary>
/// The kernel's privileged view of all physical memory (native-layout.md §14.2): one GPU address space whose
/// privileged, writable PTEs map all of local memory linearly at <see cref="LocalBase"/> and all of system memory at
/// <see cref="SystemBase"/> — 2 MiB pages wherever possible. Paging buffers and patched basic-model DMA buffers run in
/// it, so a physical address <c>pa</c> is always at VA <c>base(pa.Location) + pa.Offset</c> and a COPY between any two
/// physical ranges is one packet (seed 001 §3.6). Every PTE has P = 1: a limited DMA buffer that somehow ran in this
/// space would page-fault on its first access (seed 001 §5.7), and no process space ever maps these tables.
/// </summary>
public sealed class KernelViewSpace
{
    /// <summary>VA of local-memory byte 0 (16 TiB).</summary>
    public const ulong LocalBase = 1UL << 44;

    /// <summary>VA of system-memory byte 0 (32 TiB).</summary>
    public const ulong SystemBase = 1UL << 45;

    /// <summary>Builds the view's page tables (pinned memory taken from VidMm like any page table).</summary>
    public KernelViewSpace(VideoMemoryManager vidmm)
    {
        ArgumentNullException.ThrowIfNull(vidmm);
        if (vidmm.Local.SizeBytes > LocalBase || vidmm.System.SizeBytes > SystemBase - LocalBase)
            throw new VidMmException(VidMmError.RequestTooLarge, "memory larger than 16 TiB does not fit the kernel view's layout");
        Space = vidmm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        const GpuMappingFlags rights = GpuMappingFlags.Writable | GpuMappingFlags.Privileged;
        Space.MapPhysical(LocalBase, PhysicalAddress.Local(0), vidmm.Local.SizeBytes, rights);
        Space.MapPhysical(SystemBase, PhysicalAddress.System(0), vidmm.System.SizeBytes, rights);
        LocalBytes = vidmm.Local.SizeBytes;
        SystemBytes = vidmm.System.SizeBytes;
        _vidmm = vidmm;
        vidmm.KernelAliasSpace = Space;
        _linear = VaOf; // cached: patching must not allocate a delegate per operand
    }

    private readonly VideoMemoryManager _vidmm;
    private readonly Func<PhysicalAddress, ulong> _linear;

    /// <summary>
    /// The address in this view of byte <paramref name="offset"/> of an allocation, from which the device may run
    /// linearly to the allocation's end: the linear map while the allocation is one physical extent, else the
    /// allocation's alias (a VA range outside the linear maps whose PTEs point at its extents in order, made on
    /// first use and kept until the allocation dies; see VideoMemoryManager.KernelAlias.cs).
    /// </summary>
    /// <exception cref="VidMmException">Stale handle, offset past the allocation, or no memory for the alias's tables.</exception>
    public ulong AddressOf(Coproc.Fast.Driver.VidMm.AllocationHandle handle, ulong offset) => _vidmm.KernelAddressOf(handle, offset, _linear);

    /// <summary>The address space (its descriptor goes into kernel contexts' save areas).</summary>
    public GpuAddressSpace Space { get; }

    /// <summary>The descriptor the device walks.</summary>
    public AddressSpaceDescriptor Descriptor => Space.Descriptor;

    /// <summary>Bytes of local memory mapped.</summary>
    public ulong LocalBytes { get; }

    /// <summary>Bytes of system memory mapped.</summary>
    public ulong SystemBytes { get; }

    /// <summary>The view's VA of a physical address.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The address is outside memory.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong VaOf(PhysicalAddress pa)
    {
        if (pa.Location == MemoryLocation.Local && pa.Offset < LocalBytes) return LocalBase + pa.Offset;
        if (pa.Location == MemoryLocation.System && pa.Offset < SystemBytes) return SystemBase + pa.Offset;
        return ThrowOutside(pa);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong ThrowOutside(PhysicalAddress pa) =>
        throw new ArgumentOutOfRangeException(nameof(pa), pa, "physical address outside the kernel view");
}
