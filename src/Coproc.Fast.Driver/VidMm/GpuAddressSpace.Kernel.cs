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
    /// Gathers the leaf-PTE writes that point the mapping starting at <paramref name="va"/> at a new home of the piece
    /// [<paramref name="pieceOffset"/>, +<paramref name="pieceBytes"/>) of its allocation, whose byte
    /// <paramref name="pieceOffset"/> is now at <paramref name="newPieceBase"/> (the piece is contiguous), keeping every
    /// other PTE bit (V, W, P, TYPE, SW); then the TLB invalidation of the range rewritten. Pages of the mapping outside
    /// the piece are left alone. With <paramref name="valid"/> false the entries are written with V = 0 (an evicted
    /// allocation of the advanced model faults, seed 001 §5.3 step 4).
    /// </summary>
    internal void CollectRetarget(ulong va, PhysicalAddress newPieceBase, PteWriteList sink, bool valid = true,
        ulong pieceOffset = 0, ulong pieceBytes = ulong.MaxValue)
    {
        var m = _mappings[va];
        ulong lo = Math.Max(m.AllocationOffset, pieceOffset);
        ulong pieceEnd = pieceBytes > ulong.MaxValue - pieceOffset ? ulong.MaxValue : pieceOffset + pieceBytes;
        ulong hi = Math.Min(m.AllocationOffset + m.Bytes, pieceEnd);
        if (lo >= hi) return;
        ulong pages = (hi - lo) >> PageTableLayout.PageShift;
        ulong start = va + (lo - m.AllocationOffset);
        ulong phys = newPieceBase.Offset + (lo - pieceOffset);
        bool writable = (m.Flags & GpuMappingFlags.Writable) != 0, privileged = (m.Flags & GpuMappingFlags.Privileged) != 0;
        ulong v = start;
        for (ulong left = pages; left > 0;)
        {
            ulong n = PagesInChunk(v, left);
            // Evictable mappings never use 2 MiB entries (LargePageFits), so a leaf table always exists here.
            var table = LeafTable(v)!.Value;
            sink.BeginRun(table.Add(LeafIndex(v) * 8));
            // Values come from the mapping's rights, not from memory: a deferred map may not have been written yet.
            for (ulong k = 0; k < n; k++)
            {
                ulong raw = PageTableEntry.Create(newPieceBase.Location, phys, writable, privileged).Raw;
                sink.Add(valid ? raw : raw & ~PageTableEntry.ValidBit);
                phys += VideoMemoryManager.PageSize;
            }
            v += n << PageTableLayout.PageShift;
            left -= n;
        }
        sink.Flush(Asid, start, pages);
    }

    /// <summary>Software bit 9 of a PTE (ignored by the device): a map of this page is queued on the paging queue.</summary>
    internal const ulong PendingMapBit = 1UL << PageTableEntry.SoftwareShift;

    /// <summary>Software bit 10: an unmap of this (still translating) page is queued on the paging queue.</summary>
    internal const ulong PendingUnmapBit = 1UL << (PageTableEntry.SoftwareShift + 1);

    // Whether a leaf entry blocks a new mapping. A deferred map may follow a queued unmap (its writes run after the
    // unmap's); an immediate CPU map may not, or the queued zeroes would later erase it.
    // In a tiled-resource range (ReserveTiledDeferred) a dummy-page entry is a free page, and a dummy write still queued
    // (both pending bits) may be followed by a deferred map (queued behind it) but not by an immediate one.
    private static bool IsTaken(ulong e, bool deferred)
    {
        if ((e & PendingBits) == PendingBits) return !deferred;
        if ((e & PendingBits) == 0 && e == PageTableEntry.Dummy.Raw) return false;
        return (e & PendingMapBit) != 0
            || (deferred ? (e & PageTableEntry.ValidBit) != 0 && (e & PendingUnmapBit) == 0 : (e & (PageTableEntry.ValidBit | PendingUnmapBit)) != 0);
    }

    private const ulong PendingBits = PendingMapBit | PendingUnmapBit;

    /// <summary>
    /// Reserves a tiled-resource range (seed 004: "after reserving the virtual address for a tile resource … wait until
    /// the reserve operation completes before a GPU engine starts accessing the range"): the VA and its page tables at
    /// once, and every leaf set to the dummy page (V = 1, LOC = 2: reads zero, writes discarded, native-layout.md §4.3)
    /// through <paramref name="deferred"/> — UPDATE_PAGE_TABLE packets on the paging queue. Until they run the pages are
    /// invalid (a fault in a fault-on-invalid space); meanwhile the slots carry both pending bits, so a deferred map may
    /// queue behind the reserve and an immediate one is refused. Unmapping a page of the range restores the dummy page.
    /// Returns the VA.
    /// </summary>
    internal ulong ReserveTiledDeferred(ulong bytes, ulong alignment, PteWriteList deferred)
    {
        ulong va = Reserve(bytes, alignment);
        ulong pages = bytes >> PageTableLayout.PageShift;
        try
        {
            EnsureTables(va, pages, default, 0, allowLargePages: false);
        }
        catch
        {
            Release(va);
            throw;
        }
        var r = _reservations[va];
        r.Tiled = true;
        ulong at = va, left = pages;
        while (left > 0)
        {
            ulong n = PagesInChunk(at, left);
            var table = LeafTable(at)!.Value;
            var entries = LeafEntries(table, at, n);
            deferred.BeginRun(table.Add(LeafIndex(at) * 8));
            for (int k = 0; k < entries.Length; k++)
            {
                deferred.Add(PageTableEntry.Dummy.Raw);
                entries[k] = PendingBits; // V = 0 until the paging queue writes the dummy entry
            }
            at += n << PageTableLayout.PageShift;
            left -= n;
        }
        return va;
    }

    // Release of a tiled range (no mappings left): its dummy entries become invalid at once (dummy translations are never
    // cached, native-layout.md §7.2). Refused while the reserve's own writes are still queued: they would land later.
    private void ReleaseTiled(Reservation r)
    {
        ulong pages = r.Bytes >> PageTableLayout.PageShift;
        for (ulong at = r.Start, left = pages; left > 0;)
        {
            ulong n = PagesInChunk(at, left);
            foreach (ulong e in LeafEntries(LeafTable(at)!.Value, at, n))
                if ((e & PendingBits) != 0)
                    throw new VidMmException(VidMmError.StillMapped, $"tiled reservation 0x{r.Start:X} has page-table writes still queued on the paging queue");
            at += n << PageTableLayout.PageShift;
            left -= n;
        }
        ClearLeaves(r.Start, pages);
        MmuRegisters.InvalidateRange(_vidmm.Bus, Asid, r.Start, pages);
    }

    // Deferred WriteLeaves: gathers the final entries (tables exist, no 2 MiB entries) and marks the slots map-pending.
    private void CollectLeaves(ulong va, ulong pages, in AllocationRecord rec, ulong offset, GpuMappingFlags flags, PteWriteList sink)
    {
        bool writable = (flags & GpuMappingFlags.Writable) != 0, privileged = (flags & GpuMappingFlags.Privileged) != 0;
        ulong start = va, total = pages;
        while (pages > 0)
        {
            ulong n = PagesInChunk(va, pages);
            var table = LeafTable(va)!.Value;
            var entries = LeafEntries(table, va, n);
            sink.BeginRun(table.Add(LeafIndex(va) * 8));
            for (int k = 0; k < entries.Length; k++)
            {
                var pa = rec.PhysicalAt(offset, out _);
                sink.Add(PageTableEntry.Create(pa.Location, pa.Offset, writable, privileged).Raw);
                entries[k] = (entries[k] & ~PendingUnmapBit) | PendingMapBit; // V unchanged: the device sees no difference
                offset += VideoMemoryManager.PageSize;
            }
            va += n << PageTableLayout.PageShift;
            pages -= n;
        }
        // A queued unmap of the same VA may have let a translation be cached again; flush after the new entries.
        sink.Flush(Asid, start, total);
    }

    // Deferred ClearLeaves: gathers `entry` (zero; the dummy page in a tiled range) and the flush; the live entries only
    // get the unmap-pending bit.
    private void CollectClear(ulong va, ulong pages, PteWriteList sink, ulong entry = 0)
    {
        ulong start = va, total = pages;
        while (pages > 0)
        {
            ulong n = PagesInChunk(va, pages);
            if (Format == PageTableFormat.MultiLevel && L1Entry(va, out var l1Slot) is { IsLargePage: true } l1)
            {
                sink.BeginRun(l1Slot);
                sink.Add(0);
                Mem.Write64(l1Slot, l1.Raw | PendingUnmapBit); // still refused for new maps until the zero lands
            }
            else
            {
                var table = LeafTable(va)!.Value;
                var entries = LeafEntries(table, va, n);
                sink.BeginRun(table.Add(LeafIndex(va) * 8));
                for (int k = 0; k < entries.Length; k++)
                {
                    sink.Add(entry);
                    entries[k] = (entries[k] & ~PendingMapBit) | PendingUnmapBit;
                }
            }
            va += n << PageTableLayout.PageShift;
            pages -= n;
        }
        sink.Flush(Asid, start, total);
    }
}
