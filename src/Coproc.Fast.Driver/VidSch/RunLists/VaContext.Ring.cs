using System.Runtime.InteropServices;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Ring insertion (seed 001 §5.6 Fig. 16, §7.4). Everything a submission changes — the ring bytes and WritePtr, the fence
// value, the option-1 copy arena, the option-3 privileged slot, the outstanding queue — belongs to this context and is
// changed under its RingLock only, so submitters of different contexts never contend, and a full ring makes only this
// context's submitters wait (Monitor.Wait releases the lock; Retire/NotifyRingSpace pulse it).
public sealed partial class VaContext
{
    // Option 3's privileged fence slots, handed out in the order entries enter the ring. Invariant: a slot is reused only
    // after PrivilegedSlots later slot-using entries entered the ring; each such entry is at least two INDIRECTs
    // (32 bytes) and there are RingBytes / 32 slots, so the entry that used it before has left the ring. (By fence
    // value, sync-point entries — fence values without a slot — let two entries in flight share a slot.)
    private ulong _slotCursor;

    /// <summary>
    /// Appends one user DMA buffer to the ring if it fits now; returns false (nothing changed) when the ring — or, for
    /// option 1, the copy arena — is full. <paramref name="waitPagingFence"/> ≠ 0 puts a WAIT_FENCE on VidMm's paging
    /// fence first (the buffer's resources are being paged in, seed 001 §5.1).
    /// </summary>
    internal bool TryInsert(UserDmaBuffer buffer, int dwords, ResourceReference[] resources, ulong waitPagingFence,
        PrivilegeEnforcement option, UserModeCompletionEvent? completion, out ulong fence)
    {
        lock (RingLock)
        {
            if (TryHold(buffer, dwords, resources, waitPagingFence, completion, out fence)) return true; // behind an ungranted wait (§10.1)
            if (!TryInsertLocked(buffer, dwords, resources, waitPagingFence, option, out fence)) return false;
            RecordCompletion(fence, completion);
            return true;
        }
    }

    /// <summary>
    /// Like <see cref="TryInsert"/> but blocks while the ring is full, until space frees or <paramref name="timeout"/>
    /// passes (false then). Only this context's lock is held — other contexts' submitters proceed (behaviour 18).
    /// </summary>
    internal bool Insert(UserDmaBuffer buffer, int dwords, ResourceReference[] resources, ulong waitPagingFence,
        PrivilegeEnforcement option, UserModeCompletionEvent? completion, TimeSpan timeout, out ulong fence)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (RingLock)
        {
            if (TryHold(buffer, dwords, resources, waitPagingFence, completion, out fence)) return true; // behind an ungranted wait (§10.1)
            while (!TryInsertLocked(buffer, dwords, resources, waitPagingFence, option, out fence))
            {
                if (State == VaContextState.Error) return false;
                long left = deadline - Environment.TickCount64;
                if (left <= 0) return false;
                // Woken by Retire / NotifyRingSpace; the bounded wait is only a guard against a lost device.
                Monitor.Wait(RingLock, (int)Math.Min(left, 50));
            }
            RecordCompletion(fence, completion);
            return true;
        }
    }

    private bool TryInsertLocked(UserDmaBuffer buffer, int dwords, ResourceReference[] resources, ulong waitPagingFence,
        PrivilegeEnforcement option, out ulong fence)
    {
        fence = 0;
        Span<uint> packets = stackalloc uint[PacketFormat.WaitFenceDwords + 2 * PacketFormat.IndirectDwords + PacketFormat.FenceDwords];
        var w = new PacketWriter(packets);
        if (waitPagingFence != 0) w.WaitFence(Process.PagingFenceVa, waitPagingFence);
        ulong va = buffer.Va;
        uint copyStart = 0, copyDwords = 0;
        if (option == PrivilegeEnforcement.KernelCopy)
        {
            // Option 1: the validated buffer is copied into the kernel-owned arena (read-only in the process's space).
            uint index = CopyHead % CopyCapacityDwords;
            uint pad = index + (uint)dwords > CopyCapacityDwords ? CopyCapacityDwords - index : 0;
            if (pad + (uint)dwords + (CopyHead - CopyTail) > CopyCapacityDwords) { RingFullWaits++; return false; }
            copyStart = CopyHead + pad;
            copyDwords = (uint)dwords;
            va = CopyVa + (ulong)(copyStart % CopyCapacityDwords) * 4;
        }
        w.Indirect(va, (uint)dwords, privileged: false); // a user buffer always runs limited (seed 001 §7.1)
        ulong value = _nextFence + 1;
        if (option == PrivilegeEnforcement.IndirectBit)
        {
            // Option 3: the privileged fence lives in a kernel-built DMA buffer named with INDIRECT bit 0 set (Fig. 21).
            int slot = (int)(_slotCursor % (ulong)PrivilegedSlots);
            var slotSpan = MemoryMarshal.Cast<byte, uint>(_memory.GetSpan(PrivilegedPa.Add((ulong)slot * PrivilegedSlotDwords * 4), PrivilegedSlotDwords * 4));
            var pw = new PacketWriter(slotSpan);
            pw.PrivilegedFence(FencePa.Encoded, value, interrupt: true);
            w.Indirect(PrivilegedVa + (ulong)slot * PrivilegedSlotDwords * 4, (uint)pw.Written, privileged: true);
        }
        else
        {
            // Options 1 and 2: the ring is a privileged channel; the kernel writes the privileged fence straight into it (Fig. 20).
            w.PrivilegedFence(FencePa.Encoded, value, interrupt: true);
        }
        if (!Hw.HasRoomFor(w.Written)) { RingFullWaits++; return false; }
        if (option == PrivilegeEnforcement.KernelCopy)
        {
            // Validate the kernel's copy, not the user's buffer: the process cannot change what was checked (no TOCTOU).
            var copy = MemoryMarshal.Cast<byte, uint>(_memory.GetSpan(CopyPa.Add((ulong)(copyStart % CopyCapacityDwords) * 4), dwords * 4));
            buffer.Dwords[..dwords].CopyTo(copy);
            LimitedBufferValidator.Validate(copy); // throws with nothing committed (CopyHead, ring, fence unchanged)
            CopyHead = copyStart + copyDwords;
        }
        if (!Hw.TrySubmit(w.WrittenSpan)) throw new InvalidOperationException("ring space vanished under the context lock");
        if (option == PrivilegeEnforcement.IndirectBit) _slotCursor++;
        _nextFence = value;
        fence = value;
        Outstanding.Enqueue(new VaSubmission(value, resources, copyStart, copyDwords));
        return true;
    }

    /// <summary>
    /// Appends kernel-built privileged commands (seed 001 §7.3: flips, no-context-switch regions, register writes) and
    /// the retiring fence: options 1 and 2 write them straight into the ring (Fig. 20); option 3 names
    /// <paramref name="kernelBuffer"/> — the same packets in a P = 1 kernel buffer — with INDIRECT bit 0 (Fig. 21).
    /// Returns false (nothing changed) when the ring is full.
    /// </summary>
    internal bool TryInsertKernel(ReadOnlySpan<uint> packets, KernelBuffer? kernelBuffer, PrivilegeEnforcement option, out ulong fence)
    {
        lock (RingLock)
        {
            fence = 0;
            // Behind an ungranted wait nothing may overtake the held-back work: refused like a full ring.
            return !Holding && TryInsertKernelUnchecked(packets, kernelBuffer, option, out fence);
        }
    }

    private bool TryInsertKernelUnchecked(ReadOnlySpan<uint> packets, KernelBuffer? kernelBuffer, PrivilegeEnforcement option, out ulong fence)
    {
        lock (RingLock)
        {
            fence = 0;
            ulong value = _nextFence + 1;
            int slot = (int)(_slotCursor % (ulong)Math.Max(1, PrivilegedSlots));
            int dwords = (kernelBuffer is null ? packets.Length : PacketFormat.IndirectDwords)
                + (option == PrivilegeEnforcement.IndirectBit ? PacketFormat.IndirectDwords : PacketFormat.FenceDwords);
            var entry = new uint[dwords];
            var w = new PacketWriter(entry);
            if (kernelBuffer is null) packets.CopyTo(w.GetSpan(packets.Length));
            if (kernelBuffer is null) w.Advance(packets.Length);
            else w.Indirect(kernelBuffer.Va, (uint)packets.Length, privileged: true);
            if (option == PrivilegeEnforcement.IndirectBit)
            {
                var slotSpan = MemoryMarshal.Cast<byte, uint>(_memory.GetSpan(PrivilegedPa.Add((ulong)slot * PrivilegedSlotDwords * 4), PrivilegedSlotDwords * 4));
                var pw = new PacketWriter(slotSpan);
                pw.PrivilegedFence(FencePa.Encoded, value, interrupt: true);
                w.Indirect(PrivilegedVa + (ulong)slot * PrivilegedSlotDwords * 4, (uint)pw.Written, privileged: true);
            }
            else w.PrivilegedFence(FencePa.Encoded, value, interrupt: true);
            if (!Hw.HasRoomFor(w.Written)) { RingFullWaits++; return false; }
            if (!Hw.TrySubmit(w.WrittenSpan)) throw new InvalidOperationException("ring space vanished under the context lock");
            if (option == PrivilegeEnforcement.IndirectBit) _slotCursor++;
            _nextFence = value;
            fence = value;
            Outstanding.Enqueue(new VaSubmission(value, [], 0, 0, kernelBuffer));
            return true;
        }
    }
}
