namespace Coproc.Fast.Driver.Cpu;

/// <summary>
/// The two halves of a CPU virtual address space (seed 002: "the virtual space has a kernel space and a user
/// space; each request says which"). Canonical x86-64-style split of a 48-bit space.
/// </summary>
public enum CpuAddressHalf : byte
{
    /// <summary>User space: [0x1_0000, 0x0000_8000_0000_0000); the first 64 KiB are never mapped.</summary>
    User = 0,
    /// <summary>Kernel space: [0xFFFF_8000_0000_0000, 2^64).</summary>
    Kernel = 1,
}

/// <summary>One entry of the emulated CPU page table.</summary>
/// <param name="Raw">bit 0 present, bit 1 writable, bit 2 aperture (else system memory), bit 3 doorbell page (see
/// <see cref="DoorbellBit"/>); bits 12..63 frame: the aperture byte offset or the system-memory physical offset of the 4 KiB page.</param>
/// <param name="MappingId">The VidMm CPU mapping that owns the page.</param>
public readonly record struct CpuPageTableEntry(ulong Raw, int MappingId)
{
    /// <summary>Present bit.</summary>
    public const ulong PresentBit = 1;
    /// <summary>Writable bit.</summary>
    public const ulong WritableBit = 2;
    /// <summary>Aperture bit: the frame is an aperture offset, resolved through the aperture table.</summary>
    public const ulong ApertureBit = 4;
    /// <summary>
    /// Doorbell bit (seed 003): the page is a page of the device's doorbell BAR, not memory. Bits 12..31 hold the page's
    /// offset in the 1 MiB doorbell aperture, bits 32..63 the process the kernel mapped it for (the emulated bus tags
    /// each doorbell write with it, native-layout.md §13.1).
    /// </summary>
    public const ulong DoorbellBit = 8;

    /// <summary>An entry for a page of system memory.</summary>
    public static CpuPageTableEntry System(ulong physicalOffset, bool writable, int mappingId) =>
        new(PresentBit | (writable ? WritableBit : 0) | (physicalOffset & ~0xFFFUL), mappingId);

    /// <summary>An entry for an aperture page (which the aperture redirects to local memory).</summary>
    public static CpuPageTableEntry Aperture(ulong apertureOffset, bool writable, int mappingId) =>
        new(PresentBit | ApertureBit | (writable ? WritableBit : 0) | (apertureOffset & ~0xFFFUL), mappingId);

    /// <summary>An entry for doorbell-aperture page <paramref name="apertureOffset"/> mapped for <paramref name="processId"/> (write-only device page).</summary>
    public static CpuPageTableEntry Doorbell(ulong apertureOffset, uint processId, int mappingId) =>
        new(PresentBit | WritableBit | DoorbellBit | (apertureOffset & 0xFFFF_F000UL) | ((ulong)processId << 32), mappingId);

    /// <summary>Present.</summary>
    public bool IsPresent => (Raw & PresentBit) != 0;
    /// <summary>Writable.</summary>
    public bool IsWritable => (Raw & WritableBit) != 0;
    /// <summary>Goes through the aperture.</summary>
    public bool IsAperture => (Raw & ApertureBit) != 0;
    /// <summary>A doorbell-aperture page (device register page, not memory).</summary>
    public bool IsDoorbell => (Raw & DoorbellBit) != 0;
    /// <summary>For a doorbell entry: the page's byte offset in the doorbell aperture.</summary>
    public ulong DoorbellOffset => Raw & 0xFFFF_F000UL;
    /// <summary>For a doorbell entry: the process the page was mapped for.</summary>
    public uint DoorbellOwner => (uint)(Raw >> 32);
    /// <summary>Frame byte offset (aperture or system physical).</summary>
    public ulong Frame => Raw & ~0xFFFUL;
}
