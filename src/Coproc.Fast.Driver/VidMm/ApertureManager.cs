using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Driver.Cpu;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// Manages the programmable PCI aperture (seed 001 §12): a CPU-visible window whose own flat page table,
/// allocated from local memory and located by physical address, redirects each 4 KiB aperture page to a
/// page of local memory. Shared by every process and context; never redirects to system memory (VidMm
/// maps system memory into CPU address spaces directly).
/// </summary>
public sealed class ApertureManager
{
    private readonly VideoMemoryManager _vidmm;
    private readonly BuddyAllocator _pages;

    internal ApertureManager(VideoMemoryManager vidmm, ulong apertureBytes)
    {
        _vidmm = vidmm;
        Entries = apertureBytes / VideoMemoryManager.PageSize;
        if (Entries == 0) throw new ArgumentOutOfRangeException(nameof(apertureBytes), apertureBytes, "the aperture must hold at least one page");
        ulong tablePages = (Entries * 8 + VideoMemoryManager.PageSize - 1) / VideoMemoryManager.PageSize;
        // seed 001 §12: the aperture page table is allocated from supplemental (local) memory.
        TableAddress = vidmm.AllocateTablePages(tablePages, localOnly: true);
        _pages = new BuddyAllocator(Entries);
        Window = new ApertureWindow(vidmm.Memory, TableAddress, Entries);
        vidmm.Bus.WriteRegister(MmuRegisters.ApertureTable, TableAddress.Encoded);
        vidmm.Bus.WriteRegister32(MmuRegisters.ApertureEntries, (uint)Entries);
        MmuRegisters.InvalidateAperture(vidmm.Bus);
    }

    /// <summary>Aperture pages (entries of the aperture table).</summary>
    public ulong Entries { get; }

    /// <summary>Free aperture pages.</summary>
    public ulong FreePages => _pages.FreeUnits;

    /// <summary>Physical address of aperture entry 0 (local memory), as written to APERTURE_TABLE.</summary>
    public PhysicalAddress TableAddress { get; }

    /// <summary>How the CPU side resolves aperture pages (reads the aperture PTEs from local memory).</summary>
    public ApertureWindow Window { get; }

    internal BuddyAllocator Pages => _pages;

    /// <summary>
    /// Redirects <paramref name="pages"/> aperture pages to the local pages of an allocation from
    /// <paramref name="offset"/> on and returns the aperture runs used, in order (CPU PTEs point at each
    /// aperture page separately, so the runs need not be adjacent). Throws <see cref="VidMmError.OutOfApertureSpace"/>
    /// with nothing changed when the window has too few free pages.
    /// </summary>
    internal (ulong First, ulong Pages)[] Map(in AllocationRecord allocation, ulong offset, ulong pages, bool writable)
    {
        if (_pages.FreeUnits < pages)
            throw new VidMmException(VidMmError.OutOfApertureSpace, $"{pages} aperture page(s) requested, {_pages.FreeUnits} of {Entries} free");
        var runs = new List<(ulong First, ulong Pages)>(1);
        for (ulong remaining = pages; remaining > 0;)
        {
            if (_pages.TryAllocate(remaining, 0, out ulong start)) { runs.Add((start, remaining)); break; }
            if (!_pages.TryTakeLargestBlock(0, BuddyAllocator.OrderFor(remaining) - 1, out start, out int order))
            {
                foreach (var r in runs) _pages.FreeRange(r.First, r.Pages);
                throw new VidMmException(VidMmError.OutOfApertureSpace, $"aperture too fragmented for {pages} page(s)");
            }
            runs.Add((start, 1UL << order));
            remaining -= 1UL << order;
        }
        ulong page = 0;
        foreach (var (first, count) in runs)
            for (ulong i = 0; i < count; i++, page++)
            {
                var pa = allocation.PhysicalAt(offset + page * VideoMemoryManager.PageSize, out _);
                var pte = PageTableEntry.Create(MemoryLocation.Local, pa.Offset, writable, type: CacheType.WriteCombined);
                _vidmm.Memory.Write64(TableAddress.Add((first + i) * 8), pte.Raw);
            }
        MmuRegisters.InvalidateAperture(_vidmm.Bus);
        return runs.ToArray();
    }

    /// <summary>Clears the entries of every run, invalidates the aperture TLB once, then frees the pages.</summary>
    internal void Unmap((ulong First, ulong Pages)[] runs)
    {
        foreach (var (first, pages) in runs)
            for (ulong i = 0; i < pages; i++) _vidmm.Memory.Write64(TableAddress.Add((first + i) * 8), 0);
        MmuRegisters.InvalidateAperture(_vidmm.Bus);
        foreach (var (first, pages) in runs) _pages.FreeRange(first, pages);
    }
}
