using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// The driver's query "is the WAIT this saved context stopped on still unsatisfied?" (seed 001 §4.1 queries on
/// non-running contexts, §8.4 WAIT): reads the save area (native-layout.md §11.1) for the position of the packet it
/// stopped on — the ring at RingPosition, or its DMA buffer at IndirectOffset — decodes that packet (§8.1) and
/// evaluates a WAIT or WAIT_FENCE exactly as the command processor does (§8.2: a WAIT's counter is non-zero; a
/// WAIT_FENCE's fence is at or past its value, wrap-safe), reading the counter or fence through the context's address
/// space (the process's page tables in memory, §3–§5).
/// </summary>
/// <remarks>
/// Invariant: the answer is "satisfied" only when a well-formed WAIT or WAIT_FENCE was read at the saved position and
/// its condition holds in memory now; everything else — the save area not marked Waiting, or marked Faulted; a
/// position or packet that cannot be read, is malformed or is another opcode; an address above 48 bits, not mapped,
/// or (from a limited DMA buffer) on a privileged page — is "still waiting". The DMA buffer and the counters are the
/// process's memory, which it may rewrite at any time: they are decoded, never trusted, and nothing here throws. So
/// the conservative error is to keep a context excluded (no false Starved report), never to report one that waits.
/// The save area itself is exact while the context is not loaded (the engine writes it back on every switch away); a
/// context loaded again is the running one, which the auditor does not consider waiting anyway.
/// Cost: one save-area read, one packet of at most 5 dwords, one page walk per page the value spans; no allocation.
/// </remarks>
internal static class SavedWaitQuery
{
    private const int MaxWaitDwords = PacketFormat.WaitFenceDwords;
    private const ulong VaLimit = 1UL << PacketFormat.VaBits;

    /// <summary>True when <paramref name="context"/>'s saved WAIT is over (see the invariant: false whenever in doubt).</summary>
    public static bool IsSatisfied(DeviceMemory memory, VaContext context)
    {
        var saveArea = context.Hw.SaveArea;
        if (!memory.Contains(saveArea, ContextSaveArea.SizeInBytes)) return false;
        // A copy, read once. In threaded mode it may race the engine's write-back of a context switched in and out since the
        // driver's last switch record: a torn view is only bytes decoded like any others (the answer errs as above).
        var save = memory.Region(saveArea.Location).Ref<ContextSaveArea>(saveArea.Offset);
        if ((save.Flags & (ContextFlags.Waiting | ContextFlags.Faulted)) != ContextFlags.Waiting) return false;
        Span<uint> packet = stackalloc uint[MaxWaitDwords];
        int dwords;
        bool privileged;
        if ((save.Flags & ContextFlags.InIndirect) == 0)
        {
            dwords = ReadRing(memory, context, save.RingPosition, packet);
            privileged = true; // the ring is a privileged channel (native-layout.md §8.3)
        }
        else
        {
            if (save.IndirectOffset >= save.IndirectLength) return false;
            privileged = (save.IndirectAddress & PacketFormat.IndirectPrivilegedBit) != 0;
            ulong va = (save.IndirectAddress & ~3UL) + ((ulong)save.IndirectOffset << 2);
            dwords = (int)Math.Min((uint)MaxWaitDwords, save.IndirectLength - save.IndirectOffset);
            if (!TryRead(memory, context.Process.Space, va, privileged, MemoryMarshal.AsBytes(packet[..dwords])))
                return false;
        }
        var window = packet[..dwords];
        if (!PacketDecoder.TryDecode(window, 0, out var decoded, out _)) return false;
        var p = decoded.Slice(window);
        switch (decoded.Opcode)
        {
            case Opcode.Wait:
            {
                Span<byte> counter = stackalloc byte[4];
                if (!TryRead(memory, context.Process.Space, PacketFormat.U64(p[1], p[2]), privileged, counter)) return false;
                return BinaryPrimitives.ReadUInt32LittleEndian(counter) != 0; // §8.4: a non-zero counter lets the WAIT through
            }
            case Opcode.WaitFence:
            {
                Span<byte> fence = stackalloc byte[8];
                if (!TryRead(memory, context.Process.Space, PacketFormat.U64(p[1], p[2]), privileged, fence)) return false;
                return (long)(BinaryPrimitives.ReadUInt64LittleEndian(fence) - PacketFormat.U64(p[3], p[4])) >= 0; // wrap-safe, as the engine
            }
            default:
                return false; // WAIT_FOR_FLIP or anything else: not a wait this query can decide
        }
    }

    // Copies up to destination.Length dwords of the ring from `position` (packets never straddle the ring's end, and the
    // packet stopped on lies before WritePtr); returns the dwords copied (0: nothing readable).
    private static int ReadRing(DeviceMemory memory, VaContext context, ulong position, Span<uint> destination)
    {
        var hw = context.Hw;
        ulong size = hw.RingBytes;
        if ((position & 3) != 0) return 0;
        ulong index = position & (size - 1);
        ulong pending = hw.WritePtr - position; // a position past WritePtr wraps to far above the ring's size
        if (pending > size) return 0;
        ulong available = Math.Min(size - index, pending);
        int dwords = (int)Math.Min((ulong)destination.Length, available >> 2);
        if (dwords == 0 || !memory.TryGetSpan(hw.Ring.Add(index), dwords * 4, out var bytes)) return 0;
        MemoryMarshal.Cast<byte, uint>(bytes).CopyTo(destination);
        return dwords;
    }

    // Reads destination.Length bytes at `va` through `space`'s page tables in memory, page by page; false when a page is
    // not mapped, outside memory, or privileged while the access is not (the engine would fault there instead). The
    // tables are the kernel's own (GpuAddressSpace writes every entry; a run-list process's space lives as long as the
    // scheduler), so walking them is safe; the leaf's frame is checked against memory before it is read.
    private static unsafe bool TryRead(DeviceMemory memory, GpuAddressSpace space, ulong va, bool privileged, Span<byte> destination)
    {
        if (va >= VaLimit || (ulong)destination.Length > VaLimit - va) return false;
        int done = 0;
        while (done < destination.Length)
        {
            ulong at = va + (ulong)done;
            var leaf = space.ReadLeaf(at);
            if (!leaf.IsValid || (leaf.IsPrivileged && !privileged)) return false;
            ulong pageMask = (leaf.IsLargePage ? PageTableLayout.LargePageSize : PageTableLayout.PageSize) - 1;
            int n = (int)Math.Min((ulong)(destination.Length - done), pageMask + 1 - (at & pageMask));
            var chunk = destination.Slice(done, n);
            if (leaf.Location == MemoryLocation.Dummy) chunk.Clear(); // the dummy page reads as zeros (§4.3)
            else
            {
                byte* src = memory.TryPointer(leaf.Location, leaf.FrameOffset + (at & pageMask), (ulong)n);
                if (src == null) return false;
                new ReadOnlySpan<byte>(src, n).CopyTo(chunk);
            }
            done += n;
        }
        return true;
    }
}
