namespace Coproc.Fast.Device.Mmu;

/// <summary>The two page-table formats of seed 001 §5.4 (native-layout.md, "Page tables").</summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum PageTableFormat : uint
{
    /// <summary>
    /// Four levels of 512 × 8-byte entries, one 4 KiB page per table: VA bits 47..39 (L3), 38..30 (L2),
    /// 29..21 (L1; PS=1 maps a 2 MiB page), 20..12 (L0), 11..0 page offset. 48-bit VA (seed 001 §5.4.2).
    /// </summary>
    MultiLevel = 0,

    /// <summary>
    /// One physically contiguous array of 8-byte entries, entry n maps VA page n; a reference at or past
    /// the limit (entry count) is an invalid access (seed 001 §5.4.1).
    /// </summary>
    Flat = 1,
}

/// <summary>Constants of the page-table formats.</summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class PageTableLayout
{
    /// <summary>Small page size, bytes.</summary>
    public const ulong PageSize = 4096;
    /// <summary>log2 of <see cref="PageSize"/>.</summary>
    public const int PageShift = 12;
    /// <summary>Large page size (multi-level PS at level 1), bytes.</summary>
    public const ulong LargePageSize = 2 * 1024 * 1024;
    /// <summary>log2 of <see cref="LargePageSize"/>.</summary>
    public const int LargePageShift = 21;
    /// <summary>Entries per multi-level table.</summary>
    public const int EntriesPerTable = 512;
    /// <summary>Bytes per entry.</summary>
    public const int EntrySize = 8;
    /// <summary>Levels of the multi-level table.</summary>
    public const int Levels = 4;
    /// <summary>VA bits of the multi-level format.</summary>
    public const int MultiLevelVaBits = 48;
    /// <summary>Maximum flat-table entry count (2^36 pages = the 48-bit VA).</summary>
    public const ulong MaxFlatEntries = 1UL << 36;

    /// <summary>Index into the table at <paramref name="level"/> (3 = root) for a VA.</summary>
    public static int IndexAt(ulong va, int level) => (int)((va >> (PageShift + 9 * level)) & 511);
}
