using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// How the device finds one GPU virtual address space (native-layout.md, "Address-space descriptor"):
/// 32 bytes, embedded in a context save area and readable by the MMU.
/// <code>
/// +0  u64 RootTable   encoded physical address of the L3 table (multi-level) or of entry 0 (flat)
/// +8  u32 Format      0 multi-level, 1 flat
/// +12 u32 Flags       bit 0 FaultOnInvalid (else invalid VAs hit the dummy page); others reserved
/// +16 u64 FlatLimit   flat format: number of entries (the limit register); ignored for multi-level
/// +24 u16 Asid        address-space id that tags TLB entries (0..4095)
/// +26 u16 Reserved0
/// +28 u32 Reserved1
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public struct AddressSpaceDescriptor
{
    /// <summary>Flag: invalid VAs fault rather than hitting the dummy page.</summary>
    public const uint FaultOnInvalidFlag = 1;

    /// <summary>Encoded physical address of the root table.</summary>
    [FieldOffset(0)] public ulong RootTable;
    /// <summary>Table format.</summary>
    [FieldOffset(8)] public PageTableFormat Format;
    /// <summary>Flags (<see cref="FaultOnInvalidFlag"/>).</summary>
    [FieldOffset(12)] public uint Flags;
    /// <summary>Flat-table limit register: number of entries.</summary>
    [FieldOffset(16)] public ulong FlatLimit;
    /// <summary>Address-space id used to tag TLB entries.</summary>
    [FieldOffset(24)] public ushort Asid;
    /// <summary>Reserved, zero.</summary>
    [FieldOffset(26)] public ushort Reserved0;
    /// <summary>Reserved, zero.</summary>
    [FieldOffset(28)] public uint Reserved1;

    /// <summary>True when invalid VAs fault instead of using the dummy page.</summary>
    public readonly bool FaultOnInvalid => (Flags & FaultOnInvalidFlag) != 0;

    /// <summary>The decoded root-table address.</summary>
    public readonly PhysicalAddress Root => PhysicalAddress.Decode(RootTable);

    /// <summary>A multi-level descriptor.</summary>
    public static AddressSpaceDescriptor MultiLevel(PhysicalAddress root, ushort asid, bool faultOnInvalid) => new()
    {
        RootTable = root.Encoded, Format = PageTableFormat.MultiLevel, Asid = asid,
        Flags = faultOnInvalid ? FaultOnInvalidFlag : 0,
    };

    /// <summary>A flat descriptor with its limit register.</summary>
    public static AddressSpaceDescriptor Flat(PhysicalAddress firstEntry, ulong limitEntries, ushort asid, bool faultOnInvalid) => new()
    {
        RootTable = firstEntry.Encoded, Format = PageTableFormat.Flat, FlatLimit = limitEntries, Asid = asid,
        Flags = faultOnInvalid ? FaultOnInvalidFlag : 0,
    };
}
