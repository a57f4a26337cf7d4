using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

internal sealed unsafe partial class GpuMmu
{
    /// <summary>
    /// Where a walk ended: a stretch of consecutive 4 KiB VA pages, starting at the walked page, that share
    /// the same path above the leaves — the rest of a leaf table, of a flat table, of a 2 MiB page, or of the
    /// VA range an invalid upper entry covers. Run extension reads its pages without walking again.
    /// </summary>
    private struct LeafSpan
    {
        /// <summary>PTE of the first page in a leaf (L0 or flat) table; null for a large page or an invalid span.</summary>
        public ulong* Entry;
        /// <summary>Large page: the first page's entry in 4 KiB-leaf form (PS cleared, that page's frame).</summary>
        public ulong Large;
        /// <summary>Large page: the level-1 entry as stored.</summary>
        public ulong LargeOriginal;
        /// <summary>Pages described from the first one; 0 = nothing (walk again).</summary>
        public ulong Pages;
        /// <summary>An upper level (or the limit register, or the VA width) makes every page of the span invalid.</summary>
        public bool Invalid;
        /// <summary>W ANDed over the non-leaf entries of the path (native-layout.md §3).</summary>
        public bool Writable;
        /// <summary>P ORed over the non-leaf entries of the path.</summary>
        public bool Privileged;
    }

    /// <summary>A leaf entry translates: V set, no reserved bits, LOC not 3, PS clear.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool LeafIsValid(ulong raw)
    {
        var e = new PageTableEntry(raw);
        return e.IsValid && !e.IsLargePage;
    }

    /// <summary>
    /// Descends from the root to the leaf level for <paramref name="va"/>. Returns Ok (span holds leaves whose
    /// own validity is checked by <see cref="Resolve"/>), InvalidAddress (span.Invalid, span.Pages = the VA the
    /// invalid entry covers) or PhysicalOutOfRange (a table lies outside its memory; span.Pages = 0).
    /// </summary>
    private TranslationStatus Descend(in AddressSpaceDescriptor space, ulong va, out LeafSpan span)
    {
        span = default;
        if (!PhysicalAddress.TryDecode(space.RootTable, out var root)) return TranslationStatus.PhysicalOutOfRange;
        ulong vpn = va >> PageTableLayout.PageShift;
        span.Writable = true;
        if (space.Format == PageTableFormat.Flat)
        {
            // seed 001 §5.4.1: "any memory reference past the end of the page table is ... an invalid access".
            ulong limit = Math.Min(space.FlatLimit, PageTableLayout.MaxFlatEntries);
            if (vpn >= limit) return InvalidSpan(ref span, 1);
            // A flat table may span adjacent guest-RAM ranges: the span ends at the end of the block holding this entry, and
            // the next page descends again (native-layout.md §20.6).
            ulong off = root.Offset + vpn * PageTableLayout.EntrySize;
            ulong end = _memory.BlockEnd(root.Location, off);
            if (end == 0 || end - off < PageTableLayout.EntrySize) return TranslationStatus.PhysicalOutOfRange;
            span.Entry = (ulong*)_memory.TryPointer(root.Location, off, PageTableLayout.EntrySize);
            span.Pages = Math.Min(limit - vpn, (end - off) / PageTableLayout.EntrySize);
            return TranslationStatus.Ok;
        }
        if (space.Format != PageTableFormat.MultiLevel || (va >> PageTableLayout.MultiLevelVaBits) != 0)
            return InvalidSpan(ref span, 1);

        var tableLoc = root.Location;
        ulong tableOff = root.Offset;
        for (int level = PageTableLayout.Levels - 1; level >= 1; level--)
        {
            ulong* pe = (ulong*)_memory.TryPointer(tableLoc, tableOff + (ulong)PageTableLayout.IndexAt(va, level) * 8, 8);
            if (pe == null) return TranslationStatus.PhysicalOutOfRange;
            var e = new PageTableEntry(*pe);
            ulong covered = 1UL << (9 * level);
            ulong remaining = covered - (vpn & (covered - 1));
            if (!e.IsValid) return InvalidSpan(ref span, remaining);
            if (level == 1 && e.IsLargePage)
            {
                if ((e.FrameOffset & (PageTableLayout.LargePageSize - 1)) != 0) return InvalidSpan(ref span, remaining);
                span.LargeOriginal = e.Raw;
                span.Large = (e.Raw & ~PageTableEntry.LargePageBit) + ((vpn & 511) << PageTableLayout.PageShift);
                span.Pages = remaining;
                return TranslationStatus.Ok;
            }
            // A directory entry cannot be a large page (only level 1 may) or point at the dummy page.
            if (e.IsLargePage || e.Location == MemoryLocation.Dummy) return InvalidSpan(ref span, remaining);
            span.Writable &= e.IsWritable;
            span.Privileged |= e.IsPrivileged;
            tableLoc = e.Location;
            tableOff = e.FrameOffset;
        }
        ulong index = vpn & 511;
        ulong* leaf = (ulong*)_memory.TryPointer(tableLoc, tableOff + index * 8, (512 - index) * 8);
        if (leaf == null) return TranslationStatus.PhysicalOutOfRange;
        span.Entry = leaf;
        span.Pages = 512 - index;
        return TranslationStatus.Ok;
    }

    private static TranslationStatus InvalidSpan(ref LeafSpan span, ulong pages)
    {
        span.Invalid = true;
        span.Pages = pages;
        return TranslationStatus.InvalidAddress;
    }

    /// <summary>
    /// Translates page <paramref name="k"/> of a span: location, 4 KiB frame and accumulated rights. An invalid
    /// leaf is the dummy page unless the space faults on invalid addresses (seed 001 §4.2); a frame outside its
    /// memory is <see cref="TranslationStatus.PhysicalOutOfRange"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TranslationStatus Resolve(in AddressSpaceDescriptor space, in LeafSpan span, ulong k,
        out MemoryLocation location, out ulong frame, out bool writable, out bool privileged)
    {
        ulong raw = span.Invalid ? 0 : span.Entry != null ? span.Entry[k] : span.Large + (k << PageTableLayout.PageShift);
        if (!LeafIsValid(raw))
        {
            location = MemoryLocation.Dummy; frame = 0; writable = true; privileged = false;
            return space.FaultOnInvalid ? TranslationStatus.InvalidAddress : TranslationStatus.Ok;
        }
        var e = new PageTableEntry(raw);
        location = e.Location;
        frame = e.FrameOffset;
        writable = span.Writable & e.IsWritable;
        privileged = span.Privileged | e.IsPrivileged;
        if (location != MemoryLocation.Dummy && _memory.TryPointer(location, frame, PageTableLayout.PageSize) == null)
            return TranslationStatus.PhysicalOutOfRange;
        return TranslationStatus.Ok;
    }
}
