using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm.Paging;

/// <summary>
/// Where the paging queue writes its paging buffers: one pinned local region, allocated once, used as a ring of
/// buffers. A buffer is free again once the paging ring's ReadPtr has passed the INDIRECT that names it — the device
/// retires an INDIRECT only after the last packet of its DMA buffer (native-layout.md §10.2), so the device never
/// reads a buffer being overwritten. The arena never allocates after construction: a buffer larger than its free room
/// waits, or is written in pieces (<see cref="PagingRingWriter"/>), so steady state allocates nothing and no request
/// for room can be refused by VidMm.
/// </summary>
// Design: buffers are taken in ring order and the device retires INDIRECTs in ring order, so the live ones form one
// FIFO; the free space is [head, tail) circularly, tail = start of the oldest live buffer. A buffer never wraps: when
// the end of the region is too short, it starts again at 0 (the skipped tail is reclaimed with the buffer before it).
// Retirement is keyed on the ring position, not on a fence value: the paging buffer's last fence may be followed by
// ENABLE_CONTEXT_SWITCH (native-layout.md §14.4), and a piece of a split buffer writes no fence value of its own.
internal sealed class PagingBufferArena
{
    /// <summary>Smallest region: one page (the largest packet a paging buffer cannot split is 7 dwords, native-layout.md §8).</summary>
    public const ulong MinimumBytes = VideoMemoryManager.PageSize;

    private const ulong Align = 64; // co-aligned to cache lines (docs/performance.md: avoid 4 KiB aliasing offsets)
    private readonly VideoMemoryManager _vidmm;
    private readonly PhysicalAddress _base;
    private readonly ulong _bytes;
    private readonly Queue<(ulong Offset, ulong RingEnd)> _live = new();
    private ulong _head;
    private ulong _takenOffset, _takenEnd;

    // `residency` names the arena in its kernel view: the paging ring's INDIRECTs run there (one contiguous extent, so
    // the view reaches it linearly from its first byte).
    public PagingBufferArena(VideoMemoryManager vidmm, ulong bytes, Residency.IResidencyManager residency, PlacementHint placement = PlacementHint.PreferLocal)
    {
        _vidmm = vidmm;
        _bytes = bytes & ~(Align - 1);
        Allocation = vidmm.Allocate(bytes, VideoMemoryManager.PageSize, placement, AllocationFlags.Contiguous);
        _base = vidmm.PhysicalAddressOf(Allocation, 0);
        _kernelVa = residency.PatchAddress(Allocation, 0);
    }

    private readonly ulong _kernelVa;

    /// <summary>The kernel-view VA of <paramref name="at"/>, an address <see cref="Take"/> returned.</summary>
    public ulong VaOf(PhysicalAddress at) => _kernelVa + (at.Offset - _base.Offset);

    public AllocationHandle Allocation { get; }

    /// <summary>The whole region in dwords: the largest buffer that is ever written in one piece.</summary>
    public int CapacityDwords => (int)Math.Min(_bytes / 4, int.MaxValue);

    /// <summary>Buffers whose INDIRECT the device has not been seen to retire.</summary>
    public int LiveBuffers => _live.Count;

    /// <summary>The largest buffer <see cref="Take"/> can place now, in dwords.</summary>
    public int FreeDwords
    {
        get
        {
            ulong free;
            if (_live.Count == 0) free = _bytes;
            else
            {
                ulong tail = _live.Peek().Offset;
                free = _head > tail ? Math.Max(_bytes - _head, tail) : tail - _head;
            }
            return (int)Math.Min(free / 4, int.MaxValue);
        }
    }

    /// <summary>Frees every buffer whose INDIRECT ends at or before the ring position <paramref name="readPtr"/>.</summary>
    public void Retire(ulong readPtr)
    {
        while (_live.Count > 0 && (long)(readPtr - _live.Peek().RingEnd) >= 0) _live.Dequeue();
        if (_live.Count == 0) _head = 0;
    }

    /// <summary>
    /// Takes room for <paramref name="dwords"/> (at most <see cref="FreeDwords"/>); <see cref="Commit"/> it once its
    /// INDIRECT is in the ring. Taking again without committing gives back the room taken before.
    /// </summary>
    public Span<uint> Take(int dwords, out PhysicalAddress at)
    {
        ulong bytes = ((ulong)dwords * 4 + Align - 1) & ~(Align - 1);
        if (!TryPlace(bytes, out ulong offset))
            throw new InvalidOperationException($"{dwords} dwords exceed the arena's free room ({FreeDwords} dwords)");
        _takenOffset = offset;
        _takenEnd = offset + bytes;
        at = _base.Add(offset);
        return MemoryMarshal.Cast<byte, uint>(_vidmm.Memory.GetSpan(at, (int)bytes))[..dwords];
    }

    /// <summary>Records the buffer taken last as live until the ring's ReadPtr reaches <paramref name="ringEnd"/>.</summary>
    public void Commit(ulong ringEnd)
    {
        _live.Enqueue((_takenOffset, ringEnd));
        _head = _takenEnd;
    }

    private bool TryPlace(ulong bytes, out ulong offset)
    {
        offset = 0;
        if (bytes > _bytes) return false;
        if (_live.Count == 0) return true;
        ulong tail = _live.Peek().Offset;
        if (_head > tail)
        {
            // Live: [tail, head). Free: [head, end) and [0, tail).
            if (_bytes - _head >= bytes) { offset = _head; return true; }
            if (tail >= bytes) { offset = 0; return true; }
            return false;
        }
        // Wrapped (head <= tail; head == tail means full): free is [head, tail).
        if (tail - _head >= bytes) { offset = _head; return true; }
        return false;
    }
}
