using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm;

// The advanced model's immediate invalidation (seed 001 §5.3 step 4, §5.6): a managed allocation that is mapped while
// it is not resident must fault on first use rather than reach its backing store. Used only while no context that maps
// the range can run (at allocation time), so a CPU write of the entries plus a TLB invalidation is enough.
public sealed partial class GpuAddressSpace
{
    /// <summary>
    /// Clears V in every leaf PTE of the mapping starting at <paramref name="va"/> (other bits kept) and invalidates the
    /// TLBs for the range through MMIO. The mapping stays (a later paging buffer retargets it and sets V again).
    /// </summary>
    /// <exception cref="VidMmException">No mapping starts at <paramref name="va"/>.</exception>
    internal void InvalidateMappingNow(ulong va)
    {
        CheckLive();
        if (!_mappings.TryGetValue(va, out var m))
            throw new VidMmException(VidMmError.NotMapped, $"0x{va:X} is not the start of a GPU mapping in ASID {Asid}");
        ulong pages = m.Bytes >> PageTableLayout.PageShift;
        for (ulong v = va, left = pages; left > 0;)
        {
            ulong n = PagesInChunk(v, left);
            // Managed mappings never use 2 MiB entries, so a leaf table always exists here.
            var entries = LeafEntries(LeafTable(v)!.Value, v, n);
            for (int k = 0; k < entries.Length; k++) entries[k] &= ~PageTableEntry.ValidBit;
            v += n << PageTableLayout.PageShift;
            left -= n;
        }
        MmuRegisters.InvalidateRange(_vidmm.Bus, Asid, va, pages);
    }
}
