using System.Diagnostics.CodeAnalysis;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Cpu;

namespace Coproc.Fast.Driver.VidMm;

// seed 002: dynamic mapping of device memory into CPU virtual address spaces, at any time after start-up.
public sealed partial class VideoMemoryManager
{
    /// <summary>
    /// Maps the portion [<paramref name="offset"/>, +<paramref name="bytes"/>) of an allocation into
    /// <paramref name="space"/>'s <paramref name="half"/> and returns the CPU address of its first byte. A
    /// portion lying entirely inside an existing mapping of the same allocation (same half, enough rights) reuses
    /// that mapping (reference counted). Local memory is reached through the aperture; system memory directly.
    /// A residency-managed allocation is pinned where it is — resident in local memory or in its backing store — from
    /// its first CPU mapping until its last is unmapped: the residency manager neither evicts, relocates nor pages it
    /// in meanwhile, so the CPU and the device see the same bytes (seed 002: device memory is mapped "at any time").
    /// </summary>
    /// <exception cref="VidMmException">Bad handle or range, or no CPU VA or aperture space; nothing changes.</exception>
    /// <exception cref="ArgumentException"><paramref name="space"/> was made by another VideoMemoryManager (another machine's); nothing changes.</exception>
    public ulong MapToCpu(CpuAddressSpace space, AllocationHandle allocation, ulong offset, ulong bytes, CpuAddressHalf half,
        bool writable = true)
    {
        RequireOwnSpace(space);
        ref var rec = ref _allocations.Get(allocation);
        ValidateRange(rec, allocation, offset, bytes);
        if (space.MappingsByAllocation.TryGetValue(allocation, out var existing))
        {
            foreach (var m in existing)
            {
                // seed 002: a request for a portion inside an already mapped portion reuses that mapping.
                if (m.Half == half && (m.Writable || !writable) && m.Contains(offset, bytes))
                {
                    ulong inside = m.Va + (offset - m.AllocationOffset);
                    m.AddReference(inside);
                    return inside;
                }
            }
        }
        if (!space.TryReserve(half, bytes, out ulong va))
            throw new VidMmException(VidMmError.OutOfVirtualAddressSpace, $"no free {half} CPU VA range of 0x{bytes:X} bytes");
        ulong pages = bytes / PageSize;
        (ulong First, ulong Pages)[]? apertureRuns = null;
        if (rec.Location == MemoryLocation.Local)
        {
            try { apertureRuns = Aperture.Map(rec, offset, pages, writable); }
            catch (VidMmException) { space.ReleaseRange(half, va, bytes); throw; }
        }
        int id = space.NextMappingId++;
        // seed 002: mapping modifies page-table entries.
        if (apertureRuns is null)
        {
            for (ulong i = 0; i < pages; i++)
                space.SetEntry(va + i * PageSize, CpuPageTableEntry.System(rec.PhysicalAt(offset + i * PageSize, out _).Offset, writable, id));
        }
        else
        {
            ulong i = 0;
            foreach (var (first, count) in apertureRuns)
                for (ulong k = 0; k < count; k++, i++)
                    space.SetEntry(va + i * PageSize, CpuPageTableEntry.Aperture((first + k) * PageSize, writable, id));
        }
        var mapping = new CpuMapping
        {
            Id = id, Half = half, Va = va, Bytes = bytes, Allocation = allocation, AllocationOffset = offset,
            Writable = writable, ApertureRuns = apertureRuns,
        };
        space.Mappings.Add(id, mapping);
        if (existing is null) space.MappingsByAllocation.Add(allocation, existing = new List<CpuMapping>(1));
        existing.Add(mapping);
        rec.MapCount++;
        // Invariant: a CPU mapping names physical pages, so a managed allocation does not move while one exists.
        if ((rec.Flags & AllocationFlags.Evictable) != 0 && rec.CpuPins++ == 0) ManagedPinChanged?.Invoke(allocation, true);
        return va;
    }

    /// <summary>
    /// Drops the reference a map request handed out at <paramref name="va"/>. The last reference removes the
    /// CPU PTEs (the addresses no longer refer to memory) and the aperture entries behind them.
    /// </summary>
    /// <exception cref="VidMmException"><see cref="VidMmError.NotMapped"/> when no map request returned <paramref name="va"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="space"/> was made by another VideoMemoryManager; nothing changes.</exception>
    public void UnmapFromCpu(CpuAddressSpace space, ulong va)
    {
        var m = FindHandedOut(space, va);
        if (m.Release(va) > 0) return;
        ulong pages = m.Bytes / PageSize;
        for (ulong i = 0; i < pages; i++) space.ClearEntry(m.Va + i * PageSize);
        if (m.ApertureRuns is not null) Aperture.Unmap(m.ApertureRuns);
        space.ReleaseRange(m.Half, m.Va, m.Bytes);
        space.Mappings.Remove(m.Id);
        var list = space.MappingsByAllocation[m.Allocation];
        list.Remove(m);
        if (list.Count == 0) space.MappingsByAllocation.Remove(m.Allocation);
        ref var rec = ref _allocations.Get(m.Allocation);
        rec.MapCount--;
        if ((rec.Flags & AllocationFlags.Evictable) != 0 && --rec.CpuPins == 0) ManagedPinChanged?.Invoke(m.Allocation, false);
    }

    /// <summary>Raised (under the kernel lock) when a managed allocation gets its first CPU mapping (true) or loses its last (false).</summary>
    internal Action<AllocationHandle, bool>? ManagedPinChanged { get; set; }

    /// <summary>True while a residency-managed allocation has a CPU mapping (it is pinned where it is).</summary>
    public bool IsCpuPinned(AllocationHandle handle) => _allocations.Get(handle).CpuPins != 0;

    /// <summary>seed 002: allocate-and-map: allocates from the heap, then maps the whole allocation.</summary>
    /// <returns>The allocation and the CPU address of its first byte.</returns>
    /// <exception cref="ArgumentException"><paramref name="space"/> was made by another VideoMemoryManager; nothing is allocated.</exception>
    public (AllocationHandle Allocation, ulong CpuVa) AllocateAndMap(CpuAddressSpace space, ulong bytes, CpuAddressHalf half,
        PlacementHint placement = PlacementHint.PreferLocal, AllocationFlags flags = AllocationFlags.CpuVisible, ulong alignment = PageSize)
    {
        RequireOwnSpace(space);
        var h = Allocate(bytes, alignment, placement, flags | AllocationFlags.CpuVisible);
        try { return (h, MapToCpu(space, h, 0, bytes, half)); }
        catch (VidMmException) { Free(h); throw; }
    }

    /// <summary>
    /// seed 002: unmap-and-free: unmaps first, then returns the memory to the heap. The reference at
    /// <paramref name="va"/> must be the allocation's last mapping; otherwise nothing changes.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="space"/> was made by another VideoMemoryManager; nothing changes.</exception>
    public void UnmapAndFree(CpuAddressSpace space, ulong va)
    {
        var m = FindHandedOut(space, va);
        ref var rec = ref _allocations.Get(m.Allocation);
        if (m.RefCount != 1 || rec.CallerMapCount != 1)
            throw new VidMmException(VidMmError.StillMapped, $"{m.Allocation} has other mappings or references; unmap them first");
        var h = m.Allocation;
        UnmapFromCpu(space, va);
        Free(h);
    }

    /// <summary>The allocation a CPU address handed out by a map request refers to.</summary>
    /// <exception cref="ArgumentException">The space is another VideoMemoryManager's.</exception>
    public AllocationHandle AllocationAt(CpuAddressSpace space, ulong va) => FindHandedOut(space, va).Allocation;

    /// <summary>Number of distinct CPU mappings (not references) in a space.</summary>
    public static int CpuMappingCount(CpuAddressSpace space) => space.Mappings.Count;

    // Invariant: a VidMm maps into, unmaps from and looks up only the CPU address spaces it made (over its device's memory).
    // Another machine's space holds mappings of that machine's handles and aperture: unmapping one here decremented this
    // machine's allocation of the same index and freed this aperture's entries; mapping into one gave that machine's
    // process a VA onto this machine's memory.
    private void RequireOwnSpace(CpuAddressSpace space)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (!ReferenceEquals(space.Memory, Memory))
            throw new ArgumentException("the CPU address space was made by another VideoMemoryManager (another machine's)", nameof(space));
    }

    private CpuMapping FindHandedOut(CpuAddressSpace space, ulong va)
    {
        RequireOwnSpace(space);
        if (space.TryGetEntry(va, out var e) && space.Mappings.TryGetValue(e.MappingId, out var m) && m.WasHandedOut(va)) return m;
        throw new VidMmException(VidMmError.NotMapped, $"0x{va:X} was not returned by a CPU map request in this address space");
    }
}
