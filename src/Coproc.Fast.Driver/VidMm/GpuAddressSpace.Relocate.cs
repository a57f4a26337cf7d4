using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm;

// Moving the top-level page table (seed 001 §4.1: "in a saved context the KMD can modify … the page table … stored
// there (needed when those resources move in memory)"). Only the top table moves; lower levels keep their place, so
// every translation — and every TLB entry, which caches translations per ASID, never table addresses — stays valid.
public sealed partial class GpuAddressSpace
{
    /// <summary>
    /// Copies the top-level table (the multi-level root, or the whole flat table) to freshly allocated table pages,
    /// points <see cref="Descriptor"/> at the copy and frees the old pages. The caller must rewrite every saved context
    /// that holds the old descriptor before the device can load one, and keep the device off this space meanwhile.
    /// </summary>
    /// <exception cref="InvalidOperationException">The space was destroyed.</exception>
    /// <exception cref="VidMmException">No memory for the new table (nothing changed).</exception>
    public void RelocateTopLevelTable()
    {
        if (_destroyed) throw new InvalidOperationException("the address space was destroyed");
        ulong pages = Format == PageTableFormat.Flat ? _flatTablePages : 1;
        var fresh = _vidmm.AllocateTablePages(pages);
        var old = _descriptor.Root;
        int bytes = checked((int)(pages * VideoMemoryManager.PageSize));
        Mem.GetSpan(old, bytes).CopyTo(Mem.GetSpan(fresh, bytes));
        _descriptor.RootTable = fresh.Encoded;
        if (Format == PageTableFormat.MultiLevel) _tables[_tables.IndexOf(old)] = fresh;
        _vidmm.FreeTablePages(old, pages);
    }
}
