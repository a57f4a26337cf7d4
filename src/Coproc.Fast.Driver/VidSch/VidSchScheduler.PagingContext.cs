using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch;

// The engine's kernel paging context (seed 001 §3.6, §5.6; docs/concepts.md, "The basic model" step 5). Paging buffers run
// in a kernel-owned context of their own on the scheduler's engine, never in the submitting context's ring: a paging
// buffer queued behind a context's own unfinished work (a WAIT that never ends, a long buffer) would hold every later
// paging buffer — and so every other context's next chunk — until that context finished or was reset. The chunk
// itself starts with a WAIT_FENCE on this engine's paging fence (and on other engines' where it depends on their paging),
// so its DMA buffer still runs only after its paging buffer and the paging it depends on have executed: "run
// immediately before their DMA-buffer counterpart" in dependency order (SchedulerGroup (2)).
public sealed partial class VidSchScheduler
{
    // The paging context takes the last id of the engine's range (Machine.ContextIdsPerEngine = 0x1000).
    private const int PagingContextSlot = 0xFFF;

    // Ring bytes of the paging context: each entry is a few dwords (INDIRECT to the paging buffer + fence).
    private const uint PagingRingBytes = 4096;

    private VidSchContext _pagingContext = null!;
    private ulong _pagingFenceKernelAddress;

    // Paging buffers written to the paging ring and not yet executed: (buffer, paging-fence value it ends with).
    private readonly Queue<(PagingBufferMemory Buffer, ulong Last)> _pagingRecords = new();

    /// <summary>Context id of this engine's kernel paging context (the last id of the engine's range).</summary>
    public int PagingContextId => _pagingContext.Id;

    /// <summary>The kernel paging context (tests read its ring and save area).</summary>
    internal VidSchContext PagingContext => _pagingContext;

    /// <summary>Paging buffers written to the kernel paging context and not yet executed.</summary>
    public int PagingBuffersInFlight { get { lock (KernelLock) return _pagingRecords.Count; } }

    /// <summary>
    /// Creates the kernel paging context: save area and ring descriptor in a local page, its ring in a system page
    /// (a few dwords per paging buffer; kept out of local memory, which paging is there to manage). Process 0, not in
    /// <see cref="Contexts"/>: it has no DMA buffers, no fence of its own and is never reset.
    /// </summary>
    private void CreatePagingContext()
    {
        var ctx = new VidSchContext(_o.FirstContextId + PagingContextSlot, 0, int.MaxValue) { Engine = _o.Engine, Scheduler = this };
        ctx.LocalPage = _vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
        ctx.RingAllocation = _vidmm.Allocate(PagingRingBytes, PagingRingBytes, PlacementHint.SystemOnly,
            AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
        var local = _vidmm.PhysicalAddressOf(ctx.LocalPage, 0);
        ctx.SaveArea = local;
        ctx.RingDescriptor = local.Add(ContextSaveArea.SizeInBytes);
        ctx.Ring = _vidmm.PhysicalAddressOf(ctx.RingAllocation, 0);
        ctx.RingBytes = PagingRingBytes;
        var mem = _bus.Memory;
        mem.GetSpan(local, (int)VideoMemoryManager.PageSize).Clear();
        mem.GetSpan(ctx.Ring, (int)PagingRingBytes).Clear();
        mem.Local.Ref<RingDescriptor>(ctx.RingDescriptor.Offset) = new RingDescriptor
        {
            Base = ctx.Ring.Encoded, SizeBytes = PagingRingBytes, ContextId = (uint)ctx.Id,
        };
        mem.Local.Ref<ContextSaveArea>(ctx.SaveArea.Offset) = new ContextSaveArea
        {
            RingDescriptor = ctx.RingDescriptor.Encoded, ContextId = (uint)ctx.Id, AddressSpace = _rm.KernelView,
        };
        _pagingContext = ctx;
        _bySaveArea.Add(ctx.SaveArea.Encoded, ctx);
        _pagingFenceKernelAddress = _rm.PatchAddress(_group.PagingPage, 8 * (ulong)_member);
    }

    /// <summary>
    /// Writes the chunk's paging buffer into this engine's paging ring (non-interruptible: DISABLE_CONTEXT_SWITCH …
    /// ENABLE, §3.6), preceded by a WAIT_FENCE on each other engine's paging fence it depends on (an earlier-recorded
    /// paging buffer there touches the same memory; SchedulerGroup (2)). Paging buffers of this engine run in ring
    /// order, which is the order VidMm recorded them. False: the ring is full.
    /// </summary>
    private bool TryIssuePaging(InFlightChunk chunk)
    {
        var pb = chunk.Paging!;
        var w = new PacketWriter(_scratchRing);
        WriteFenceWaits(ref w, pb.WaitBefore); // its own member's slot is always 0: ring order covers its own engine
        w.DisableContextSwitch();
        w.Indirect(pb.KernelAddress, (uint)pb.DwordCount, privileged: true);
        w.PrivilegedFence(_pagingFence.Encoded, chunk.PagingLast, interrupt: true);
        w.EnableContextSwitch();
        if (!TryWriteRing(_pagingContext, w.WrittenSpan)) return false;
        _pagingRecords.Enqueue((pb, chunk.PagingLast));
        chunk.Paging = null; // now owned by the paging ring; returned to the pool when the paging fence passes it
        _bus.Kick();
        return true;
    }

    /// <summary>Paging buffers the paging fence has passed go back to the pool.</summary>
    private void RetirePaging()
    {
        while (_pagingRecords.Count > 0 && (long)(_pagingCompleted - _pagingRecords.Peek().Last) >= 0)
            _pagingPool.Push(_pagingRecords.Dequeue().Buffer);
        // Recorded paging buffers the fence has passed no longer order other engines' paging (Prepare.cs, SchedulerGroup (2)).
        int k = 0;
        while (k < _pagingOutstanding.Count && (long)(_pagingCompleted - _pagingOutstanding[k].Last) >= 0) k++;
        if (k > 0) _pagingOutstanding.RemoveRange(0, k);
        // Memory the executed paging vacated may now go to the kernel's own allocations (ResidencyManager.InTransit.cs).
        (_rm as VidMm.Residency.ResidencyManager)?.RetireInTransit();
    }

    /// <summary>A chunk starts with a WAIT_FENCE on each engine's paging fence whose paging it depends on and that has
    /// not passed yet (Prepare.cs, SetPagingWaits).</summary>
    private void WriteWaitForPaging(ref PacketWriter w, InFlightChunk chunk) => WriteFenceWaits(ref w, chunk.PagingWait);

    // One WAIT_FENCE per group member whose paging fence has not reached values[member] yet (0: no wait).
    private void WriteFenceWaits(ref PacketWriter w, ulong[] values)
    {
        var members = _group.Members;
        for (int m = 0; m < members.Count; m++)
        {
            ulong v = values[m];
            if (v != 0 && (long)(members[m].PagingCompletedInMemory - v) < 0) w.WaitFence(members[m]._pagingFenceKernelAddress, v);
        }
    }

    private bool PagingHasWork => _pagingRecords.Count > 0;

    /// <summary>Copies every group member's last issued paging-fence value into <paramref name="into"/> (index = member;
    /// at least <see cref="SchedulerGroup.MaxMembers"/> long); caller holds the kernel lock.</summary>
    internal void SnapshotPagingIssued(Span<ulong> into)
    {
        into.Clear();
        var members = _group.Members;
        for (int m = 0; m < members.Count; m++) into[m] = members[m]._pagingIssued;
    }

    /// <summary>True once every group member's paging fence, as the device wrote it in memory, has reached
    /// <paramref name="targets"/> (index = member).</summary>
    internal bool PagingReached(ReadOnlySpan<ulong> targets)
    {
        var members = _group.Members;
        for (int m = 0; m < members.Count && m < targets.Length; m++)
            if ((long)(members[m].PagingCompletedInMemory - targets[m]) < 0) return false;
        return true;
    }

    /// <summary>This engine's paging fence as the device last wrote it in memory (every paging buffer of this engine up to
    /// it has executed).</summary>
    internal ulong PagingCompletedInMemory => Volatile.Read(ref _bus.Memory.System.Ref<ulong>(_pagingFence.Offset));

    /// <summary>This engine's last issued paging-fence value; caller holds the kernel lock.</summary>
    internal ulong PagingIssuedUnlocked => _pagingIssued;
}
