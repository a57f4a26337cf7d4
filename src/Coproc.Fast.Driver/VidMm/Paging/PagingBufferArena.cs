using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm.Paging;

/// <summary>
/// Where the paging queue writes its paging buffers: a pinned local region used as a ring of buffers, each freed once
/// the paging fence value it signals is reached (so the device never reads a buffer being overwritten). A buffer that
/// does not fit gets a pinned allocation of its own, freed the same way — a rare path, so steady state allocates
/// nothing.
/// </summary>
// Design: buffers are taken in submission order and complete in fence order, so the live ones form one FIFO; the
// free space is [head, tail) circularly, tail = start of the oldest live buffer. A buffer never wraps: when the end of
// the region is too short, it starts again at 0 (the skipped tail is reclaimed with the buffer before it).
internal sealed class PagingBufferArena
{
    private const ulong Align = 64; // co-aligned to cache lines (docs/performance.md: avoid 4 KiB aliasing offsets)
    private readonly VideoMemoryManager _vidmm;
    private readonly PhysicalAddress _base;
    private readonly ulong _bytes;
    private readonly Queue<(ulong Offset, ulong Fence)> _live = new();
    private readonly Queue<(AllocationHandle Handle, ulong Fence)> _overflow = new();
    private ulong _head;

    public PagingBufferArena(VideoMemoryManager vidmm, ulong bytes)
    {
        _vidmm = vidmm;
        _bytes = bytes;
        Allocation = vidmm.Allocate(bytes, VideoMemoryManager.PageSize, PlacementHint.PreferLocal, AllocationFlags.Contiguous);
        _base = vidmm.PhysicalAddressOf(Allocation, 0);
    }

    public AllocationHandle Allocation { get; }

    public int LiveBuffers => _live.Count + _overflow.Count;

    public int OverflowBuffers => _overflow.Count;

    /// <summary>Frees every buffer whose fence value <paramref name="isReached"/> says has been signalled.</summary>
    public void Retire(Func<ulong, bool> isReached)
    {
        while (_live.Count > 0 && isReached(_live.Peek().Fence)) _live.Dequeue();
        if (_live.Count == 0) _head = 0;
        while (_overflow.Count > 0 && isReached(_overflow.Peek().Fence)) _vidmm.Free(_overflow.Dequeue().Handle);
    }

    /// <summary>Takes room for <paramref name="dwords"/>; <see cref="Commit"/> it with its fence value once written.</summary>
    public Span<uint> Take(int dwords, out PhysicalAddress at, out bool overflow)
    {
        ulong bytes = ((ulong)dwords * 4 + Align - 1) & ~(Align - 1);
        if (TryPlace(bytes, out ulong offset))
        {
            overflow = false;
            at = _base.Add(offset);
            _pendingOffset = offset;
            _pendingEnd = offset + bytes;
        }
        else
        {
            overflow = true;
            ulong pages = (bytes + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
            _pendingOverflow = _vidmm.Allocate(pages, VideoMemoryManager.PageSize, PlacementHint.PreferLocal, AllocationFlags.Contiguous);
            at = _vidmm.PhysicalAddressOf(_pendingOverflow, 0);
        }
        return MemoryMarshal.Cast<byte, uint>(_vidmm.Memory.GetSpan(at, (int)bytes));
    }

    private ulong _pendingOffset, _pendingEnd;
    private AllocationHandle _pendingOverflow;

    /// <summary>Records the buffer taken last as live until <paramref name="fence"/> is reached.</summary>
    public void Commit(bool overflow, ulong fence)
    {
        if (overflow) _overflow.Enqueue((_pendingOverflow, fence));
        else
        {
            _live.Enqueue((_pendingOffset, fence));
            _head = _pendingEnd;
        }
    }

    /// <summary>Gives back the buffer taken last (its submission failed).</summary>
    public void Abandon(bool overflow)
    {
        if (overflow) _vidmm.Free(_pendingOverflow);
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
