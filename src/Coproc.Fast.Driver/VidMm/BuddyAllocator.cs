using System.Numerics;
using System.Runtime.CompilerServices;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// A binary-buddy allocator over a range of abstract units (4 KiB physical pages of a segment, 4 KiB
/// pages of a virtual address space, aperture pages). Used by segments, GPU and CPU address spaces and
/// the aperture.
/// </summary>
// Design:
// - Free blocks are naturally aligned power-of-two runs of units [start, start + 2^order). Each free block
//   is one node in a pooled array, linked into the doubly linked free list of its order, and indexed by
//   start in a dictionary so the buddy (start ^ 2^order) is found in O(1) when a block is freed.
// - A bit mask of non-empty orders finds the smallest fitting order with one TrailingZeroCount: O(1).
//   Splitting and merging walk at most MaxOrder levels: alloc and free are O(log n) with n = units.
// - Sizes need not be powers of two: a request takes a block of the next order and gives back its tail
//   as aligned blocks; a free decomposes the range into maximal aligned blocks.
// - Coalescing is deferred: a free pushes its blocks without merging (O(1) per block), and buddies are
//   merged in one pass over the free lists only when a request finds no fitting block. Eager merging made
//   a lone alloc/free pair in a huge, empty range (a 2^35-page VA half) split and re-merge ~35 levels every
//   time (~4 µs); deferred, the pair costs O(1). After a pass the free blocks are canonical (no two free
//   buddies), so a request fails only if no free block of order ceil(log2 n) exists in the canonical form.
//   The pass costs O(free blocks) and runs at most once per failed lookup after frees.
// - Fragmentation is bounded: a request of n units wastes nothing (the tail is returned), and a request
//   fails only when no free block of order ceil(log2 n) exists; callers that accept discontiguous memory
//   then gather smaller blocks (GatherBlock).
// - Per-allocation bookkeeping lives with the caller; the allocator keeps only free blocks, so 1 M live
//   allocations cost nothing here and the per-operation cost stays flat.
internal sealed class BuddyAllocator
{
    private struct Node
    {
        public ulong Start;
        public int Order;
        public int Prev;
        public int Next;
    }

    private Node[] _nodes = new Node[64];
    private int _nodeCount;
    private int _freeNodes = -1;
    private readonly int[] _heads;
    private readonly Dictionary<ulong, int> _byStart = new();
    private ulong _nonEmpty;
    private bool _uncoalesced;

    /// <summary>Creates an allocator over [0, units), all free.</summary>
    public BuddyAllocator(ulong units)
    {
        if (units == 0 || units > 1UL << 62) throw new ArgumentOutOfRangeException(nameof(units));
        Units = units;
        MaxOrder = BitOperations.Log2(units);
        _heads = new int[MaxOrder + 1];
        Array.Fill(_heads, -1);
        FreeRange(0, units);
    }

    /// <summary>Units managed.</summary>
    public ulong Units { get; }

    /// <summary>Largest block order that fits.</summary>
    public int MaxOrder { get; }

    /// <summary>Units currently free.</summary>
    public ulong FreeUnits { get; private set; }

    /// <summary>Order of the smallest block holding <paramref name="units"/> units.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int OrderFor(ulong units) => units <= 1 ? 0 : 64 - BitOperations.LeadingZeroCount(units - 1);

    /// <summary>Allocates <paramref name="units"/> contiguous units aligned to 2^<paramref name="alignOrder"/>.</summary>
    public bool TryAllocate(ulong units, int alignOrder, out ulong start)
    {
        int order = Math.Max(OrderFor(units), alignOrder);
        start = 0;
        if (units == 0 || order > MaxOrder) return false;
        ulong candidates = _nonEmpty & ~((1UL << order) - 1);
        if (candidates == 0)
        {
            if (!_uncoalesced) return false;
            Coalesce();
            candidates = _nonEmpty & ~((1UL << order) - 1);
            if (candidates == 0) return false;
        }
        int found = BitOperations.TrailingZeroCount(candidates);
        int node = _heads[found];
        start = _nodes[node].Start;
        Remove(node);
        // Split down, keeping the lower half and freeing upper halves (no merge: their buddies are in use).
        for (int o = found - 1; o >= order; o--) Push(start + (1UL << o), o);
        ulong blockUnits = 1UL << order;
        FreeUnits -= blockUnits;
        if (units < blockUnits) FreeRange(start + units, blockUnits - units);
        return true;
    }

    /// <summary>
    /// Takes the largest free block whose order lies in [<paramref name="minOrder"/>, <paramref name="maxOrder"/>],
    /// whole. Used to gather a discontiguous allocation when no single block fits.
    /// </summary>
    public bool TryTakeLargestBlock(int minOrder, int maxOrder, out ulong start, out int order)
    {
        maxOrder = Math.Min(maxOrder, MaxOrder);
        start = 0; order = 0;
        if (minOrder > maxOrder) return false;
        if (_uncoalesced) Coalesce();
        ulong window = (maxOrder >= 63 ? ulong.MaxValue : (1UL << (maxOrder + 1)) - 1) & ~((1UL << minOrder) - 1);
        ulong candidates = _nonEmpty & window;
        if (candidates == 0) return false;
        order = 63 - BitOperations.LeadingZeroCount(candidates);
        int node = _heads[order];
        start = _nodes[node].Start;
        Remove(node);
        FreeUnits -= 1UL << order;
        return true;
    }

    /// <summary>Allocates exactly [start, start+units) if every unit in it is free; otherwise changes nothing.</summary>
    public bool TryAllocateAt(ulong start, ulong units)
    {
        if (units == 0 || start >= Units || units > Units - start) return false;
        // Pass 1: every aligned piece must lie in a free block (in canonical form: coalesce once if needed).
        if (!AllPiecesFree(start, units))
        {
            if (!_uncoalesced) return false;
            Coalesce();
            if (!AllPiecesFree(start, units)) return false;
        }
        // Pass 2: carve each piece out of its containing block.
        for (ulong s = start, n = units; n > 0;)
        {
            int o = PieceOrder(s, n);
            int node = FindContaining(s, o);
            ulong bStart = _nodes[node].Start;
            int bOrder = _nodes[node].Order;
            Remove(node);
            while (bOrder > o)
            {
                bOrder--;
                ulong half = 1UL << bOrder;
                if (s >= bStart + half) { Push(bStart, bOrder); bStart += half; }
                else Push(bStart + half, bOrder);
            }
            FreeUnits -= 1UL << o;
            s += 1UL << o; n -= 1UL << o;
        }
        return true;
    }

    /// <summary>Returns [start, start+units) to the free pool (buddies are merged lazily). The range must be allocated.</summary>
    public void FreeRange(ulong start, ulong units)
    {
        while (units > 0)
        {
            int o = PieceOrder(start, units);
            Push(start, o);
            FreeUnits += 1UL << o;
            start += 1UL << o; units -= 1UL << o;
        }
        _uncoalesced = true;
    }

    /// <summary>True when the unit is inside some free block.</summary>
    public bool IsFree(ulong unit) => unit < Units && FindContaining(unit, 0) >= 0;

    /// <summary>The free units as maximal (start, length) ranges, sorted. Independent of how blocks are split or merged.</summary>
    public List<(ulong Start, ulong Units)> SnapshotFreeRanges()
    {
        var blocks = new List<(ulong Start, int Order)>(_byStart.Count);
        foreach (var (s, n) in _byStart) blocks.Add((s, _nodes[n].Order));
        blocks.Sort();
        var ranges = new List<(ulong, ulong)>();
        foreach (var (s, o) in blocks)
        {
            if (ranges.Count > 0 && ranges[^1].Item1 + ranges[^1].Item2 == s) ranges[^1] = (ranges[^1].Item1, ranges[^1].Item2 + (1UL << o));
            else ranges.Add((s, 1UL << o));
        }
        return ranges;
    }

    /// <summary>Merges every pair of free buddies, bottom order first so merges cascade upwards.</summary>
    private void Coalesce()
    {
        for (int o = 0; o < MaxOrder; o++)
        {
            int n = _heads[o];
            while (n >= 0)
            {
                int next = _nodes[n].Next;
                ulong start = _nodes[n].Start;
                if (_byStart.TryGetValue(start ^ (1UL << o), out int b) && _nodes[b].Order == o)
                {
                    if (b == next) next = _nodes[b].Next;
                    Remove(n);
                    Remove(b);
                    Push(start & ~(1UL << o), o + 1);
                }
                n = next;
            }
        }
        _uncoalesced = false;
    }

    private bool AllPiecesFree(ulong start, ulong units)
    {
        for (ulong s = start, n = units; n > 0;)
        {
            int o = PieceOrder(s, n);
            if (FindContaining(s, o) < 0) return false;
            s += 1UL << o; n -= 1UL << o;
        }
        return true;
    }

    // Largest aligned power-of-two piece at s that fits in n units.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PieceOrder(ulong s, ulong n)
    {
        int byAlign = s == 0 ? 63 : BitOperations.TrailingZeroCount(s);
        return Math.Min(byAlign, BitOperations.Log2(n));
    }

    private int FindContaining(ulong unit, int minOrder)
    {
        for (int o = minOrder; o <= MaxOrder; o++)
        {
            ulong s = unit & ~((1UL << o) - 1);
            if (_byStart.TryGetValue(s, out int n) && _nodes[n].Order == o) return n;
        }
        return -1;
    }

    private void Push(ulong start, int order)
    {
        int n;
        if (_freeNodes >= 0) { n = _freeNodes; _freeNodes = _nodes[n].Next; }
        else
        {
            if (_nodeCount == _nodes.Length) Array.Resize(ref _nodes, _nodes.Length * 2);
            n = _nodeCount++;
        }
        ref var node = ref _nodes[n];
        node.Start = start;
        node.Order = order;
        node.Prev = -1;
        node.Next = _heads[order];
        if (node.Next >= 0) _nodes[node.Next].Prev = n;
        _heads[order] = n;
        _nonEmpty |= 1UL << order;
        _byStart.Add(start, n);
    }

    private void Remove(int n)
    {
        ref var node = ref _nodes[n];
        if (node.Prev >= 0) _nodes[node.Prev].Next = node.Next;
        else _heads[node.Order] = node.Next;
        if (node.Next >= 0) _nodes[node.Next].Prev = node.Prev;
        if (_heads[node.Order] < 0) _nonEmpty &= ~(1UL << node.Order);
        _byStart.Remove(node.Start);
        node.Next = _freeNodes;
        _freeNodes = n;
    }
}
