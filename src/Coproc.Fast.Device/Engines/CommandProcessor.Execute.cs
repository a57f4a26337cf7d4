using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines;

internal sealed unsafe partial class CommandProcessor
{
    private enum ExecResult : byte { Done, OutOfBudget, Yield, Stall, Faulted, EnterIndirect, DoneThenSwitch }

    /// <summary>
    /// Executes one structurally valid packet <paramref name="p"/> (header included). Checks privilege first: a
    /// limited buffer may not hold privileged opcodes, physical addresses or INDIRECT (seed 001 §7.1, §7.4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ExecResult Execute(ReadOnlySpan<uint> p, PacketHeader h, bool privileged, bool inRing, ref long budget)
    {
        // Fast path for the packets that dominate streams; everything else (and every fault) is out of line so the
        // fetch loop stays small.
        switch (h.Opcode)
        {
            case Opcode.Nop:
                budget -= _costs.Nop;
                return ExecResult.Done;
            case Opcode.WriteData:
            {
                var data = p[PacketFormat.WriteDataFixedDwords..];
                ref readonly var vm = ref privileged ? ref _vmPrivileged : ref _vmLimited;
                var ts = vm.Write(PacketFormat.U64(p[1], p[2]), MemoryMarshal.AsBytes(data), out ulong faultVa);
                if (ts != TranslationStatus.Ok) return MemoryFault(ts, faultVa, (byte)Opcode.WriteData, ref budget);
                budget -= _costs.WriteDataBase + data.Length * _costs.WriteDataPerDword;
                return ExecResult.Done;
            }
            case Opcode.Fence when h.Flags == 0:
            {
                ref readonly var vm = ref privileged ? ref _vmPrivileged : ref _vmLimited;
                var ts = vm.Write64(PacketFormat.U64(p[1], p[2]), PacketFormat.U64(p[3], p[4]), out ulong faultVa);
                if (ts != TranslationStatus.Ok) return MemoryFault(ts, faultVa, (byte)Opcode.Fence, ref budget);
                budget -= _costs.Fence;
                return ExecResult.Done;
            }
            default:
                return ExecuteSlow(p, h, privileged, inRing, ref budget);
        }
    }

    /// <summary>
    /// The fetch loops' fast path: executes NOP, WRITE_DATA and FENCE without flags (structurally valid, none of them
    /// privileged) when the target lies in one page the TLB holds with write rights, and returns the cycles it cost;
    /// -1 means "not handled, nothing changed" and the caller takes <see cref="ExecuteGeneral"/>, which walks, counts
    /// and faults exactly as before. Same writes, same costs, same order as the general path (goal 3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long TryExecuteSimple(ReadOnlySpan<uint> p, PacketHeader h, bool privileged)
    {
        uint opAndFlags = h.Raw & 0xFFFF;
        if (opAndFlags == (uint)Opcode.Nop) return _costs.Nop;
        bool fence = opAndFlags == (uint)Opcode.Fence;
        if (!fence && opAndFlags != (uint)Opcode.WriteData) return -1;
        // Both write the payload after the 64-bit address (FENCE: its 64-bit value, little-endian = its two dwords), so
        // one translation and one store sequence serve both; the decoder already checked their lengths.
        var data = p[PacketFormat.WriteDataFixedDwords..];
        ref readonly var vm = ref privileged ? ref _vmPrivileged : ref _vmLimited;
        byte* dst = vm.TryWritePointer(PacketFormat.U64(p[1], p[2]), (uint)data.Length * 4);
        if (dst == null) return -1;
        if (data.Length == 2)
        {
            // seed 001 §8.1: in-order execution already made every earlier write visible; one 8-byte store publishes a
            // fence value whole.
            Unsafe.WriteUnaligned(dst, PacketFormat.U64(data[0], data[1]));
            return fence ? _costs.Fence : _costs.WriteDataBase + 2 * _costs.WriteDataPerDword;
        }
        if (data.Length == 1) Unsafe.WriteUnaligned(dst, data[0]);
        else MemoryMarshal.AsBytes(data).CopyTo(new Span<byte>(dst, data.Length * 4));
        return _costs.WriteDataBase + data.Length * _costs.WriteDataPerDword;
    }

    /// <summary><see cref="Execute"/> out of line, for the fetch loops' slow path (keeps the loops small).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ExecResult ExecuteGeneral(ReadOnlySpan<uint> p, PacketHeader h, bool privileged, bool inRing, ref long budget) =>
        Execute(p, h, privileged, inRing, ref budget);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ExecResult ExecuteSlow(ReadOnlySpan<uint> p, PacketHeader h, bool privileged, bool inRing, ref long budget)
    {
        var op = h.Opcode;
        if (!privileged && OpcodeInfo.IsPrivileged(op))
            return PacketFault(FaultReason.PrivilegedPacketInLimitedBuffer, 0, op, 0, ref budget);
        ref readonly var vm = ref privileged ? ref _vmPrivileged : ref _vmLimited;
        ulong faultVa;
        TranslationStatus ts;
        switch (op)
        {

            case Opcode.Copy:
                return ExecuteCopy(p, in vm, ref budget);

            case Opcode.Fill:
                return ExecuteFill(p, in vm, ref budget);

            case Opcode.Timestamp:
                budget -= _costs.Timestamp;
                ts = vm.Write64(PacketFormat.U64(p[1], p[2]), Now(budget), out faultVa);
                return ts == TranslationStatus.Ok ? ExecResult.Done : MemoryFault(ts, faultVa, (byte)op, ref budget);

            case Opcode.Fence:
            {
                // seed 001 §8.1: every earlier packet has completed its writes (in-order execution), so the value is
                // written only after all earlier work is visible — for all three kinds.
                ulong address = PacketFormat.U64(p[1], p[2]);
                ulong value = PacketFormat.U64(p[3], p[4]);
                if ((h.Flags & PacketFormat.FencePrivilegedFlag) != 0)
                {
                    if (!privileged) return PacketFault(FaultReason.PhysicalAddressInLimitedBuffer, 0, op, address, ref budget);
                    var pa = PhysicalAddress.Decode(address);
                    byte* target = _memory.TryPointer(pa.Location, pa.Offset, 8);
                    if (target == null) return PacketFault(FaultReason.PhysicalOutOfRange, 0, op, address, ref budget);
                    Volatile.Write(ref *(ulong*)target, value);
                    _memory.NoteWritten(pa.Location, pa.Offset, 8);
                }
                else
                {
                    ts = vm.Write64(address, value, out faultVa);
                    if (ts != TranslationStatus.Ok) return MemoryFault(ts, faultVa, (byte)op, ref budget);
                }
                budget -= _costs.Fence;
                if ((h.Flags & PacketFormat.FenceInterruptFlag) != 0)
                    _interrupts.Raise(new InterruptInfo(InterruptSource.Fence, (byte)Kind, _ctx.ContextId, value, address, Now(budget)));
                return ExecResult.Done;
            }

            case Opcode.Trap:
                // seed 001 §8.2: raised after everything before it retired (in-order execution).
                budget -= _costs.Trap;
                _interrupts.Raise(new InterruptInfo(InterruptSource.Trap, (byte)Kind, _ctx.ContextId, p[1], PacketPosition(), Now(budget)));
                return ExecResult.Done;

            case Opcode.Wait:
            {
                ulong va = PacketFormat.U64(p[1], p[2]);
                budget -= _costs.Sync;
                ts = vm.Read32(va, out uint counter, out faultVa);
                if (ts != TranslationStatus.Ok) return MemoryFault(ts, faultVa, (byte)op, ref budget);
                // seed 001 §8.4: zero → rewind to the WAIT itself and yield; it re-executes when the context runs again.
                if (counter == 0) return ExecResult.Yield;
                ts = vm.Write32(va, counter - 1, out faultVa);
                if (ts != TranslationStatus.Ok) return MemoryFault(ts, faultVa, (byte)op, ref budget);
                _ctx.Flags &= ~ContextFlags.Waiting;
                return ExecResult.Done;
            }

            case Opcode.Signal:
            {
                ulong va = PacketFormat.U64(p[1], p[2]);
                budget -= _costs.Sync;
                ts = vm.Read32(va, out uint counter, out faultVa);
                if (ts == TranslationStatus.Ok) ts = vm.Write32(va, unchecked(counter + 1), out faultVa);
                if (ts != TranslationStatus.Ok) return MemoryFault(ts, faultVa, (byte)op, ref budget);
                // seed 001 §8.4: overflow wraps and is reported as an error for debugging; the stream continues.
                if (counter == uint.MaxValue)
                    _interrupts.Raise(new InterruptInfo(InterruptSource.Error, (byte)Kind, _ctx.ContextId, va, PacketPosition(), Now(budget)));
                return ExecResult.Done;
            }

            case Opcode.WaitFence:
            {
                budget -= _costs.Sync;
                ts = vm.Read64(PacketFormat.U64(p[1], p[2]), out ulong current, out faultVa);
                if (ts != TranslationStatus.Ok) return MemoryFault(ts, faultVa, (byte)op, ref budget);
                // Wrap-safe: satisfied when current is at or past the target in modular 64-bit order.
                if ((long)(current - PacketFormat.U64(p[3], p[4])) < 0) return ExecResult.Yield;
                _ctx.Flags &= ~ContextFlags.Waiting;
                return ExecResult.Done;
            }

            case Opcode.Indirect:
                if (!inRing) return PacketFault(FaultReason.IndirectOutsideRing, 0, op, 0, ref budget);
                // A limited ring (a user queue) may only redirect to limited DMA buffers (seed 001 §7.4 option 3).
                if (!privileged && (p[1] & PacketFormat.IndirectPrivilegedBit) != 0)
                    return PacketFault(FaultReason.PrivilegedPacketInLimitedBuffer, 0, op, PacketFormat.U64(p[1], p[2]), ref budget);
                budget -= _costs.Indirect;
                _ctx.IndirectAddress = PacketFormat.U64(p[1], p[2]);
                _ctx.IndirectLength = p[3];
                _ctx.IndirectOffset = 0;
                _ctx.Flags |= ContextFlags.InIndirect;
                return ExecResult.EnterIndirect;

            case Opcode.EnableContextSwitch:
                budget -= _costs.Control;
                _ctx.Flags &= ~ContextFlags.ContextSwitchDisabled;
                return _hasDeferred || RunList.PendingCount != 0 ? ExecResult.DoneThenSwitch : ExecResult.Done;

            case Opcode.DisableContextSwitch:
                budget -= _costs.Control;
                _ctx.Flags |= ContextFlags.ContextSwitchDisabled;
                return ExecResult.Done;

            case Opcode.Flip:
            {
                ulong surface = PacketFormat.U64(p[1], p[2]);
                if (!_display.Flip(surface, (h.Flags & PacketFormat.FlipVsyncFlag) != 0))
                    return PacketFault(FaultReason.PhysicalOutOfRange, 0, op, surface, ref budget);
                budget -= _costs.Register;
                return ExecResult.Done;
            }

            case Opcode.WaitForFlip:
                budget -= _costs.Control;
                if (_display.FlipPending) return ExecResult.Stall;
                _ctx.Flags &= ~ContextFlags.Waiting;
                return ExecResult.Done;

            case Opcode.RegWrite:
                budget -= _costs.Register;
                _mmio.Write32(p[1], p[2]);
                return ExecResult.Done;

            case Opcode.UpdatePageTable:
            {
                ulong address = PacketFormat.U64(p[1], p[2]);
                var entries = p[PacketFormat.UpdatePageTableFixedDwords..];
                var pa = PhysicalAddress.Decode(address);
                byte* target = _memory.TryPointer(pa.Location, pa.Offset, (ulong)entries.Length * 4);
                if (target == null) return PacketFault(FaultReason.PhysicalOutOfRange, 0, op, address, ref budget);
                MemoryMarshal.AsBytes(entries).CopyTo(new Span<byte>(target, entries.Length * 4));
                _memory.NoteWritten(pa.Location, pa.Offset, (ulong)entries.Length * 4);
                budget -= _costs.PageTableBase + (entries.Length >> 1) * _costs.PageTablePerEntry;
                return ExecResult.Done;
            }

            case Opcode.TlbFlush:
                budget -= _costs.TlbFlush;
                if ((p[1] & PacketFormat.TlbFlushAllAsidsBit) != 0) _allTlbs.InvalidateAll();
                else _allTlbs.Invalidate((ushort)p[1], PacketFormat.U64(p[2], p[3]), p[4]);
                return ExecResult.Done;

            default:
                return ExecuteWork(p, op, in vm, ref budget);
        }
    }

    /// <summary>COPY, resumable: <see cref="WorkState.Step"/> = 1 once the base cost is paid, Scratch0 = bytes done.</summary>
    private ExecResult ExecuteCopy(ReadOnlySpan<uint> p, in GpuVirtualMemory vm, ref long budget)
    {
        ulong src = PacketFormat.U64(p[1], p[2]), dst = PacketFormat.U64(p[3], p[4]), bytes = PacketFormat.U64(p[5], p[6]);
        ref var work = ref _ctx.Work;
        if (work.Step == 0)
        {
            if (bytes != 0 && src < dst + bytes && dst < src + bytes)
                return PacketFault(FaultReason.OverlappingCopy, 0, Opcode.Copy, dst, ref budget);
            budget -= _costs.CopyBase;
            work.Step = 1;
        }
        ulong done = work.Scratch0;
        long rate = _costs.CopyBytesPerCycle;
        while (done < bytes)
        {
            if (budget <= 0) { work.Scratch0 = done; return ExecResult.OutOfBudget; }
            ulong chunk = Math.Min(bytes - done, (ulong)budget * (ulong)rate);
            var ts = vm.Copy(dst + done, src + done, chunk, out ulong d, out ulong faultVa);
            done += d;
            budget -= (long)((d + (ulong)rate - 1) / (ulong)rate);
            if (ts != TranslationStatus.Ok)
            {
                work.Scratch0 = done;
                return MemoryFault(ts, faultVa, (byte)Opcode.Copy, ref budget);
            }
        }
        work = default;
        return ExecResult.Done;
    }

    /// <summary>FILL, resumable like COPY; the pattern's phase follows the VA, so a resumed fill is identical.</summary>
    private ExecResult ExecuteFill(ReadOnlySpan<uint> p, in GpuVirtualMemory vm, ref long budget)
    {
        ulong dst = PacketFormat.U64(p[1], p[2]), bytes = PacketFormat.U64(p[4], p[5]);
        uint pattern = p[3];
        ref var work = ref _ctx.Work;
        if (work.Step == 0)
        {
            budget -= _costs.FillBase;
            work.Step = 1;
        }
        ulong done = work.Scratch0;
        long rate = _costs.FillBytesPerCycle;
        while (done < bytes)
        {
            if (budget <= 0) { work.Scratch0 = done; return ExecResult.OutOfBudget; }
            ulong chunk = Math.Min(bytes - done, (ulong)budget * (ulong)rate);
            var ts = vm.Fill(dst + done, pattern, chunk, out ulong d, out ulong faultVa);
            done += d;
            budget -= (long)((d + (ulong)rate - 1) / (ulong)rate);
            if (ts != TranslationStatus.Ok)
            {
                work.Scratch0 = done;
                return MemoryFault(ts, faultVa, (byte)Opcode.Fill, ref budget);
            }
        }
        work = default;
        return ExecResult.Done;
    }

    /// <summary>Work packets (DRAW_RECTS, DISPATCH, VIDEO_*): only on their engine, run through the executor seam.</summary>
    private ExecResult ExecuteWork(ReadOnlySpan<uint> p, Opcode op, in GpuVirtualMemory vm, ref long budget)
    {
        if (!LongPacketDispatch.IsWorkOpcode(op, out var engine)) // unreachable for decoded packets; kept as a guard
            return PacketFault(FaultReason.MalformedPacket, (ushort)DecodeError.UnknownOpcode, op, 0, ref budget);
        if (engine != Kind) return PacketFault(FaultReason.WrongEngine, (ushort)engine, op, 0, ref budget);
        var status = LongPacketDispatch.Execute(op, vm, p, ref _ctx.Work, ref budget, _workCosts, out var fault);
        switch (status)
        {
            case WorkStatus.Done: _ctx.Work = default; return ExecResult.Done;
            case WorkStatus.Yielded: return ExecResult.OutOfBudget;
            case WorkStatus.Faulted: return MemoryFault(fault.Status, fault.Va, (byte)op, ref budget);
            default: return PacketFault(FaultReason.MalformedWork, (ushort)status, op, 0, ref budget);
        }
    }

    /// <summary>Byte position of the current packet: free-running ring position or offset inside the DMA buffer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong PacketPosition() => _ctx.InIndirect ? (ulong)_ctx.IndirectOffset << 2 : _ctx.RingPosition;

    private ExecResult PacketFault(FaultReason reason, ushort detail, Opcode op, ulong address, ref long budget)
    {
        bool dma = _ctx.InIndirect;
        Fault(reason, detail, (byte)op, address, dma ? FaultLocation.DmaBuffer : FaultLocation.Ring, PacketPosition(),
            dma ? _ctx.IndirectAddress : _ctx.RingDescriptor, ref budget);
        return ExecResult.Faulted;
    }

    private ExecResult MemoryFault(TranslationStatus status, ulong va, byte op, ref long budget)
    {
        var reason = status == TranslationStatus.PhysicalOutOfRange ? FaultReason.PhysicalOutOfRange : FaultReason.MemoryFault;
        // The MMU's fault log (native-layout.md §7.5). The page-run API reports where and why, not the access kind;
        // a write-protection fault is necessarily a write, anything else is logged as a read.
        _mmu.ReportFault(_tlb.ClientId, _ctx.AddressSpace.Asid, va, status,
            status == TranslationStatus.WriteProtected ? AccessKind.Write : AccessKind.Read);
        Fault(reason, (ushort)status, op, va, _ctx.InIndirect ? FaultLocation.DmaBuffer : FaultLocation.Ring, PacketPosition(),
            _ctx.InIndirect ? _ctx.IndirectAddress : _ctx.RingDescriptor, ref budget);
        return ExecResult.Faulted;
    }

    /// <summary>
    /// Faults the current context only: records the fault in its save area, saves it (its position stays on the
    /// faulting packet, so nothing past it runs and a memory fault is restartable), raises the matching interrupt,
    /// and switches away — even inside a disable-context-switch region (seed 001 §8.3 error escape) — to the
    /// deferred request, the next context, a pending run list held back by the region, or the next run-list entry with
    /// work, else goes idle. A user queue's fault also faults the queue in the scheduling core (only that queue stops).
    /// </summary>
    private void Fault(FaultReason reason, ushort detail, byte opcode, ulong address, FaultLocation where, ulong offset, ulong buffer, ref long budget)
    {
        var record = new FaultRecord
        {
            Reason = reason, Detail = detail, Opcode = opcode, Engine = (byte)Kind, Where = where,
            Offset = offset, Address = address, BufferAddress = buffer,
        };
        _ctx.Fault = record;
        _ctx.Flags |= ContextFlags.Faulted;
        _ctx.Flags &= ~ContextFlags.Waiting;
        LastFault = record;
        LastFaultContext = _ctx.ContextId;
        var source = reason switch
        {
            FaultReason.MemoryFault when detail == (ushort)TranslationStatus.InvalidAddress => InterruptSource.PageFault,
            FaultReason.MemoryFault => InterruptSource.ProtectionFault,
            FaultReason.PrivilegedPacketInLimitedBuffer or FaultReason.PhysicalAddressInLimitedBuffer => InterruptSource.ProtectionFault,
            FaultReason.PhysicalOutOfRange or FaultReason.InvalidRing or FaultReason.RingPointersInvalid => InterruptSource.Error,
            _ => InterruptSource.InvalidCommand,
        };
        _interrupts.Raise(new InterruptInfo(source, (byte)Kind, _ctx.ContextId, address, _ctxAddress, Now(budget)));
        var switchReason = ReasonFor(reason, detail);
        if (_uqActive)
        {
            // A user queue's fault stops that queue only (seed 003); the engine goes on with other work.
            var q = _uq;
            SwitchTo(0, switchReason, ref budget);
            _userQueues!.FaultQueue(q.Doorbell, QueueReasonFor(reason), address);
            return;
        }
        if (RunList.PendingCount != 0 && !_hasDeferred)
        {
            // seed 001 §8.3 error escape inside a disable-context-switch region that had deferred a new run list.
            SwitchTo(0, switchReason, ref budget);
            TakePendingRunList(ref budget);
            return;
        }
        ulong target = _hasDeferred ? _deferred : _next;
        if (_hasDeferred) LeaveRunListMode();
        if (target == _ctxAddress) target = 0;
        if (!_hasDeferred) _next = 0;
        _deferred = 0;
        _hasDeferred = false;
        if (target == 0)
        {
            // Run list: on to the next entry with work, without waiting for the CPU (behaviour 15, 20).
            int idx = FindRunListCandidate();
            if (idx >= 0) target = RunList.Current[idx];
        }
        SwitchTo(target, switchReason, ref budget);
    }
}
