using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>One GPU mapping of an allocation: the address space and the mapping's start VA.</summary>
internal readonly record struct GpuMappingRef(GpuAddressSpace Space, ulong Va);

/// <summary>Bookkeeping of one allocation, stored by value in <see cref="AllocationTable"/>.</summary>
internal struct AllocationRecord
{
    public uint Generation;
    public bool Live;
    public ulong Size;
    public ulong Alignment;
    public AllocationFlags Flags;
    public PlacementHint Placement;
    public MemoryLocation Location;
    public PhysicalExtent First;
    public PhysicalExtent[]? More;
    public int ExtentCount;
    public int MapCount;
    public int NextFree;
    /// <summary>GPU mappings of an evictable allocation (space, start VA), so a move can rewrite their PTEs (seed 001 §4.2).</summary>
    public List<GpuMappingRef>? GpuMappings;
    /// <summary>
    /// Start VA of the allocation's alias in the kernel view (0 = none): a linear VA range whose PTEs point at the
    /// extents in order, created the first time an evictable allocation or one in several extents is patched into a DMA buffer. It is
    /// one of the mappings counted in <see cref="MapCount"/> (and, for an evictable allocation, in
    /// <see cref="GpuMappings"/>, so moves retarget it); it dies with the allocation.
    /// </summary>
    public ulong KernelAliasVa;
    /// <summary>CPU mappings (not references) of a residency-managed allocation: while non-zero it is pinned where it is.</summary>
    public int CpuPins;

    /// <summary>Mappings other than the kernel alias (what a caller must undo before freeing).</summary>
    public readonly int CallerMapCount => MapCount - (KernelAliasVa != 0 ? 1 : 0);

    public readonly PhysicalExtent Extent(int i) => i == 0 ? First : More![i - 1];

    /// <summary>The physical address of byte <paramref name="offset"/> and how many bytes follow it contiguously.</summary>
    public readonly PhysicalAddress PhysicalAt(ulong offset, out ulong contiguous)
    {
        for (int i = 0; i < ExtentCount; i++)
        {
            var e = Extent(i);
            if (offset < e.Bytes)
            {
                contiguous = e.Bytes - offset;
                return e.Address.Add(offset);
            }
            offset -= e.Bytes;
        }
        throw new InvalidOperationException("offset past the allocation (checked by the caller)");
    }
}

/// <summary>
/// Slots of allocation records indexed by <see cref="AllocationHandle.Index"/>; freed slots go on a free
/// list and bump their generation, so lookups are O(1) and stale handles are caught (no dictionary, no
/// per-allocation heap object for single-extent allocations: 1 M live allocations stay flat in cost).
/// </summary>
internal sealed class AllocationTable
{
    private AllocationRecord[] _slots = new AllocationRecord[256];
    private int _used;
    private int _freeHead = -1;

    public int LiveCount { get; private set; }

    public AllocationHandle Add(in AllocationRecord record)
    {
        int i;
        if (_freeHead >= 0) { i = _freeHead; _freeHead = _slots[i].NextFree; }
        else
        {
            if (_used == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
            i = _used++;
        }
        uint gen = _slots[i].Generation + 1;
        if (gen == 0) gen = 1;
        _slots[i] = record;
        _slots[i].Generation = gen;
        _slots[i].Live = true;
        _slots[i].NextFree = -1;
        LiveCount++;
        return new AllocationHandle(i, gen);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsLive(AllocationHandle h) =>
        (uint)h.Index < (uint)_used && _slots[h.Index].Live && _slots[h.Index].Generation == h.Generation;

    /// <summary>The live record behind a handle; throws <see cref="VidMmError.InvalidHandle"/> otherwise.</summary>
    public ref AllocationRecord Get(AllocationHandle h)
    {
        if (!IsLive(h)) ThrowInvalid(h);
        return ref _slots[h.Index];
    }

    public void Remove(AllocationHandle h)
    {
        ref var r = ref Get(h);
        r.Live = false;
        r.More = null;
        r.GpuMappings = null;
        r.NextFree = _freeHead;
        _freeHead = h.Index;
        LiveCount--;
    }

    public IEnumerable<AllocationHandle> LiveHandles()
    {
        for (int i = 0; i < _used; i++)
            if (_slots[i].Live) yield return new AllocationHandle(i, _slots[i].Generation);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalid(AllocationHandle h) =>
        throw new VidMmException(VidMmError.InvalidHandle, $"{h} is not a live allocation (never allocated, already freed or stale)");
}
