using System.Numerics;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm;

// The page-table half of GpuAddressSpace: builds and edits tables in emulated memory in the documented
// format (native-layout.md §3, §4) through physical reads and writes only.
public sealed partial class GpuAddressSpace
{
    private const ulong ChunkPages = PageTableLayout.EntriesPerTable; // one level-0 table = 2 MiB of VA

    private DeviceMemory Mem => _vidmm.Memory;

    /// <summary>Physical address of the leaf table entries for <paramref name="va"/> (level 0 or the flat table), or null when no table exists.</summary>
    private PhysicalAddress? LeafTable(ulong va)
    {
        if (Format == PageTableFormat.Flat) return _descriptor.Root;
        var table = _descriptor.Root;
        for (int level = PageTableLayout.Levels - 1; level >= 1; level--)
        {
            var e = new PageTableEntry(Mem.Read64(table.Add((ulong)PageTableLayout.IndexAt(va, level) * 8)));
            if (!e.IsValid) return null;
            table = new PhysicalAddress(e.Location, e.FrameOffset);
        }
        return table;
    }

    // Index of va's entry inside its leaf table.
    private ulong LeafIndex(ulong va) =>
        Format == PageTableFormat.Flat ? va >> PageTableLayout.PageShift : (ulong)PageTableLayout.IndexAt(va, 0);

    // Leaf entries for up to one chunk starting at va, clipped to the table (and, flat, to the limit).
    private Span<ulong> LeafEntries(PhysicalAddress table, ulong va, ulong pages) =>
        MemoryMarshal.Cast<byte, ulong>(Mem.GetSpan(table.Add(LeafIndex(va) * 8), (int)(pages * 8)));

    // Pages from va to the end of its chunk (a level-0 table for multi-level; 512 entries for flat).
    private static ulong PagesInChunk(ulong va, ulong remaining) =>
        Math.Min(remaining, ChunkPages - ((va >> PageTableLayout.PageShift) & (ChunkPages - 1)));

    private bool AnyMapped(ulong va, ulong pages, bool deferred)
    {
        while (pages > 0)
        {
            ulong n = PagesInChunk(va, pages);
            if (Format == PageTableFormat.Flat)
            {
                ulong vpn = va >> PageTableLayout.PageShift;
                if (vpn < _descriptor.FlatLimit)
                    foreach (ulong e in LeafEntries(_descriptor.Root, va, Math.Min(n, _descriptor.FlatLimit - vpn)))
                        if (IsTaken(e, deferred)) return true;
            }
            else if (L1Entry(va, out _) is { IsValid: true } l1)
            {
                if (l1.IsLargePage) return true;
                foreach (ulong e in LeafEntries(new PhysicalAddress(l1.Location, l1.FrameOffset), va, n))
                    if (IsTaken(e, deferred)) return true;
            }
            va += n << PageTableLayout.PageShift;
            pages -= n;
        }
        return false;
    }

    /// <summary>The level-1 entry for <paramref name="va"/> and its address, or null when level 3 or 2 has no table (multi-level only).</summary>
    private PageTableEntry? L1Entry(ulong va, out PhysicalAddress slot)
    {
        var table = _descriptor.Root;
        for (int level = PageTableLayout.Levels - 1; level >= 2; level--)
        {
            var e = new PageTableEntry(Mem.Read64(table.Add((ulong)PageTableLayout.IndexAt(va, level) * 8)));
            if (!e.IsValid) { slot = default; return null; }
            table = new PhysicalAddress(e.Location, e.FrameOffset);
        }
        slot = table.Add((ulong)PageTableLayout.IndexAt(va, 1) * 8);
        return new PageTableEntry(Mem.Read64(slot));
    }

    // A whole 2 MiB chunk backed by one 2 MiB-aligned physical run can be one level-1 PS entry (native-layout.md §2).
    private bool LargePageFits(ulong va, ulong pages, in AllocationRecord rec, ulong offset, bool allowLargePages)
    {
        if (!allowLargePages) return false;
        // Evictable allocations move; their mappings stay 4 KiB leaves so a move rewrites only level-0 entries.
        if ((rec.Flags & AllocationFlags.Evictable) != 0) return false;
        if (Format != PageTableFormat.MultiLevel || pages != ChunkPages || (va & (PageTableLayout.LargePageSize - 1)) != 0) return false;
        var pa = rec.PhysicalAt(offset, out ulong contiguous);
        return contiguous >= PageTableLayout.LargePageSize && (pa.Offset & (PageTableLayout.LargePageSize - 1)) == 0;
    }

    /// <summary>Makes every leaf table for [va, va+pages) exist; on failure frees what it created and restores the parents.</summary>
    private void EnsureTables(ulong va, ulong pages, in AllocationRecord rec, ulong offset, bool allowLargePages = true)
    {
        if (Format == PageTableFormat.Flat)
        {
            ulong end = (va >> PageTableLayout.PageShift) + pages;
            if (end > _descriptor.FlatLimit) GrowFlat(end);
            return;
        }
        List<(PhysicalAddress Parent, PhysicalAddress Table)>? created = null; // only when a table is missing
        try
        {
            while (pages > 0)
            {
                ulong n = PagesInChunk(va, pages);
                var table = _descriptor.Root;
                for (int level = PageTableLayout.Levels - 1; level >= 1; level--)
                {
                    var slot = table.Add((ulong)PageTableLayout.IndexAt(va, level) * 8);
                    var e = new PageTableEntry(Mem.Read64(slot));
                    if (level == 1 && !e.IsValid && LargePageFits(va, n, rec, offset, allowLargePages)) break; // no level-0 table: a 2 MiB PS entry
                    if (!e.IsValid)
                    {
                        var fresh = _vidmm.AllocateTablePages(1);
                        (created ??= new()).Add((slot, fresh));
                        // Non-leaf entries: V, W, LOC, PFN; never P (seed 001 §5.7 privilege is per leaf here).
                        e = PageTableEntry.Create(fresh.Location, fresh.Offset, writable: true);
                        Mem.Write64(slot, e.Raw);
                    }
                    table = new PhysicalAddress(e.Location, e.FrameOffset);
                }
                va += n << PageTableLayout.PageShift;
                offset += n << PageTableLayout.PageShift;
                pages -= n;
            }
        }
        catch (VidMmException)
        {
            for (int i = (created?.Count ?? 0) - 1; i >= 0; i--)
            {
                Mem.Write64(created![i].Parent, 0);
                _vidmm.FreeTablePages(created[i].Table, 1);
            }
            throw;
        }
        if (created is not null) foreach (var c in created) _tables.Add(c.Table);
    }

    /// <summary>
    /// seed 001 §5.4.1: the flat table grows by powers of two. Allocates a bigger contiguous table, copies
    /// the entries, moves the descriptor (limit register) to it and frees the old one.
    /// </summary>
    /// <remarks>
    /// Invariant: a space whose descriptor is held in contexts' save areas never grows — the saved copies would keep
    /// the old root and limit (and the freed table). Such spaces are created with
    /// <see cref="GpuAddressSpaceOptions.FlatFixedSize"/>; a mapping beyond their limit is refused
    /// (<see cref="VidMmError.BeyondAddressSpaceLimit"/>) before this is reached.
    /// </remarks>
    private void GrowFlat(ulong neededEntries)
    {
        ulong entries = Math.Max(BitOperations.RoundUpToPowerOf2(neededEntries), (ulong)PageTableLayout.EntriesPerTable);
        ulong pages = entries * 8 / VideoMemoryManager.PageSize;
        var fresh = _vidmm.AllocateTablePages(pages);
        var old = _descriptor.Root;
        for (ulong p = 0; p < _flatTablePages; p++)
            Mem.GetSpan(old.Add(p * VideoMemoryManager.PageSize), (int)VideoMemoryManager.PageSize)
               .CopyTo(Mem.GetSpan(fresh.Add(p * VideoMemoryManager.PageSize), (int)VideoMemoryManager.PageSize));
        _vidmm.FreeTablePages(old, _flatTablePages);
        _flatTablePages = pages;
        _descriptor.RootTable = fresh.Encoded;
        _descriptor.FlatLimit = entries;
    }

    private void WriteLeaves(ulong va, ulong pages, in AllocationRecord rec, ulong offset, GpuMappingFlags flags)
    {
        bool writable = (flags & GpuMappingFlags.Writable) != 0;
        bool privileged = (flags & GpuMappingFlags.Privileged) != 0;
        while (pages > 0)
        {
            ulong n = PagesInChunk(va, pages);
            if (Format == PageTableFormat.MultiLevel && L1Entry(va, out var l1Slot) is { IsValid: false })
            {
                // EnsureTables left this level-1 slot empty only for a chunk that fits a 2 MiB page.
                var pa = rec.PhysicalAt(offset, out _);
                Mem.Write64(l1Slot, PageTableEntry.Create(pa.Location, pa.Offset, writable, privileged, largePage: true).Raw);
                offset += n << PageTableLayout.PageShift;
                va += n << PageTableLayout.PageShift;
                pages -= n;
                continue;
            }
            var entries = LeafEntries(LeafTable(va)!.Value, va, n);
            for (int i = 0; i < entries.Length;)
            {
                // One extent run at a time: physical pages are consecutive inside it.
                var pa = rec.PhysicalAt(offset, out ulong contiguous);
                int run = (int)Math.Min((ulong)(entries.Length - i), contiguous >> PageTableLayout.PageShift);
                for (int k = 0; k < run; k++)
                    entries[i + k] = PageTableEntry.Create(pa.Location, pa.Offset + ((ulong)k << PageTableLayout.PageShift), writable, privileged).Raw;
                i += run;
                offset += (ulong)run << PageTableLayout.PageShift;
            }
            va += n << PageTableLayout.PageShift;
            pages -= n;
        }
    }

    // Sets the leaves of [va, +pages) to `entry` (0: invalid; a tiled range's unmapped pages: the dummy page, whose
    // reservation never holds 2 MiB entries).
    private void ClearLeaves(ulong va, ulong pages, ulong entry = 0)
    {
        while (pages > 0)
        {
            ulong n = PagesInChunk(va, pages);
            if (Format == PageTableFormat.MultiLevel && L1Entry(va, out var l1Slot) is { IsLargePage: true })
                Mem.Write64(l1Slot, 0);
            else
                LeafEntries(LeafTable(va)!.Value, va, n).Fill(entry);
            va += n << PageTableLayout.PageShift;
            pages -= n;
        }
    }

    /// <summary>The leaf PTE this space's tables hold for <paramref name="va"/> (zero when no table covers it). For tests and tools.</summary>
    public PageTableEntry ReadLeaf(ulong va)
    {
        if (Format == PageTableFormat.Flat && (va >> PageTableLayout.PageShift) >= _descriptor.FlatLimit) return default;
        if (Format == PageTableFormat.MultiLevel && L1Entry(va, out _) is { IsLargePage: true } large) return large;
        var t = LeafTable(va);
        return t is null ? default : new PageTableEntry(Mem.Read64(t.Value.Add(LeafIndex(va) * 8)));
    }
}
