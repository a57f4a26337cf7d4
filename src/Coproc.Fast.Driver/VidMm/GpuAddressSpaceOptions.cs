using System.Diagnostics.CodeAnalysis;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>How a GPU virtual address space is built.</summary>
public sealed record GpuAddressSpaceOptions
{
    /// <summary>Page-table format (seed 001 §5.4.1 flat or §5.4.2 multi-level). Default multi-level.</summary>
    public PageTableFormat Format { get; init; } = PageTableFormat.MultiLevel;

    /// <summary>Invalid VAs fault (stopping the context) instead of reaching the dummy page (seed 001 §4.2).</summary>
    public bool FaultOnInvalid { get; init; }

    /// <summary>
    /// Flat format only: the largest VA space the table may grow to, a power of two ≥ 2 MiB. Default 2 GiB, the
    /// seed's "at least 2 GB of address space" (seed 001 §5.4.1). Multi-level spaces always span 48 bits.
    /// </summary>
    public ulong FlatMaxBytes { get; init; } = 2UL << 30;

    /// <summary>
    /// Flat format only: allocate the whole table (<see cref="FlatMaxBytes"/> of VA) up front, so its root and limit
    /// never change. Growing moves the table (seed 001 §5.4.1), which a context holding the descriptor in its save area
    /// would not see; spaces that contexts run in are created fixed-size (the advanced model,
    /// <c>RunListOptions.FlatVaBytes</c>). Default false: the table grows by powers of two as mappings need it.
    /// </summary>
    public bool FlatFixedSize { get; init; }
}

/// <summary>Rights of one GPU mapping, written into its leaf PTEs.</summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Public name used by callers and the docs (GPU VA mapping flags); renaming would break the API.")]
[Flags]
public enum GpuMappingFlags : byte
{
    /// <summary>Read-only, not privileged.</summary>
    ReadOnly = 0,
    /// <summary>W bit: writes allowed.</summary>
    Writable = 1,
    /// <summary>P bit: only privileged DMA buffers may touch it (seed 001 §5.7).</summary>
    Privileged = 2,
}
