using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// The MMU-block registers VidMm programs (native-layout.md §7), as absolute offsets in the register BAR.
/// The only place these offsets live in the driver.
/// </summary>
public static class MmuRegisters
{
    /// <summary>APERTURE_TABLE (u64): encoded physical address of the flat aperture PTE table in local memory.</summary>
    public const uint ApertureTable = MmioMap.MmuBase + Coproc.Fast.Device.Mmu.MmuRegisters.ApertureTable;
    /// <summary>APERTURE_ENTRIES (u32): number of entries in the aperture table (one per 4 KiB aperture page).</summary>
    public const uint ApertureEntries = MmioMap.MmuBase + Coproc.Fast.Device.Mmu.MmuRegisters.ApertureEntries;
    /// <summary>TLB_INV_ASID (u32): address space to invalidate; <see cref="AllAsids"/> = every address space.</summary>
    public const uint TlbInvalidateAsid = MmioMap.MmuBase + Coproc.Fast.Device.Mmu.MmuRegisters.TlbInvAsid;
    /// <summary>TLB_INV_VA (u64): first virtual address of a range invalidation.</summary>
    public const uint TlbInvalidateVa = MmioMap.MmuBase + Coproc.Fast.Device.Mmu.MmuRegisters.TlbInvVa;
    /// <summary>TLB_INV_PAGES (u64): 4 KiB pages of a range invalidation; 0 = the whole address space.</summary>
    public const uint TlbInvalidatePages = MmioMap.MmuBase + Coproc.Fast.Device.Mmu.MmuRegisters.TlbInvPages;
    /// <summary>TLB_INV_CMD (u32): writing a command performs it (<see cref="CommandRange"/>, …).</summary>
    public const uint TlbInvalidateCommand = MmioMap.MmuBase + Coproc.Fast.Device.Mmu.MmuRegisters.TlbInvCmd;

    /// <summary>TLB_INV_ASID value meaning every address space.</summary>
    public const uint AllAsids = Coproc.Fast.Device.Mmu.MmuRegisters.AllAsids;
    /// <summary>TLB_INV_CMD: invalidate (ASID, VA, PAGES).</summary>
    public const uint CommandRange = Coproc.Fast.Device.Mmu.MmuRegisters.CommandInvalidateRange;
    /// <summary>TLB_INV_CMD: invalidate every GPU TLB entry.</summary>
    public const uint CommandEverything = Coproc.Fast.Device.Mmu.MmuRegisters.CommandInvalidateAll;
    /// <summary>TLB_INV_CMD: invalidate the aperture TLB (after aperture PTEs change).</summary>
    public const uint CommandAperture = Coproc.Fast.Device.Mmu.MmuRegisters.CommandInvalidateAperture;

    /// <summary>APERTURE_SIZE (R64) in the device block: bytes of the CPU-visible aperture window.</summary>
    public const uint ApertureSize = MmioMap.DeviceBase + Coproc.Fast.Device.Core.DeviceRegisters.ApertureSize;
    /// <summary>LOCAL_SIZE (R64) in the device block.</summary>
    public const uint LocalSize = MmioMap.DeviceBase + Coproc.Fast.Device.Core.DeviceRegisters.LocalSize;
    /// <summary>SYSTEM_SIZE (R64) in the device block.</summary>
    public const uint SystemSize = MmioMap.DeviceBase + Coproc.Fast.Device.Core.DeviceRegisters.SystemSize;

    /// <summary>Invalidates GPU TLB entries of <paramref name="asid"/> for [va, va + pages·4 KiB) through the device bus.</summary>
    public static void InvalidateRange(IDeviceBus bus, ushort asid, ulong va, ulong pages)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.WriteRegister32(TlbInvalidateAsid, asid);
        bus.WriteRegister(TlbInvalidateVa, va);
        bus.WriteRegister(TlbInvalidatePages, pages);
        bus.WriteRegister32(TlbInvalidateCommand, CommandRange);
    }

    /// <summary>Invalidates the aperture TLB through the device bus (after aperture PTEs change; seed 001 §12).</summary>
    public static void InvalidateAperture(IDeviceBus bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.WriteRegister32(TlbInvalidateCommand, CommandAperture);
    }
}
