using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// One physical memory VidMm allocates from: local video memory, or system memory reached through GPU page
/// tables. Page granular (4 KiB), backed by a <see cref="BuddyAllocator"/>, so alignment up to the segment
/// size (64 KiB, 2 MiB, …) costs nothing extra.
/// </summary>
public sealed class MemorySegment
{
    /// <summary>Most extents a discontiguous allocation may be gathered from.</summary>
    public const int MaxExtents = 64;

    private readonly BuddyAllocator _pages;
    // One bit per page: freed at least once since power-on (it may hold a former owner's bytes). Pages never handed out
    // are still the zeros the memory was allocated with, so clearing them for a new owner would only cost page faults.
    private readonly ulong[] _reused;

    internal MemorySegment(MemoryLocation location, ulong bytes)
    {
        Location = location;
        SizeBytes = bytes & ~(Page - 1);
        _pages = new BuddyAllocator(SizeBytes >> PageShift);
        _reused = new ulong[((SizeBytes >> PageShift) + 63) / 64];
    }

    internal const ulong Page = 4096;
    internal const int PageShift = 12;

    /// <summary>Local or system.</summary>
    public MemoryLocation Location { get; }

    /// <summary>Bytes managed.</summary>
    public ulong SizeBytes { get; }

    /// <summary>Bytes free.</summary>
    public ulong FreeBytes => _pages.FreeUnits << PageShift;

    internal BuddyAllocator Pages => _pages;

    /// <summary>
    /// Allocates <paramref name="bytes"/> (page multiple) aligned to <paramref name="alignment"/> into
    /// <paramref name="extents"/>: one extent when possible; several (each aligned) when
    /// <paramref name="contiguous"/> is false and no single block fits. On failure nothing changes.
    /// </summary>
    internal VidMmError? TryAllocate(ulong bytes, ulong alignment, bool contiguous, List<PhysicalExtent> extents)
    {
        ulong pages = bytes >> PageShift;
        int alignOrder = System.Numerics.BitOperations.Log2(alignment) - PageShift;
        if (_pages.TryAllocate(pages, alignOrder, out ulong start))
        {
            extents.Add(new PhysicalExtent(new PhysicalAddress(Location, start << PageShift), bytes));
            return null;
        }
        var outOfMemory = Location == MemoryLocation.Local ? VidMmError.OutOfLocalMemory : VidMmError.OutOfSystemMemory;
        if (contiguous || _pages.FreeUnits < pages) return outOfMemory;
        // seed 002: portions need not be contiguous; gather the largest aligned blocks, largest first, so an
        // allocation has at most a few extents.
        ulong remaining = pages;
        int first = extents.Count;
        while (remaining > 0)
        {
            if (extents.Count - first == MaxExtents) { Rollback(extents, first); return VidMmError.TooFragmented; }
            int want = Math.Max(BuddyAllocator.OrderFor(remaining), alignOrder);
            if (_pages.TryAllocate(remaining, alignOrder, out start))
            {
                extents.Add(new PhysicalExtent(new PhysicalAddress(Location, start << PageShift), remaining << PageShift));
                return null;
            }
            if (!_pages.TryTakeLargestBlock(alignOrder, want - 1, out start, out int order))
            {
                Rollback(extents, first);
                return outOfMemory;
            }
            ulong got = Math.Min(1UL << order, remaining);
            if (got < 1UL << order) _pages.FreeRange(start + got, (1UL << order) - got);
            extents.Add(new PhysicalExtent(new PhysicalAddress(Location, start << PageShift), got << PageShift));
            remaining -= got;
        }
        return null;
    }

    internal void Free(PhysicalExtent extent)
    {
        ulong first = extent.Address.Offset >> PageShift, n = extent.Bytes >> PageShift;
        for (ulong p = first; p < first + n; p++) _reused[p >> 6] |= 1UL << (int)(p & 63);
        _pages.FreeRange(first, n);
    }

    /// <summary>
    /// Zeroes, on the CPU, the pages of <paramref name="extent"/> (just allocated) that a former owner may have written,
    /// so a new owner never reads another's bytes. Only for memory no unexecuted paging operation still touches (the
    /// free pool; memory in transit never comes here). Returns the bytes cleared.
    /// </summary>
    internal ulong ClearReused(DeviceMemory memory, PhysicalExtent extent)
    {
        ulong cleared = 0;
        ulong first = extent.Address.Offset >> PageShift, end = first + (extent.Bytes >> PageShift);
        for (ulong p = first; p < end;)
        {
            if ((_reused[p >> 6] & (1UL << (int)(p & 63))) == 0) { p++; continue; }
            ulong run = p;
            while (run < end && (_reused[run >> 6] & (1UL << (int)(run & 63))) != 0)
            {
                _reused[run >> 6] &= ~(1UL << (int)(run & 63));
                run++;
            }
            for (ulong at = p; at < run;)
            {
                ulong pages = Math.Min(run - at, 1UL << 18); // 1 GiB per span
                memory.GetSpan(new PhysicalAddress(Location, at << PageShift), (int)(pages << PageShift)).Clear();
                at += pages;
            }
            cleared += (run - p) << PageShift;
            p = run;
        }
        return cleared;
    }

    private void Rollback(List<PhysicalExtent> extents, int first)
    {
        for (int i = extents.Count - 1; i >= first; i--) Free(extents[i]);
        extents.RemoveRange(first, extents.Count - first);
    }
}
