using System.Diagnostics.CodeAnalysis;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// Names one allocation. A slot index plus the generation the slot had when the allocation was made: once
/// the allocation is freed the slot's generation moves on, so a stale copy of the handle (double free, use
/// after free) is recognised instead of touching whatever reuses the slot. <c>default</c> is never valid.
/// </summary>
public readonly record struct AllocationHandle(int Index, uint Generation)
{
    /// <summary>True for <c>default</c>, which never names an allocation.</summary>
    public bool IsNull => Generation == 0;

    /// <inheritdoc />
    public override string ToString() => $"alloc#{Index}.g{Generation}";
}

/// <summary>Where an allocation may be placed (seed 001 §5.1, §5.3).</summary>
public enum PlacementHint : byte
{
    /// <summary>Local video memory if it has room, else system memory.</summary>
    PreferLocal = 0,
    /// <summary>System memory if it has room, else local video memory.</summary>
    PreferSystem,
    /// <summary>Local video memory or nothing.</summary>
    LocalOnly,
    /// <summary>System memory or nothing.</summary>
    SystemOnly,
}

/// <summary>What an allocation is for and what it needs.</summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Public name used by callers and the docs (VidMm allocation flags); renaming would break the API.")]
[Flags]
public enum AllocationFlags : uint
{
    /// <summary>Nothing special.</summary>
    None = 0,
    /// <summary>A frame buffer scanned out by the display: local memory, physically contiguous (seed 001 §5.4.1, CRTC exception).</summary>
    PrimarySurface = 1 << 0,
    /// <summary>A command (DMA) buffer the UMD fills through a CPU mapping (seed 001 §5.1, seed 002).</summary>
    CommandBuffer = 1 << 1,
    /// <summary>Must be one physically contiguous extent.</summary>
    Contiguous = 1 << 2,
    /// <summary>Will be mapped into CPU address spaces (informational; every allocation can be).</summary>
    CpuVisible = 1 << 3,
    /// <summary>Holds GPU page tables (allocated by VidMm itself).</summary>
    PageTable = 1 << 4,
    /// <summary>
    /// Managed by the residency manager (seed 001 §3.5, §5.3): has a backing store in system memory and, while
    /// resident, one contiguous local extent; may be evicted or relocated. Set only by
    /// <c>ResidencyManager.CreateAllocation</c>; everything else is pinned.
    /// </summary>
    Evictable = 1 << 5,
}

/// <summary>One physically contiguous piece of an allocation.</summary>
public readonly record struct PhysicalExtent(Device.Memory.PhysicalAddress Address, ulong Bytes)
{
    /// <inheritdoc />
    public override string ToString() => $"{Address}+0x{Bytes:X}";
}
