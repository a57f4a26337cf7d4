using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// One 64-bit page-table entry, the same format at every level of the multi-level table, in the flat
/// table and in the aperture table (native-layout.md, "Page-table entry"):
/// <code>
/// bit  0      V   valid
/// bit  1      W   writable
/// bit  2      P   privileged (only privileged DMA may touch the page; seed 001 §5.7)
/// bits 3..4   LOC location: 0 local, 1 system, 2 dummy, 3 reserved
/// bit  5      PS  large page (level-1 entries of the multi-level table only: maps 2 MiB)
/// bits 6..8   TYPE cache/type field: 0 write-back, 1 uncached, 2 write-combined, 3..7 reserved
/// bits 9..11  SW  ignored by the device (driver bookkeeping)
/// bits 12..51 PFN physical frame number (physical offset &gt;&gt; 12)
/// bits 52..63 reserved, must be 0 (a set bit makes the entry invalid)
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[StructLayout(LayoutKind.Sequential, Size = 8)]
public readonly struct PageTableEntry : IEquatable<PageTableEntry>
{
    /// <summary>Valid bit.</summary>
    public const ulong ValidBit = 1UL << 0;
    /// <summary>Writable bit.</summary>
    public const ulong WritableBit = 1UL << 1;
    /// <summary>Privileged bit.</summary>
    public const ulong PrivilegedBit = 1UL << 2;
    /// <summary>Shift of the 2-bit location field.</summary>
    public const int LocationShift = 3;
    /// <summary>Large-page bit (level-1 entries only).</summary>
    public const ulong LargePageBit = 1UL << 5;
    /// <summary>Shift of the 3-bit cache/type field.</summary>
    public const int TypeShift = 6;
    /// <summary>Shift of the 3 software bits.</summary>
    public const int SoftwareShift = 9;
    /// <summary>Mask of the frame-number field in place.</summary>
    public const ulong FrameMask = ((1UL << 40) - 1) << 12;
    /// <summary>Mask of the reserved bits.</summary>
    public const ulong ReservedMask = ~((1UL << 52) - 1);

    /// <summary>The raw 64-bit value as stored (little-endian) in memory.</summary>
    public readonly ulong Raw;

    /// <summary>Wraps a raw entry.</summary>
    public PageTableEntry(ulong raw) => Raw = raw;

    /// <summary>Builds a valid entry.</summary>
    public static PageTableEntry Create(MemoryLocation location, ulong physicalOffset, bool writable = true,
        bool privileged = false, bool largePage = false, CacheType type = CacheType.WriteBack, int software = 0)
    {
        if ((physicalOffset & 0xFFF) != 0) throw new ArgumentException("frames are 4 KiB aligned", nameof(physicalOffset));
        if ((physicalOffset & ~FrameMask) != 0) throw new ArgumentOutOfRangeException(nameof(physicalOffset));
        ulong raw = ValidBit | physicalOffset | ((ulong)location << LocationShift) | ((ulong)type << TypeShift)
                    | ((ulong)(software & 7) << SoftwareShift);
        if (writable) raw |= WritableBit;
        if (privileged) raw |= PrivilegedBit;
        if (largePage) raw |= LargePageBit;
        return new PageTableEntry(raw);
    }

    /// <summary>A valid entry that redirects to the dummy page (reads zero, writes dropped).</summary>
    public static PageTableEntry Dummy => new(ValidBit | WritableBit | ((ulong)MemoryLocation.Dummy << LocationShift));

    /// <summary>V bit set and no reserved bits set.</summary>
    public bool IsValid
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Raw & (ValidBit | ReservedMask)) == ValidBit && ((Raw >> LocationShift) & 3) != 3;
    }

    /// <summary>W bit.</summary>
    public bool IsWritable => (Raw & WritableBit) != 0;

    /// <summary>P bit.</summary>
    public bool IsPrivileged => (Raw & PrivilegedBit) != 0;

    /// <summary>PS bit.</summary>
    public bool IsLargePage => (Raw & LargePageBit) != 0;

    /// <summary>Location field.</summary>
    public MemoryLocation Location => (MemoryLocation)((Raw >> LocationShift) & 3);

    /// <summary>Cache/type field.</summary>
    public CacheType Type => (CacheType)((Raw >> TypeShift) & 7);

    /// <summary>Physical byte offset of the frame.</summary>
    public ulong FrameOffset => Raw & FrameMask;

    /// <inheritdoc />
    public bool Equals(PageTableEntry other) => Raw == other.Raw;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is PageTableEntry e && Equals(e);

    /// <inheritdoc />
    public override int GetHashCode() => Raw.GetHashCode();

    /// <summary>True when both entries have the same raw value (as <see cref="Equals(PageTableEntry)"/>).</summary>
    public static bool operator ==(PageTableEntry left, PageTableEntry right) => left.Raw == right.Raw;

    /// <summary>True when the entries' raw values differ.</summary>
    public static bool operator !=(PageTableEntry left, PageTableEntry right) => left.Raw != right.Raw;

    /// <inheritdoc />
    public override string ToString() =>
        IsValid ? $"PTE[{Location} 0x{FrameOffset:X}{(IsWritable ? " W" : "")}{(IsPrivileged ? " P" : "")}{(IsLargePage ? " PS" : "")}]" : $"PTE[invalid 0x{Raw:X}]";
}

/// <summary>The cache/type field of a page-table entry (bits 6..8).</summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum CacheType : byte
{
    /// <summary>Cached, write-back.</summary>
    WriteBack = 0,
    /// <summary>Uncached.</summary>
    Uncached = 1,
    /// <summary>Write-combined.</summary>
    WriteCombined = 2,
}
