using System.Numerics;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// One GPU virtual address space (seed 001 §4.2): reserve / map / unmap / release of VA ranges, with page
/// tables built in emulated memory in the documented format (native-layout.md §3–§5) so the device's MMU
/// walks exactly what is written here. A mapping's VA never changes while it exists. Invalid VAs reach the
/// dummy page or fault, per <see cref="GpuAddressSpaceOptions.FaultOnInvalid"/>.
/// </summary>
// Design: VA ranges come from a BuddyAllocator of 4 KiB VA pages (page 0 is kept reserved so VA 0 is never
// valid). Reservations are indexed by start, and by the aligned power-of-two pieces they decompose into, so
// "which reservation holds this VA" is at most one lookup per order (O(log n)); mappings by start VA. Multi-level tables are single 4 KiB pages created on demand and kept
// until the space is destroyed (VA reuse keeps their number bounded); a whole 2 MiB chunk backed by a
// 2 MiB-aligned physical run is mapped by one level-1 PS entry instead of a level-0 table. The flat table is one contiguous
// power-of-two run, grown (copied and moved) when a mapping reaches past its limit register.
public sealed partial class GpuAddressSpace
{
    private readonly VideoMemoryManager _vidmm;
    private readonly BuddyAllocator _va;
    private readonly Dictionary<ulong, Reservation> _reservations = new();
    private readonly Dictionary<ulong, Reservation> _reservationPieces = new();
    private readonly Dictionary<ulong, Mapping> _mappings = new();
    private readonly List<PhysicalAddress> _tables = new();
    private AddressSpaceDescriptor _descriptor;
    private ulong _flatTablePages;
    private bool _destroyed;

    private sealed class Reservation(ulong start, ulong bytes)
    {
        public readonly ulong Start = start;
        public readonly ulong Bytes = bytes;
        public int Mappings;
        public bool Tiled; // a tiled-resource range: its unmapped pages are the dummy page (GpuAddressSpace.Kernel.cs)
    }

    private readonly record struct Mapping(ulong Bytes, AllocationHandle Allocation, ulong AllocationOffset, ulong ReservationStart, bool OwnsReservation, GpuMappingFlags Flags);

    /// <summary>The VidMm that made this space (whose device walks its page tables).</summary>
    internal VideoMemoryManager Owner => _vidmm;

    /// <summary>
    /// The process whose work runs in this space, once one is known (null before): the process a machine or a run-list
    /// scheduler made it for, or the first process a user queue was asked for in it. Invariant: a space runs the work of
    /// one process only, so one process's queue never reads or writes another process's memory through its page tables
    /// (<see cref="Machine.CreateUserQueue"/> refuses another's). Changed under the kernel lock.
    /// </summary>
    internal uint? ProcessId { get; private set; }

    /// <summary>Records <paramref name="processId"/> as the space's process, or throws when it is another's.</summary>
    /// <exception cref="ArgumentException">The space is another process's.</exception>
    internal void ClaimFor(uint processId, string parameterName)
    {
        if (ProcessId is { } owner && owner != processId)
            throw new ArgumentException($"the GPU address space is process {owner}'s; a process runs only in its own", parameterName);
        ProcessId = processId;
    }

    internal GpuAddressSpace(VideoMemoryManager vidmm, ushort asid, GpuAddressSpaceOptions options)
    {
        _vidmm = vidmm;
        Asid = asid;
        Format = options.Format;
        if (Format == PageTableFormat.Flat)
        {
            if (options.FlatMaxBytes < PageTableLayout.LargePageSize || !BitOperations.IsPow2(options.FlatMaxBytes)
                || options.FlatMaxBytes > PageTableLayout.MaxFlatEntries << PageTableLayout.PageShift)
                throw new VidMmException(VidMmError.RequestTooLarge, $"flat VA space of 0x{options.FlatMaxBytes:X} bytes is not a power of two in [2 MiB, 256 TiB]");
            LimitBytes = options.FlatMaxBytes;
            ulong entries = options.FlatFixedSize ? options.FlatMaxBytes >> PageTableLayout.PageShift : (ulong)PageTableLayout.EntriesPerTable;
            _flatTablePages = Math.Max(1, entries * 8 / VideoMemoryManager.PageSize);
            var table = vidmm.AllocateTablePages(_flatTablePages);
            _descriptor = AddressSpaceDescriptor.Flat(table, entries, asid, options.FaultOnInvalid);
        }
        else if (Format == PageTableFormat.MultiLevel)
        {
            LimitBytes = 1UL << PageTableLayout.MultiLevelVaBits;
            var root = vidmm.AllocateTablePages(1);
            _tables.Add(root);
            _descriptor = AddressSpaceDescriptor.MultiLevel(root, asid, options.FaultOnInvalid);
        }
        else throw new ArgumentOutOfRangeException(nameof(options), options.Format, "unknown page-table format");
        _va = new BuddyAllocator(LimitBytes >> PageTableLayout.PageShift);
        _va.TryAllocateAt(0, 1);
    }

    /// <summary>Address-space id tagging this space's TLB entries.</summary>
    public ushort Asid { get; }

    /// <summary>Page-table format.</summary>
    public PageTableFormat Format { get; }

    /// <summary>Bytes of VA the space can ever hold (2^48 multi-level; the flat maximum).</summary>
    public ulong LimitBytes { get; }

    /// <summary>The descriptor the device uses to walk this space (native-layout.md §5). Changes when a flat table moves.</summary>
    public AddressSpaceDescriptor Descriptor => _descriptor;

    /// <summary>Live mappings.</summary>
    public int MappingCount => _mappings.Count;

    /// <summary>Live reservations.</summary>
    public int ReservationCount => _reservations.Count;

    /// <summary>Pages of memory holding this space's page tables.</summary>
    public ulong TablePages => Format == PageTableFormat.Flat ? _flatTablePages : (ulong)_tables.Count;

    /// <summary>Reserves a free VA range of <paramref name="bytes"/> aligned to <paramref name="alignment"/>; returns its start.</summary>
    public ulong Reserve(ulong bytes, ulong alignment = VideoMemoryManager.PageSize)
    {
        CheckLive();
        CheckSize(bytes);
        if (alignment < VideoMemoryManager.PageSize || !BitOperations.IsPow2(alignment))
            throw new VidMmException(VidMmError.InvalidAlignment, $"alignment 0x{alignment:X} is not a power of two >= 4 KiB");
        if (bytes > LimitBytes)
            throw new VidMmException(VidMmError.BeyondAddressSpaceLimit, $"0x{bytes:X} bytes exceed the 0x{LimitBytes:X}-byte address space");
        int alignOrder = BitOperations.Log2(alignment) - PageTableLayout.PageShift;
        if (!_va.TryAllocate(bytes >> PageTableLayout.PageShift, alignOrder, out ulong page))
            throw new VidMmException(VidMmError.OutOfVirtualAddressSpace, $"no free VA range of 0x{bytes:X} bytes aligned 0x{alignment:X}");
        ulong va = page << PageTableLayout.PageShift;
        AddReservation(va, bytes);
        return va;
    }

    /// <summary>Reserves exactly [va, va+bytes).</summary>
    public void ReserveAt(ulong va, ulong bytes)
    {
        CheckLive();
        CheckSize(bytes);
        if ((va & (VideoMemoryManager.PageSize - 1)) != 0)
            throw new VidMmException(VidMmError.UnalignedOffset, $"VA 0x{va:X} is not 4 KiB aligned");
        if (va >= LimitBytes || bytes > LimitBytes - va)
            throw new VidMmException(VidMmError.BeyondAddressSpaceLimit, $"[0x{va:X}, +0x{bytes:X}) passes the 0x{LimitBytes:X}-byte limit");
        if (!_va.TryAllocateAt(va >> PageTableLayout.PageShift, bytes >> PageTableLayout.PageShift))
            throw new VidMmException(VidMmError.AlreadyReserved, $"[0x{va:X}, +0x{bytes:X}) overlaps a reserved range");
        AddReservation(va, bytes);
    }

    /// <summary>Releases a reservation made by <see cref="Reserve"/> or <see cref="ReserveAt"/>; it must hold no mapping.</summary>
    public void Release(ulong va)
    {
        CheckLive();
        if (!_reservations.TryGetValue(va, out var r))
            throw new VidMmException(VidMmError.NotReserved, $"0x{va:X} is not the start of a reservation");
        if (r.Mappings != 0)
            throw new VidMmException(VidMmError.StillMapped, $"reservation 0x{va:X} still holds {r.Mappings} mapping(s)");
        if (r.Tiled) ReleaseTiled(r);
        RemoveReservation(r);
    }

    /// <summary>
    /// Maps [<paramref name="allocationOffset"/>, +<paramref name="bytes"/>) of an allocation at <paramref name="va"/>,
    /// which must lie in one reservation and not be mapped yet. Writes the leaf PTEs (creating tables as
    /// needed); on any error nothing is changed. Returns <paramref name="va"/>.
    /// </summary>
    public ulong Map(ulong va, AllocationHandle allocation, ulong allocationOffset, ulong bytes, GpuMappingFlags flags = GpuMappingFlags.Writable) =>
        MapCore(va, allocation, allocationOffset, bytes, flags, null);

    /// <summary>
    /// Like <see cref="Map"/>, but the leaf PTEs are not written: their writes go to <paramref name="deferred"/> (for
    /// the paging queue's UPDATE_PAGE_TABLE packets) and the entries get the map-pending software bit meanwhile, so
    /// the device still sees them invalid and a second map of the same VA is refused. Never uses 2 MiB entries.
    /// </summary>
    internal ulong MapDeferred(ulong va, AllocationHandle allocation, ulong allocationOffset, ulong bytes, GpuMappingFlags flags, PteWriteList deferred) =>
        MapCore(va, allocation, allocationOffset, bytes, flags, deferred);

    private ulong MapCore(ulong va, AllocationHandle allocation, ulong allocationOffset, ulong bytes, GpuMappingFlags flags, PteWriteList? deferred)
    {
        CheckLive();
        ref var rec = ref _vidmm.Allocations.Get(allocation);
        VideoMemoryManager.ValidateRange(rec, allocation, allocationOffset, bytes);
        if ((va & (VideoMemoryManager.PageSize - 1)) != 0)
            throw new VidMmException(VidMmError.UnalignedOffset, $"VA 0x{va:X} is not 4 KiB aligned");
        if (va >= LimitBytes || bytes > LimitBytes - va)
            throw new VidMmException(VidMmError.BeyondAddressSpaceLimit, $"[0x{va:X}, +0x{bytes:X}) passes the 0x{LimitBytes:X}-byte limit");
        var res = FindReservation(va);
        if (res is null || va + bytes > res.Start + res.Bytes)
            throw new VidMmException(VidMmError.NotReserved, $"[0x{va:X}, +0x{bytes:X}) is not inside one reservation");
        ulong pages = bytes >> PageTableLayout.PageShift;
        if (AnyMapped(va, pages, deferred is not null))
            throw new VidMmException(VidMmError.AlreadyMapped, $"part of [0x{va:X}, +0x{bytes:X}) is already mapped");
        EnsureTables(va, pages, rec, allocationOffset, allowLargePages: deferred is null);
        if (deferred is null) WriteLeaves(va, pages, rec, allocationOffset, flags);
        else CollectLeaves(va, pages, rec, allocationOffset, flags, deferred);
        rec.MapCount++;
        res.Mappings++;
        _mappings.Add(va, new Mapping(bytes, allocation, allocationOffset, res.Start, false, flags));
        // An evictable allocation moves; remember where it is mapped so the move rewrites these PTEs (seed 001 §4.2).
        if ((rec.Flags & AllocationFlags.Evictable) != 0) (rec.GpuMappings ??= new(2)).Add(new GpuMappingRef(this, va));
        return va;
    }

    /// <summary>Reserves a range for the whole allocation and maps it there; the VA stays valid until <see cref="UnmapAllocation"/>.</summary>
    public ulong MapAllocation(AllocationHandle allocation, GpuMappingFlags flags = GpuMappingFlags.Writable)
    {
        CheckLive();
        ref var rec = ref _vidmm.Allocations.Get(allocation);
        ulong va = Reserve(rec.Size, Math.Min(rec.Alignment, PageTableLayout.LargePageSize));
        try { Map(va, allocation, 0, rec.Size, flags); }
        catch { Release(va); throw; }
        var m = _mappings[va];
        _mappings[va] = m with { OwnsReservation = true };
        return va;
    }

    /// <summary>Unmaps the mapping that starts at <paramref name="va"/>: clears its PTEs and invalidates TLBs through MMIO.</summary>
    public void Unmap(ulong va)
    {
        UnmapCore(va, null);
    }

    /// <summary>
    /// Like <see cref="Unmap"/>, but the PTEs keep translating until the zero entries and the TLB flush gathered in
    /// <paramref name="deferred"/> run on the device; meanwhile they carry the unmap-pending software bit, so the VA
    /// may be mapped again (that map's writes queue behind these).
    /// </summary>
    internal void UnmapDeferred(ulong va, PteWriteList deferred) => UnmapCore(va, deferred);

    private void UnmapCore(ulong va, PteWriteList? deferred)
    {
        CheckLive();
        if (!_mappings.Remove(va, out var m))
            throw new VidMmException(VidMmError.NotMapped, $"0x{va:X} is not the start of a GPU mapping in ASID {Asid}");
        ulong pages = m.Bytes >> PageTableLayout.PageShift;
        // In a tiled-resource range an unmapped page goes back to the dummy page (reads zero), not to invalid.
        var res = _reservations[m.ReservationStart];
        if (deferred is null)
        {
            ClearLeaves(va, pages, res.Tiled ? PageTableEntry.Dummy.Raw : 0);
            MmuRegisters.InvalidateRange(_vidmm.Bus, Asid, va, pages);
        }
        else CollectClear(va, pages, deferred, res.Tiled ? PageTableEntry.Dummy.Raw : 0);
        ref var rec = ref _vidmm.Allocations.Get(m.Allocation);
        rec.MapCount--;
        rec.GpuMappings?.Remove(new GpuMappingRef(this, va));
        res.Mappings--;
        if (m.OwnsReservation) RemoveReservation(res);
    }

    /// <summary>Unmaps a mapping made by <see cref="MapAllocation"/> and releases its VA range.</summary>
    public void UnmapAllocation(ulong va) => Unmap(va);

    /// <summary>True when a mapping starts at <paramref name="va"/>.</summary>
    public bool IsMappingStart(ulong va) => _mappings.ContainsKey(va);

    /// <summary>Unmaps everything, frees the page tables and returns the ASID. The space is unusable afterwards.</summary>
    public void Destroy()
    {
        if (_destroyed) return;
        foreach (var va in _mappings.Keys.ToArray()) Unmap(va);
        MmuRegisters.InvalidateRange(_vidmm.Bus, Asid, 0, 0);
        if (Format == PageTableFormat.Flat) _vidmm.FreeTablePages(_descriptor.Root, _flatTablePages);
        foreach (var t in _tables) _vidmm.FreeTablePages(t, 1);
        _tables.Clear();
        _destroyed = true;
        _vidmm.ReturnAsid(Asid);
    }

    private void AddReservation(ulong va, ulong bytes)
    {
        var r = new Reservation(va, bytes);
        _reservations.Add(va, r);
        IndexPieces(r, add: true);
    }

    private void RemoveReservation(Reservation r)
    {
        _reservations.Remove(r.Start);
        IndexPieces(r, add: false);
        _va.FreeRange(r.Start >> PageTableLayout.PageShift, r.Bytes >> PageTableLayout.PageShift);
    }

    private Reservation? FindReservation(ulong va)
    {
        if (_reservations.TryGetValue(va, out var exact)) return exact;
        ulong page = va >> PageTableLayout.PageShift;
        for (int order = 0; order <= _va.MaxOrder; order++)
            if (_reservationPieces.TryGetValue(PieceKey(page & ~((1UL << order) - 1), order), out var r)) return r;
        return null;
    }

    private static ulong PieceKey(ulong page, int order) => (page << 6) | (uint)order;

    // Adds or removes the maximal aligned power-of-two pieces of the reservation in the piece index.
    private void IndexPieces(Reservation r, bool add)
    {
        for (ulong page = r.Start >> PageTableLayout.PageShift, n = r.Bytes >> PageTableLayout.PageShift; n > 0;)
        {
            int order = Math.Min(page == 0 ? 63 : BitOperations.TrailingZeroCount(page), BitOperations.Log2(n));
            if (add) _reservationPieces.Add(PieceKey(page, order), r);
            else _reservationPieces.Remove(PieceKey(page, order));
            page += 1UL << order;
            n -= 1UL << order;
        }
    }

    private void CheckLive()
    {
        if (_destroyed) throw new VidMmException(VidMmError.AddressSpaceReleased, $"GPU address space ASID {Asid} was destroyed");
    }

    private static void CheckSize(ulong bytes)
    {
        if (bytes == 0 || (bytes & (VideoMemoryManager.PageSize - 1)) != 0)
            throw new VidMmException(VidMmError.UnalignedSize, $"size 0x{bytes:X} is not a non-zero multiple of 4 KiB");
    }
}
