using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Driver.VidMm.Residency;

// The paging-buffer half of ResidencyManager (seed 001 §3.6, Fig. 7/8, behaviours 10, 11, 13): the command list
// becomes privileged packets that run in the kernel view.
public sealed partial class ResidencyManager
{
    private readonly PteWriteList _ptes = new();

    /// <summary>
    /// When true, an Evict's paging buffer writes the allocation's GPU mappings with V = 0 (pointing at the backing
    /// store) instead of valid entries: the advanced model's demand faulting (seed 001 §5.3 step 4, §5.6). Default false
    /// (the basic model keeps evicted VAs valid, native-layout.md §14.1).
    /// </summary>
    public bool InvalidateEvictedMappings { get; set; }

    /// <inheritdoc />
    public int MeasurePagingBuffer(ReadOnlySpan<PagingOperation> commands)
    {
        // DISABLE + ENABLE, one fence per operation plus the final one in the worst case.
        long dwords = 2 + (long)PacketFormat.FenceDwords * (commands.Length + 1) + ForeignWaitDwords;
        foreach (var op in commands)
        {
            dwords += PacketFormat.CopyDwords;
            if (!_vidmm.IsLive(op.Handle) || _vidmm.Allocations.Get(op.Handle).GpuMappings is not { Count: > 0 } maps) continue;
            // A relocation in the advanced model writes its mappings twice: invalid before the COPY, valid after.
            long passes = InvalidateEvictedMappings && op.Kind == PagingOperationKind.Relocate && op.Bytes != 0 ? 2 : 1;
            foreach (var map in maps)
            {
                // Only the piece moved is rewritten; an in-place PageIn (0 bytes) rewrites the whole mapping.
                ulong pages = (op.Bytes == 0 ? map.Space.MappingBytes(map.Va) : Math.Min(map.Space.MappingBytes(map.Va), op.Bytes)) >> 12;
                // One UPDATE_PAGE_TABLE per leaf table touched (at most one per 512 pages, plus the ragged ends), one TLB_FLUSH.
                long runs = (long)(pages / 512) + 2;
                dwords += passes * (runs * PacketFormat.UpdatePageTableFixedDwords + 2 * (long)pages + PacketFormat.TlbFlushDwords);
            }
        }
        return (int)Math.Min(dwords, int.MaxValue);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Layout (native-layout.md §14.4): DISABLE_CONTEXT_SWITCH (a paging buffer keeps the engine until it completes,
    /// seed 001 §3.6 / behaviour 11); per operation a COPY in kernel-view VAs followed, when the allocation is mapped in
    /// per-process GPU address spaces, by UPDATE_PAGE_TABLE packets pointing those PTEs at the new home and one
    /// TLB_FLUSH per mapping (the VA stays invariant, seed 001 §4.2); a privileged FENCE with interrupt before an
    /// operation whose pre fence depends on a pending post fence (the merged fence); one FENCE at the end for the
    /// remaining post fences; ENABLE_CONTEXT_SWITCH. Fences write <paramref name="firstFenceValue"/>, +1, … to
    /// <paramref name="fenceAddress"/>. The caller must run it while no context that maps a moved allocation is running
    /// (the dedicated VidMm context, seed 001 behaviour 17).
    /// </remarks>
    /// <exception cref="PacketBufferFullException"><paramref name="destination"/> is too small (see <see cref="MeasurePagingBuffer"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException">An operation names an address outside memory.</exception>
    public int BuildPagingBuffer(ReadOnlySpan<PagingOperation> commands, Span<uint> destination, PhysicalAddress fenceAddress,
        ulong firstFenceValue, out int fencesEmitted)
    {
        if ((fenceAddress.Offset & 7) != 0) throw new ArgumentException($"fence address {fenceAddress} is not 8-byte aligned", nameof(fenceAddress));
        var w = new PacketWriter(destination);
        WriteForeignWaits(ref w, fenceAddress); // after other channels' paging of the same memory (ResidencyManager.Order.cs)
        w.DisableContextSwitch();
        bool pendingPost = false;
        ulong value = firstFenceValue;
        int fences = 0;
        foreach (var op in commands)
        {
            if (op.PreFence && pendingPost)
            {
                // seed 001 §3.6 merge rule: the earlier post fence and this pre fence are one fence here.
                w.PrivilegedFence(fenceAddress.Encoded, value++, interrupt: true);
                fences++;
                pendingPost = false;
            }
            // The advanced model invalidates a process mapping before its COPY reads the old home: a context still
            // running on another engine (the other paging channel's, or another run-list engine's) faults from then on
            // instead of writing bytes the COPY has already read. A relocation's mapping becomes valid again after it.
            // An eviction's alias in the kernel view is pointed at the backing store at once (nothing runs on it).
            bool invalidateFirst = InvalidateEvictedMappings && op.Bytes != 0 && op.Kind != PagingOperationKind.PageIn;
            bool evict = op.Kind == PagingOperationKind.Evict;
            if (invalidateFirst) WriteMappings(ref w, op, processValid: false, kernelView: evict);
            if (op.Bytes != 0) w.Copy(View.VaOf(op.To), View.VaOf(op.From), op.Bytes);
            // The advanced model (seed 001 §5.3 step 4): an evicted allocation's VA stays invalid, so its next use faults.
            if (!(invalidateFirst && evict)) WriteMappings(ref w, op, processValid: !(InvalidateEvictedMappings && evict), kernelView: true);
            pendingPost |= op.PostFence;
        }
        if (pendingPost)
        {
            // seed 001 §3.6: the remaining post fences are aggregated into one fence at the end of the buffer.
            w.PrivilegedFence(fenceAddress.Encoded, value, interrupt: true);
            fences++;
        }
        w.EnableContextSwitch();
        ForgetWaits(); // built: the waits are in it (Order.cs)
        // Its last fence follows every copy: the memory these operations vacated stays in transit until it is written.
        if (fences > 0) SealInTransit(commands, fenceAddress, firstFenceValue + (ulong)fences - 1);
        fencesEmitted = fences;
        return w.Written;
    }

    // Points the GPU mappings of the moved piece at its new home — the process mappings valid or not, the kernel view's
    // alias (when asked) always valid: only privileged kernel buffers reach it, and a patched operand must keep naming
    // the allocation wherever it lives (native-layout.md §14.1) — then flushes those VAs from every TLB.
    private void WriteMappings(ref PacketWriter w, in PagingOperation op, bool processValid, bool kernelView)
    {
        if (!_vidmm.IsLive(op.Handle) || _vidmm.Allocations.Get(op.Handle).GpuMappings is not { Count: > 0 } maps) return;
        _ptes.Clear();
        ulong bytes = op.Bytes == 0 ? ulong.MaxValue : op.Bytes; // an in-place PageIn (0 bytes) rewrites the whole mapping
        foreach (var map in maps)
        {
            bool alias = map.Space == View.Space;
            if (!alias || kernelView) map.Space.CollectRetarget(map.Va, op.To, _ptes, alias || processValid, op.Offset, bytes);
        }
        WritePteEdits(ref w, _ptes);
    }

    /// <summary>Encodes gathered page-table edits as UPDATE_PAGE_TABLE packets followed by their TLB_FLUSH packets.</summary>
    internal static void WritePteEdits(ref PacketWriter w, PteWriteList edits)
    {
        const int maxPerPacket = (ushort.MaxValue - PacketFormat.UpdatePageTableFixedDwords) / 2;
        for (int i = 0; i < edits.RunCount; i++)
        {
            var (slot, start, count) = edits.Run(i);
            for (int done = 0; done < count;)
            {
                int n = Math.Min(count - done, maxPerPacket);
                w.UpdatePageTable(slot.Add((ulong)done * 8).Encoded, edits.Values(start + done, n));
                done += n;
            }
        }
        for (int i = 0; i < edits.FlushCount; i++)
        {
            var (asid, va, pages) = edits.FlushAt(i);
            w.TlbFlush(asid, va, pages > uint.MaxValue ? 0 : (uint)pages); // 0 = the whole ASID
        }
    }
}
