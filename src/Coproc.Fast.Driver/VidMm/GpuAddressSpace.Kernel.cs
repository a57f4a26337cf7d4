using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm;

// The kernel-only half of GpuAddressSpace: linear maps of physical memory (the residency manager's kernel view)
// and the PTE rewrites that keep a moved allocation's VA invariant (seed 001 §4.2, behaviour 13).
public sealed partial class GpuAddressSpace
{
    /// <summary>
    /// Maps the physical range [<paramref name="physical"/>, +<paramref name="bytes"/>) at <paramref name="va"/> (reserved
    /// here), 2 MiB pages wherever VA and physical address are both 2 MiB aligned. Kernel use only (no allocation owns
    /// the range; the mapping lives until the space is destroyed).
    /// </summary>
    internal void MapPhysical(ulong va, PhysicalAddress physical, ulong bytes, GpuMappingFlags flags)
    {
        CheckLive();
        ReserveAt(va, bytes);
        var rec = new AllocationRecord
        {
            Size = bytes, Alignment = VideoMemoryManager.PageSize, Location = physical.Location,
            First = new PhysicalExtent(physical, bytes), ExtentCount = 1,
        };
        ulong pages = bytes >> PageTableLayout.PageShift;
        EnsureTables(va, pages, rec, 0);
        WriteLeaves(va, pages, rec, 0, flags);
    }

    /// <summary>Bytes of the mapping that starts at <paramref name="va"/>.</summary>
    internal ulong MappingBytes(ulong va) => _mappings[va].Bytes;

    /// <summary>
    /// Gathers the leaf-PTE writes that point the mapping starting at <paramref name="va"/> at a new home of its
    /// allocation, whose byte 0 is now at <paramref name="newAllocationBase"/> (contiguous), keeping every other PTE bit
    /// (V, W, P, TYPE, SW); then the TLB invalidation of the mapping's range.
    /// </summary>
    internal void CollectRetarget(ulong va, PhysicalAddress newAllocationBase, PteWriteList sink)
    {
        var m = _mappings[va];
        ulong pages = m.Bytes >> PageTableLayout.PageShift;
        ulong phys = newAllocationBase.Offset + m.AllocationOffset;
        const ulong keep = ~(PageTableEntry.FrameMask | (3UL << PageTableEntry.LocationShift));
        ulong loc = (ulong)newAllocationBase.Location << PageTableEntry.LocationShift;
        ulong v = va;
        for (ulong left = pages; left > 0;)
        {
            ulong n = PagesInChunk(v, left);
            // Evictable mappings never use 2 MiB entries (LargePageFits), so a leaf table always exists here.
            var table = LeafTable(v)!.Value;
            var current = LeafEntries(table, v, n);
            sink.BeginRun(table.Add(LeafIndex(v) * 8));
            for (int k = 0; k < current.Length; k++)
            {
                sink.Add((current[k] & keep) | loc | (phys & PageTableEntry.FrameMask));
                phys += VideoMemoryManager.PageSize;
            }
            v += n << PageTableLayout.PageShift;
            left -= n;
        }
        sink.Flush(Asid, va, pages);
    }
}
