using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.Cpu;

/// <summary>
/// The CPU's view of the aperture BAR (seed 001 §12): an access to aperture page <c>n</c> is redirected by
/// aperture PTE <c>n</c>, read from the aperture table in local memory in the page-table-entry format
/// (native-layout.md §3). Only LOC = local entries are honoured: the aperture never reaches system memory.
/// </summary>
public sealed class ApertureWindow
{
    private readonly DeviceMemory _memory;

    internal ApertureWindow(DeviceMemory memory, PhysicalAddress table, ulong entries)
    {
        _memory = memory;
        Table = table;
        Entries = entries;
    }

    /// <summary>Physical address of aperture entry 0.</summary>
    public PhysicalAddress Table { get; }

    /// <summary>Aperture pages.</summary>
    public ulong Entries { get; }

    /// <summary>Resolves a byte offset in the aperture to local memory; false when the entry is invalid.</summary>
    public bool TryResolve(ulong apertureOffset, out PhysicalAddress physical, out bool writable)
    {
        physical = default; writable = false;
        ulong page = apertureOffset >> 12;
        if (page >= Entries) return false;
        var pte = new PageTableEntry(_memory.Read64(Table.Add(page * 8)));
        if (!pte.IsValid || pte.Location != MemoryLocation.Local) return false;
        physical = PhysicalAddress.Local(pte.FrameOffset | (apertureOffset & 0xFFF));
        writable = pte.IsWritable;
        return true;
    }
}
