using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// The GPU MMU: walks page tables stored in emulated memory (native-layout.md §3–§5) and turns GPU
/// virtual addresses into <see cref="PageRun"/>s. Stateless apart from the TLBs its clients pass in;
/// never allocates.
/// </summary>
public sealed unsafe class GpuMmu
{
    private readonly DeviceMemory _memory;

    /// <summary>Creates the MMU over the device's memories.</summary>
    public GpuMmu(DeviceMemory memory) => _memory = memory ?? throw new ArgumentNullException(nameof(memory));

    /// <summary>Page walks performed (TLB misses that reached memory).</summary>
    public long Walks { get; private set; }

    /// <summary>
    /// Translates the page that holds <paramref name="va"/>. The run covers [va, end of that 4 KiB page).
    /// </summary>
    /// <param name="tlb">The client's TLB, or null for an uncached walk.</param>
    /// <param name="space">The address space.</param>
    /// <param name="va">Virtual address.</param>
    /// <param name="access">Read or write.</param>
    /// <param name="privileged">True for a privileged DMA buffer (may touch P pages).</param>
    /// <param name="run">The backing run on success.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TranslationStatus Translate(Tlb? tlb, in AddressSpaceDescriptor space, ulong va, AccessKind access, bool privileged, out PageRun run)
    {
        ulong vpn = va >> PageTableLayout.PageShift;
        ulong inPage = va & (PageTableLayout.PageSize - 1);
        if (tlb is not null && tlb.TryLookup(space.Asid, vpn, out ulong d))
        {
            if (access == AccessKind.Write && (d & 1) == 0) { run = default; return TranslationStatus.WriteProtected; }
            if (!privileged && (d & 2) != 0) { run = default; return TranslationStatus.PrivilegeViolation; }
            run = new PageRun((MemoryLocation)((d >> 2) & 3), (d & PageTableEntry.FrameMask) + inPage, PageTableLayout.PageSize - inPage);
            return TranslationStatus.Ok;
        }
        return TranslateSlow(tlb, space, va, access, privileged, out run);
    }

    /// <summary>
    /// Translates from <paramref name="va"/> and extends the run over following pages while they are
    /// physically contiguous in the same memory (or all dummy), up to <paramref name="maxLength"/> bytes.
    /// A later page that fails to translate ends the run; it is reported by the next call.
    /// </summary>
    public TranslationStatus TranslateRun(Tlb? tlb, in AddressSpaceDescriptor space, ulong va, ulong maxLength, AccessKind access, bool privileged, out PageRun run)
    {
        var s = Translate(tlb, space, va, access, privileged, out run);
        if (s != TranslationStatus.Ok || run.Length >= maxLength)
        {
            if (s == TranslationStatus.Ok && run.Length > maxLength) run = new PageRun(run.Location, run.PhysicalOffset, maxLength);
            return s;
        }
        ulong total = run.Length;
        while (total < maxLength)
        {
            if (Translate(tlb, space, va + total, access, privileged, out var next) != TranslationStatus.Ok) break;
            bool contiguous = next.Location == run.Location &&
                              (run.IsDummy || next.PhysicalOffset == run.PhysicalOffset + total);
            if (!contiguous) break;
            total += next.Length;
        }
        run = new PageRun(run.Location, run.PhysicalOffset, Math.Min(total, maxLength));
        return TranslationStatus.Ok;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationStatus TranslateSlow(Tlb? tlb, in AddressSpaceDescriptor space, ulong va, AccessKind access, bool privileged, out PageRun run)
    {
        Walks++;
        var s = Walk(space, va, out var leaf, out bool writable, out bool priv, out ulong pageSize);
        ulong inPage = va & (PageTableLayout.PageSize - 1);
        if (s == TranslationStatus.InvalidAddress && !space.FaultOnInvalid)
        {
            run = new PageRun(MemoryLocation.Dummy, 0, PageTableLayout.PageSize - inPage);
            return TranslationStatus.Ok;
        }
        if (s != TranslationStatus.Ok) { run = default; return s; }
        if (leaf.Location == MemoryLocation.Dummy)
        {
            if (!privileged && priv) { run = default; return TranslationStatus.PrivilegeViolation; }
            run = new PageRun(MemoryLocation.Dummy, 0, PageTableLayout.PageSize - inPage);
            return TranslationStatus.Ok;
        }
        // 4 KiB frame that holds va (for a 2 MiB page: the frame inside the large page).
        ulong frame = leaf.FrameOffset + ((va & (pageSize - 1)) & ~(PageTableLayout.PageSize - 1));
        if (_memory.TryPointer(leaf.Location, frame, PageTableLayout.PageSize) == null) { run = default; return TranslationStatus.PhysicalOutOfRange; }
        tlb?.Insert(space.Asid, va >> PageTableLayout.PageShift, frame, writable, priv, leaf.Location);
        if (access == AccessKind.Write && !writable) { run = default; return TranslationStatus.WriteProtected; }
        if (!privileged && priv) { run = default; return TranslationStatus.PrivilegeViolation; }
        run = new PageRun(leaf.Location, frame + inPage, PageTableLayout.PageSize - inPage);
        return TranslationStatus.Ok;
    }

    /// <summary>
    /// Walks the table for <paramref name="va"/> without any TLB. Returns the leaf entry and the rights
    /// accumulated along the path (W ANDed, P ORed) and the leaf's page size.
    /// </summary>
    public TranslationStatus Walk(in AddressSpaceDescriptor space, ulong va, out PageTableEntry leaf, out bool writable, out bool privileged, out ulong pageSize)
    {
        leaf = default; writable = false; privileged = false; pageSize = PageTableLayout.PageSize;
        if (!PhysicalAddress.TryDecode(space.RootTable, out var root)) return TranslationStatus.PhysicalOutOfRange;
        if (space.Format == PageTableFormat.Flat)
        {
            ulong vpn = va >> PageTableLayout.PageShift;
            if (vpn >= space.FlatLimit || vpn >= PageTableLayout.MaxFlatEntries) return TranslationStatus.InvalidAddress;
            ulong* pe = (ulong*)_memory.TryPointer(root.Location, root.Offset + vpn * 8, 8);
            if (pe == null) return TranslationStatus.PhysicalOutOfRange;
            leaf = new PageTableEntry(*pe);
            if (!leaf.IsValid || leaf.IsLargePage) return TranslationStatus.InvalidAddress;
            writable = leaf.IsWritable; privileged = leaf.IsPrivileged;
            return TranslationStatus.Ok;
        }
        if (space.Format != PageTableFormat.MultiLevel) return TranslationStatus.InvalidAddress;
        if ((va >> PageTableLayout.MultiLevelVaBits) != 0) return TranslationStatus.InvalidAddress;
        var tableLoc = root.Location;
        ulong tableOff = root.Offset;
        writable = true;
        for (int level = PageTableLayout.Levels - 1; level >= 0; level--)
        {
            ulong* pe = (ulong*)_memory.TryPointer(tableLoc, tableOff + (ulong)PageTableLayout.IndexAt(va, level) * 8, 8);
            if (pe == null) return TranslationStatus.PhysicalOutOfRange;
            var e = new PageTableEntry(*pe);
            if (!e.IsValid) return TranslationStatus.InvalidAddress;
            writable &= e.IsWritable;
            privileged |= e.IsPrivileged;
            if (level == 0 || (level == 1 && e.IsLargePage))
            {
                if (level == 1)
                {
                    if ((e.FrameOffset & (PageTableLayout.LargePageSize - 1)) != 0) return TranslationStatus.InvalidAddress;
                    pageSize = PageTableLayout.LargePageSize;
                }
                else if (e.IsLargePage) return TranslationStatus.InvalidAddress;
                leaf = e;
                return TranslationStatus.Ok;
            }
            if (e.IsLargePage || e.Location == MemoryLocation.Dummy) return TranslationStatus.InvalidAddress;
            tableLoc = e.Location;
            tableOff = e.FrameOffset;
        }
        return TranslationStatus.InvalidAddress;
    }
}
