using System.Numerics;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm.Residency;

/// <summary>
/// VidMm's residency manager (seed 001 §3.5–§3.6, §5.3, §5.5): <b>managed</b> allocations that live in a
/// system-memory backing store and, while resident, in local memory — one extent when a free block fits, else several
/// (discontiguous residency, reached through the page tables; docs/memory.md); making a DMA buffer's
/// resource set resident by paging in, evicting least-recently-used allocations (the current context's first) and
/// relocating to defragment; the command list of those moves and its paging buffer; patch addresses in the
/// <see cref="KernelViewSpace"/>. Allocations made with <see cref="VideoMemoryManager.Allocate"/> are pinned and never
/// move. Not thread-safe: the caller holds the kernel lock, like the rest of VidMm.
/// </summary>
// Design:
// - State per managed allocation lives in _m, indexed by the handle's slot (AllocationTable index), so every lookup
//   is O(1). VideoMemoryManager's record is kept equal to the allocation's current home (local extent while resident,
//   backing store otherwise), so PhysicalAddressOf / ExtentsOf / GPU mappings always see the truth.
// - LRU: two intrusive doubly linked lists through _m — one per context (keyed by the context that used the
//   allocation last) and one global. Head = least recently used. Touch = unlink + append: O(1) (+ one dictionary
//   lookup for the context's list). Victim choice walks the current context's list, then the global list, each with a
//   cursor that never goes back, skipping members of the set being made resident: O(victims + set) per request.
// - MakeResident plans first and commits after: every change to the local segment (and to the page-owner map used by
//   compaction) is logged in an undo log, so a request that cannot be satisfied restores the exact previous state
//   (seed: DoesNotFit changes nothing). Commit then applies the plan to the records and the LRU lists and appends the
//   PagingOperations in plan order.
// - Memory a recorded move vacates stays allocated, "in transit", until the device has executed the move; only the
//   planner (whose paging is ordered after it) places into it at once (ResidencyManager.InTransit.cs).
public sealed partial class ResidencyManager : IResidencyManager
{
    private readonly VideoMemoryManager _vidmm;
    private readonly List<PhysicalExtent> _scratch = new(2);
    private Managed[] _m = new Managed[64];
    private ulong _residentBytes;
    private ulong _cpuPinnedResidentBytes;
    private ulong _epoch;

    private struct Managed
    {
        public AllocationHandle Handle;
        public bool Live;
        public ulong Bytes;
        public ulong Alignment;
        public PhysicalExtent Backing;
        public LocalHome Local;
        public bool Resident;
        public int LastContext;
        public int CPrev, CNext, GPrev, GNext;
        public ulong SetEpoch;
        public ulong PlanEpoch;
        public bool PlanResident;
        public LocalHome PlanLocal;
        public PhysicalAddress PagingFence; // the paging fence and value of the last buffer that moves it (InTransit.cs)
        public ulong PagingValue;           // 0: none recorded; ulong.MaxValue: recorded, its paging buffer not built yet
    }

    /// <summary>Creates the residency manager over VidMm, building the kernel view of physical memory.</summary>
    public ResidencyManager(VideoMemoryManager vidmm)
    {
        _vidmm = vidmm ?? throw new ArgumentNullException(nameof(vidmm));
        View = new KernelViewSpace(vidmm);
        _owner = new int[vidmm.Local.SizeBytes >> 12];
        vidmm.ManagedPinChanged = OnCpuPinChanged;
        vidmm.RetireInTransit = () => RetireInTransit() != 0;
    }

    /// <summary>VidMm underneath.</summary>
    public VideoMemoryManager VideoMemory => _vidmm;

    /// <summary>The kernel view (its space and VA bases).</summary>
    public KernelViewSpace View { get; }

    /// <inheritdoc />
    public AddressSpaceDescriptor KernelView => View.Descriptor;

    /// <inheritdoc />
    /// <remarks>Local memory not held by pinned allocations: free bytes, local memory in transit (only paging may reuse
    /// it, <see cref="InTransitBytes"/>) and bytes of resident managed allocations that may move (a CPU-mapped one may
    /// not, <see cref="VideoMemoryManager.MapToCpu"/>).</remarks>
    public ulong ResidentBudget =>
        _vidmm.Local.FreeBytes + (_inTransitReleased ? 0 : _inTransitLocalBytes) + _residentBytes - _cpuPinnedResidentBytes;

    /// <summary>Bytes of managed allocations currently resident in local memory.</summary>
    public ulong ResidentBytes => _residentBytes;

    /// <summary>Live managed allocations.</summary>
    public int ManagedCount { get; private set; }

    /// <summary>
    /// Creates a managed (evictable) allocation of <paramref name="bytes"/>: a zeroed, contiguous backing store in
    /// system memory; not resident until a <see cref="MakeResident"/> pages it in. Allocations totalling more than local
    /// memory can therefore exist (oversubscription). <paramref name="ownerContextId"/> is the context whose working
    /// set it joins first.
    /// </summary>
    /// <exception cref="VidMmException">Bad size or alignment, larger than local memory, or no room for the backing store.</exception>
    public AllocationHandle CreateAllocation(ulong bytes, int ownerContextId, ulong alignment = VideoMemoryManager.PageSize)
    {
        if (bytes == 0 || (bytes & (VideoMemoryManager.PageSize - 1)) != 0)
            throw new VidMmException(VidMmError.UnalignedSize, $"size 0x{bytes:X} is not a non-zero multiple of 4 KiB");
        if (alignment < VideoMemoryManager.PageSize || !BitOperations.IsPow2(alignment))
            throw new VidMmException(VidMmError.InvalidAlignment, $"alignment 0x{alignment:X} is not a power of two >= 4 KiB");
        if (bytes > _vidmm.Local.SizeBytes)
            throw new VidMmException(VidMmError.RequestTooLarge, $"0x{bytes:X} bytes can never be resident in 0x{_vidmm.Local.SizeBytes:X} bytes of local memory");
        RetireInTransit();
        _scratch.Clear();
        if (_vidmm.System.TryAllocate(bytes, VideoMemoryManager.PageSize, contiguous: true, _scratch) is { } e)
            throw new VidMmException(e, $"no contiguous backing store of 0x{bytes:X} bytes in system memory");
        var backing = _scratch[0];
        ClearMemory(backing);
        var h = _vidmm.AddManaged(bytes, alignment, backing);
        if (h.Index >= _m.Length) Array.Resize(ref _m, Math.Max(_m.Length * 2, h.Index + 1));
        _m[h.Index] = new Managed
        {
            Handle = h, Live = true, Bytes = bytes, Alignment = alignment, Backing = backing, LastContext = ownerContextId,
            CPrev = -1, CNext = -1, GPrev = -1, GNext = -1,
        };
        ManagedCount++;
        return h;
    }

    /// <summary>Destroys a managed allocation (it must have no GPU or CPU mapping): frees its local extent and backing store
    /// (once its recorded paging has executed: until then they are memory in transit, <see cref="InTransitBytes"/>).</summary>
    /// <exception cref="VidMmException">Stale handle, a pinned allocation, or still mapped; nothing changes.</exception>
    public void DestroyAllocation(AllocationHandle handle)
    {
        int s = Slot(handle);
        if (_vidmm.MapCountOf(handle) != 0) // the kernel alias, if any, is not counted: RemoveManaged drops it
            throw new VidMmException(VidMmError.StillMapped, $"{handle} still has {_vidmm.MapCountOf(handle)} mapping(s)");
        ref var m = ref _m[s];
        // A page-in still to copy into its local home, or an eviction still to copy into its backing store, would write
        // memory handed to someone else meanwhile (InTransit.cs invariant).
        bool pending = PagingPending(s);
        ulong tag = m.PagingValue == ulong.MaxValue ? 0 : m.PagingValue;
        if (m.Resident)
        {
            Unlink(s);
            for (int i = 0; i < m.Local.Count; i++)
            {
                if (pending) HoldInTransit(m.Local[i], m.PagingFence, tag);
                else _vidmm.Local.Free(m.Local[i]);
                SetOwnerRaw(m.Local[i], 0);
            }
            _residentBytes -= m.Bytes;
        }
        if (pending) HoldInTransit(m.Backing, m.PagingFence, tag);
        else _vidmm.System.Free(m.Backing);
        _vidmm.RemoveManaged(handle);
        m = default;
        ManagedCount--;
    }

    /// <summary>True when <paramref name="handle"/> is a live managed allocation.</summary>
    public bool IsManaged(AllocationHandle handle) =>
        _vidmm.IsLive(handle) && (uint)handle.Index < (uint)_m.Length && _m[handle.Index].Live && _m[handle.Index].Handle == handle;

    /// <summary>True when the managed allocation is resident in local memory (per the bookkeeping).</summary>
    public bool IsResident(AllocationHandle handle) => _m[Slot(handle)].Resident;

    /// <summary>The backing store of a managed allocation in system memory.</summary>
    public PhysicalExtent BackingOf(AllocationHandle handle) => _m[Slot(handle)].Backing;

    /// <summary>The context whose working set holds the allocation (the last one that used it).</summary>
    public int WorkingSetOf(AllocationHandle handle) => _m[Slot(handle)].LastContext;

    /// <inheritdoc />
    /// <remarks>Counts managed allocations only: pinned ones never move and are already outside <see cref="ResidentBudget"/>.</remarks>
    public ulong FootprintOf(ReadOnlySpan<ResourceReference> resources)
    {
        ulong epoch = ++_epoch, bytes = 0;
        foreach (var r in resources)
        {
            if (!TryManagedSlot(r.Handle, out int s)) continue; // pinned: always reachable, outside the budget
            if (_m[s].SetEpoch == epoch) continue;
            _m[s].SetEpoch = epoch;
            if (IsCpuPinned(s)) continue; // used where it is pinned: outside the budget, like a pinned allocation
            bytes += _m[s].Bytes;
        }
        return bytes;
    }

    /// <inheritdoc />
    public void Touch(ReadOnlySpan<ResourceReference> resources, int contextId)
    {
        foreach (var r in resources)
            if (TryManagedSlot(r.Handle, out int s) && _m[s].Resident) MoveToMostRecent(s, contextId);
    }

    /// <inheritdoc />
    /// <remarks>Linear from there to the allocation's end even when it lies in several physical extents (the kernel-view
    /// alias, <see cref="KernelViewSpace.AddressOf"/>), so an operand never runs on into memory the allocation does not own.</remarks>
    public ulong PatchAddress(AllocationHandle handle, ulong offset) => View.AddressOf(handle, offset);

    /// <summary>
    /// Evicts one resident managed allocation (the paging queue's evict service): appends its Evict operations (one per
    /// local extent); its local memory is in transit until the paging buffer built from them has executed
    /// (<see cref="InTransitBytes"/>). Returns false (nothing appended) when it is not resident or is pinned by a CPU mapping.
    /// </summary>
    public bool Evict(AllocationHandle handle, List<PagingOperation> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        int s = Slot(handle);
        ref var m = ref _m[s];
        if (!m.Resident || IsCpuPinned(s)) return false;
        var local = m.Local;
        for (int i = 0; i < local.Count; i++)
        {
            HoldInTransit(local[i], default, 0); // the eviction's COPY still reads it
            SetOwnerRaw(local[i], 0);
        }
        ApplyEvicted(s);
        AddEvictOperations(commands, s, local);
        return true;
    }

    private int Slot(AllocationHandle handle)
    {
        if (TryManagedSlot(handle, out int s)) return s;
        _vidmm.SizeOf(handle); // throws InvalidHandle for a dead handle
        throw new VidMmException(VidMmError.NotManaged, $"{handle} is pinned, not residency-managed");
    }

    private bool TryManagedSlot(AllocationHandle handle, out int slot)
    {
        slot = handle.Index;
        if (IsManaged(handle)) return true;
        if (!_vidmm.IsLive(handle))
            throw new VidMmException(VidMmError.InvalidHandle, $"{handle} is not a live allocation (never allocated, already freed or stale)");
        return false;
    }

    private bool IsCpuPinned(int s) => _vidmm.Allocations.Get(_m[s].Handle).CpuPins != 0;

    // A CPU-mapped allocation stays where it is; its resident bytes leave the budget the sets compete for.
    private void OnCpuPinChanged(AllocationHandle handle, bool pinned)
    {
        if (!IsManaged(handle) || !_m[handle.Index].Resident) return;
        if (pinned) _cpuPinnedResidentBytes += _m[handle.Index].Bytes;
        else _cpuPinnedResidentBytes -= _m[handle.Index].Bytes;
    }

    private void ApplyEvicted(int s)
    {
        NotePriorPaging(s); // every eviction reads the allocation after its last paging, on any channel (Order.cs)
        ref var m = ref _m[s];
        Unlink(s);
        m.Resident = false;
        m.Local = default;
        m.PagingValue = ulong.MaxValue;
        _residentBytes -= m.Bytes;
        _vidmm.MoveManaged(m.Handle, m.Backing, null);
    }

    // One Evict per local piece, each back to the same offset of the backing store. Post: free the local range and
    // unlock the backing pages once the copy is done (seed 001 §3.6, Fig. 8).
    private void AddEvictOperations(List<PagingOperation> commands, int s, LocalHome from)
    {
        ref var m = ref _m[s];
        ulong offset = 0;
        for (int i = 0; i < from.Count; i++)
        {
            var piece = from[i];
            commands.Add(new PagingOperation(PagingOperationKind.Evict, m.Handle, piece.Address, m.Backing.Address.Add(offset), piece.Bytes,
                false, true, offset));
            offset += piece.Bytes;
        }
    }

    private void ClearMemory(PhysicalExtent e)
    {
        for (ulong done = 0; done < e.Bytes;)
        {
            int n = (int)Math.Min(e.Bytes - done, 1UL << 30);
            _vidmm.Memory.GetSpan(e.Address.Add(done), n).Clear();
            done += (ulong)n;
        }
    }
}
