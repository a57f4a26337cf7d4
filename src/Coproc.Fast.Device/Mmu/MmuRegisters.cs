namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// Register offsets of the MMU block at <see cref="Mmio.MmioMap.MmuBase"/> (native-layout.md §7.1), relative to the
/// block, and the TLB_INV_CMD commands. Drivers, hosts and tests use these names instead of raw offsets.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class MmuRegisters
{
    /// <summary>RW64 APERTURE_TABLE: encoded physical address of aperture PTE 0 (local memory).</summary>
    public const uint ApertureTable = 0x08;
    /// <summary>RW32 APERTURE_ENTRIES: aperture pages described; clamped to APERTURE_SIZE / 4096.</summary>
    public const uint ApertureEntries = 0x10;
    /// <summary>RW32 TLB_INV_ASID: ASID for command 1; 0xFFFF = every address space.</summary>
    public const uint TlbInvAsid = 0x20;
    /// <summary>RW64 TLB_INV_VA: start VA for command 1 (bits 0..11 ignored).</summary>
    public const uint TlbInvVa = 0x28;
    /// <summary>RW64 TLB_INV_PAGES: 4 KiB pages for command 1; 0 = the whole address space.</summary>
    public const uint TlbInvPages = 0x30;
    /// <summary>W32 TLB_INV_CMD: one of the Command* values.</summary>
    public const uint TlbInvCmd = 0x38;
    /// <summary>R64 TLB_INV_COUNT: invalidation commands completed.</summary>
    public const uint TlbInvCount = 0x40;
    /// <summary>R64 FAULT_COUNT: MMU faults reported since reset.</summary>
    public const uint FaultCount = 0x50;
    /// <summary>R64 FAULT_VA: VA of the last fault.</summary>
    public const uint FaultVa = 0x58;
    /// <summary>R64 FAULT_INFO: the last fault (§7.5): bits 0..7 status, 8 access, 16..31 ASID, 32..39 client id.</summary>
    public const uint FaultInfo = 0x60;

    /// <summary>TLB_INV_CMD value: invalidate (TLB_INV_ASID, TLB_INV_VA, TLB_INV_PAGES) on every client TLB.</summary>
    public const uint CommandInvalidateRange = 1;
    /// <summary>TLB_INV_CMD value: invalidate every entry of every client TLB.</summary>
    public const uint CommandInvalidateAll = 2;
    /// <summary>TLB_INV_CMD value: invalidate the aperture TLB.</summary>
    public const uint CommandInvalidateAperture = 3;
    /// <summary>TLB_INV_ASID value meaning every address space.</summary>
    public const uint AllAsids = 0xFFFF;
}
