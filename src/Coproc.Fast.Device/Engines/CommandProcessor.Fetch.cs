using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines;

internal sealed unsafe partial class CommandProcessor
{
    /// <summary>
    /// Fetches and executes packets from the ring, from the saved position up to the write pointer or the ring's
    /// end (packets never straddle it), and writes the read pointer back once they retired.
    /// </summary>
    private RunStatus RunRing(ref long budget)
    {
        ulong pos = _ctx.RingPosition;
        ulong wp = Volatile.Read(ref *_ringWritePtr);
        if (wp == pos)
        {
            // seed 001 §5.6: re-sample the tail before reporting the context empty.
            wp = Volatile.Read(ref *_ringWritePtr);
            if (wp == pos) return ReportEmpty();
        }
        _ctx.Flags &= ~ContextFlags.Empty;
        ulong pending = wp - pos;
        if (pending > _ringSize || ((pending | pos) & 3) != 0)
        {
            Fault(FaultReason.RingPointersInvalid, 0, 0xFF, wp, FaultLocation.Ring, pos, _ctx.RingDescriptor, ref budget);
            return RunStatus.Faulted;
        }
        ulong index = pos & (_ringSize - 1);
        ulong bytes = Math.Min(pending, _ringSize - index);
        var window = new ReadOnlySpan<uint>(_ring + index, (int)(bytes >> 2));
        int off = 0;
        RunStatus status = RunStatus.Continue;
        // Design: simple packets run in RunSimplePackets (below), which keeps the offset, budget and packet count in
        // registers and hands them back once (the ring position follows the offset); this loop takes the rest (any other
        // packet, a TLB miss, a fault, the window's end) and writes budget, position and count back before each of those.
        long b = budget;
        long executed = 0;
        bool privileged = _ringPrivileged;
        while (true)
        {
            int from = off;
            off = RunSimplePackets(window, off, ref b, ref executed, privileged);
            pos += (ulong)(off - from) << 2;
            if (off >= window.Length || b <= 0)
            {
                if (off < window.Length) status = RunStatus.OutOfBudget;
                budget = b; _ctx.RingPosition = pos; PacketsExecuted += executed;
                break;
            }
            if (!PacketDecoder.TryDecode(window, off, out var packet, out var error))
            {
                budget = b; _ctx.RingPosition = pos; PacketsExecuted += executed;
                byte op = (byte)window[off];
                Fault(FaultReason.MalformedPacket, (ushort)error, op, 0, FaultLocation.Ring, _ctx.RingPosition, _ctx.RingDescriptor, ref budget);
                return RunStatus.Faulted;
            }
            // Not simple, or simple and not executable on the fast path (RunSimplePackets stopped here): the general path.
            int len = packet.LengthDwords;
            var p = packet.Slice(window);
            budget = b; _ctx.RingPosition = pos; PacketsExecuted += executed; executed = 0;
            var r = ExecuteGeneral(p, packet.Header, privileged, inRing: true, ref budget);
            if (r == ExecResult.Done)
            {
                off += len;
                _ctx.RingPosition += (ulong)len << 2;
                PacketsExecuted++;
            }
            else
            {
                status = AfterPacket(r, len, inRing: true, ref budget);
                if (status != RunStatus.Continue || r == ExecResult.EnterIndirect) break;
                off += len;
            }
            b = budget;
            pos = _ctx.RingPosition;
        }
        // A fault (or a switch after ENABLE_CONTEXT_SWITCH) already saved the context that ran — its ReadPtr included — and
        // may have loaded another one, possibly a context still marked Faulted whose ring is not bound: only a context
        // that is still the one fetched from publishes here.
        if (status != RunStatus.Faulted) PublishReadPtr();
        return status;
    }

    // Design: the simple-packet loop of RunRing in a method of its own, holding nothing but the packets' own work, so that
    // the JIT keeps the offset, budget and packet count in registers. Inside RunRing, next to the general path's calls,
    // it spilled the offset and the count to the stack, and their store-to-load forwarding on every packet
    // bounded the loop (docs/performance.md, goal 3 in the eleventh session). It takes a packet only when the decoder's
    // fast path accepts its header (PacketDecoder.IsSimpleValid: the packet is valid as it stands) and TryExecuteSimple
    // executes it; at any other packet it returns, and RunRing decodes that one fully and runs it on the general path,
    // exactly as before. Budget and count are written back once, on return. Returns the offset reached; the caller
    // advances its ring position (4 bytes a dword) or DMA-buffer offset by the dwords it moved. RunRing and RunDmaBuffer
    // share it. Runs of the three most common packets go through RunPlainPackets first (below).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int RunSimplePackets(ReadOnlySpan<uint> window, int off, ref long budget, ref long executedCount, bool privileged)
    {
        long b = budget;
        long executed = 0;
        while (true)
        {
            off = RunPlainPackets(window, off, ref b, ref executed, privileged);
            if ((uint)off >= (uint)window.Length || b <= 0) break;
            // A packet the plain loop did not take: a simple one of another shape (a longer WRITE_DATA, a padding NOP, a
            // page the plain loop leaves to TryWritePointer), or the general path's.
            var header = new PacketHeader(window[off]);
            int len = header.LengthDwords;
            if (len == 0 || len > window.Length - off || !PacketDecoder.IsSimpleValid(header, len)) break;
            long cost = TryExecuteSimple(window.Slice(off, len), header, privileged);
            if (cost < 0) break;
            b -= cost;
            off += len;
            executed++;
        }
        budget = b;
        executedCount += executed;
        return off;
    }

    // Two dwords of the stream as one little-endian 64-bit value (PacketFormat.U64 of the pair) in one load; the caller
    // checked that both lie in the window.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong U64At(ref uint stream, int index) =>
        Unsafe.ReadUnaligned<ulong>(ref Unsafe.As<uint, byte>(ref Unsafe.Add(ref stream, index)));

    // The headers RunPlainPackets compares whole: each fixes opcode, flags (none) and length at once.
    private const uint PlainNop = (1u << 16) | (uint)Opcode.Nop;
    private const uint PlainWriteData = ((uint)(PacketFormat.WriteDataFixedDwords + 1) << 16) | (uint)Opcode.WriteData;
    private const uint PlainFence = ((uint)PacketFormat.FenceDwords << 16) | (uint)Opcode.Fence;

    // Design: the loop for the three packets a command-processor-bound stream is made of — a 1-dword NOP, a WRITE_DATA of
    // one dword and a FENCE without flags — each recognised by comparing its whole header with a constant, so the next
    // packet's offset is the previous one plus a constant on a predicted branch, not plus a length loaded from the
    // stream: the header load is no longer on the loop's dependency chain, and consecutive packets overlap in the CPU
    // (docs/performance.md, goal 3 in the twelfth session). It holds no call (TryPointerWithoutCall returns null where
    // TryWritePointer would call out), so the JIT keeps offset, budget and count in registers. Same writes, costs and
    // order as TryExecuteSimple; at any other packet, or a write it cannot place, it returns with nothing of that packet
    // done. Invariant: every packet it takes is one TryExecuteSimple would have taken with the same effect.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int RunPlainPackets(ReadOnlySpan<uint> window, int off, ref long budget, ref long executedCount, bool privileged)
    {
        long b = budget;
        long executed = 0;
        long nopCost = _costs.Nop;
        long writeDataCost = _costs.WriteDataBase + _costs.WriteDataPerDword;
        long fenceCost = _costs.Fence;
        var hits = (privileged ? ref _vmPrivileged : ref _vmLimited).WriteHits();
        ref uint stream = ref MemoryMarshal.GetReference(window);
        while ((uint)off < (uint)window.Length && b > 0)
        {
            uint raw = Unsafe.Add(ref stream, off);
            if (raw == PlainNop)
            {
                b -= nopCost;
                off++;
            }
            else if (raw == PlainWriteData && window.Length - off >= PacketFormat.WriteDataFixedDwords + 1)
            {
                byte* dst = hits.TryPointer(U64At(ref stream, off + 1), 4);
                if (dst == null) break;
                Unsafe.WriteUnaligned(dst, Unsafe.Add(ref stream, off + 3));
                b -= writeDataCost;
                off += PacketFormat.WriteDataFixedDwords + 1;
            }
            else if (raw == PlainFence && window.Length - off >= PacketFormat.FenceDwords)
            {
                byte* dst = hits.TryPointer(U64At(ref stream, off + 1), 8);
                if (dst == null) break;
                // seed 001 §8.1: in-order execution already made every earlier write visible; one 8-byte store.
                Unsafe.WriteUnaligned(dst, U64At(ref stream, off + 3));
                b -= fenceCost;
                off += PacketFormat.FenceDwords;
            }
            else break;
            executed++;
        }
        budget = b;
        executedCount += executed;
        return off;
    }

    /// <summary>
    /// Fetches and executes packets from the current DMA buffer through the context's address space (privileged
    /// accesses when bit 0 of its start address is set, seed 001 §7.4 option 3); returns to the ring at its end.
    /// </summary>
    private RunStatus RunDmaBuffer(ref long budget)
    {
        uint len = _ctx.IndirectLength;
        uint off = _ctx.IndirectOffset;
        if (off >= len)
        {
            // The DMA buffer retired: the ring's INDIRECT retires with it.
            _ctx.Flags &= ~ContextFlags.InIndirect;
            _ctx.RingPosition += PacketFormat.IndirectDwords * 4;
            _ctx.IndirectAddress = 0;
            _ctx.IndirectLength = _ctx.IndirectOffset = 0;
            PublishReadPtr();
            return RunStatus.Continue;
        }
        bool privileged = (_ctx.IndirectAddress & PacketFormat.IndirectPrivilegedBit) != 0;
        ulong start = _ctx.IndirectAddress & ~3UL;
        ulong va = start + ((ulong)off << 2);
        ref readonly var vm = ref privileged ? ref _vmPrivileged : ref _vmLimited;
        var ts = vm.TranslateRun(va, (ulong)(len - off) << 2, AccessKind.Read, out var run);
        if (ts != TranslationStatus.Ok)
        {
            MemoryFault(ts, va, 0xFF, ref budget);
            return RunStatus.Faulted;
        }
        if (run.IsDummy)
        {
            // The dummy page reads as zeros: a zero header is a zero-length packet.
            Fault(FaultReason.MalformedPacket, (ushort)DecodeError.ZeroLength, 0, va, FaultLocation.DmaBuffer, (ulong)off << 2, _ctx.IndirectAddress, ref budget);
            return RunStatus.Faulted;
        }
        var window = new ReadOnlySpan<uint>(vm.PointerOf(run), (int)(run.Length >> 2));
        int w = 0;
        // Same design as RunRing: simple packets run in RunSimplePackets; budget, buffer offset and packet count are written
        // back before anything else runs.
        long b = budget;
        uint offset = _ctx.IndirectOffset;
        long executed = 0;
        while (true)
        {
            int from = w;
            w = RunSimplePackets(window, w, ref b, ref executed, privileged);
            offset += (uint)(w - from);
            if (w >= window.Length || b <= 0)
            {
                budget = b; _ctx.IndirectOffset = offset; PacketsExecuted += executed;
                return w < window.Length ? RunStatus.OutOfBudget : RunStatus.Continue;
            }
            ReadOnlySpan<uint> packetSpan;
            PacketHeader header;
            budget = b; _ctx.IndirectOffset = offset; PacketsExecuted += executed; executed = 0;
            if (PacketDecoder.TryDecode(window, w, out var packet, out var error))
            {
                // Not simple, or simple and not executable on the fast path (RunSimplePackets stopped here): the general path.
                packetSpan = packet.Slice(window);
                header = packet.Header;
            }
            else
            {
                if (error == DecodeError.LengthPastEnd && (ulong)window.Length < (ulong)(len - _ctx.IndirectOffset) + (ulong)w)
                {
                    // The packet crosses into a physically discontiguous page: gather it (slow path).
                    int gathered = Gather(in vm, window[w], ref budget);
                    if (gathered == 0) return RunStatus.Faulted;
                    packetSpan = new ReadOnlySpan<uint>(_staging, 0, gathered);
                    header = new PacketHeader(packetSpan[0]);
                }
                else
                {
                    Fault(FaultReason.MalformedPacket, (ushort)error, (byte)window[w], 0, FaultLocation.DmaBuffer,
                        (ulong)_ctx.IndirectOffset << 2, _ctx.IndirectAddress, ref budget);
                    return RunStatus.Faulted;
                }
            }
            int plen = header.LengthDwords;
            var r = ExecuteGeneral(packetSpan, header, privileged, inRing: false, ref budget);
            if (r == ExecResult.Done)
            {
                _ctx.IndirectOffset += (uint)plen;
                w += plen;
                PacketsExecuted++;
            }
            else
            {
                var st = AfterPacket(r, plen, inRing: false, ref budget);
                if (st != RunStatus.Continue) return st;
                w += plen;
            }
            b = budget;
            offset = _ctx.IndirectOffset;
        }
    }

    /// <summary>Copies a packet that spans discontiguous pages into the staging buffer and validates it there; returns its length, 0 after a fault.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int Gather(in GpuVirtualMemory vm, uint headerDword, ref long budget)
    {
        var header = new PacketHeader(headerDword);
        uint remaining = _ctx.IndirectLength - _ctx.IndirectOffset;
        ulong bufferOffset = (ulong)_ctx.IndirectOffset << 2;
        int plen = header.LengthDwords;
        if ((uint)plen > remaining)
        {
            Fault(FaultReason.MalformedPacket, (ushort)DecodeError.LengthPastEnd, (byte)headerDword, 0, FaultLocation.DmaBuffer, bufferOffset, _ctx.IndirectAddress, ref budget);
            return 0;
        }
        var dst = _staging.AsSpan(0, plen);
        ulong va = (_ctx.IndirectAddress & ~3UL) + bufferOffset;
        var ts = vm.Read(va, MemoryMarshal.AsBytes(dst), out ulong faultVa);
        if (ts != TranslationStatus.Ok)
        {
            MemoryFault(ts, faultVa, (byte)headerDword, ref budget);
            return 0;
        }
        if (!PacketDecoder.TryDecode(dst, 0, out _, out var error))
        {
            Fault(FaultReason.MalformedPacket, (ushort)error, (byte)headerDword, 0, FaultLocation.DmaBuffer, bufferOffset, _ctx.IndirectAddress, ref budget);
            return 0;
        }
        return plen;
    }

    /// <summary>Handles every packet outcome other than <see cref="ExecResult.Done"/>.</summary>
    private RunStatus AfterPacket(ExecResult r, int plen, bool inRing, ref long budget)
    {
        switch (r)
        {
            case ExecResult.EnterIndirect:
                PacketsExecuted++;
                return RunStatus.Continue; // caller leaves the ring window; the next Run iteration fetches the DMA buffer
            case ExecResult.OutOfBudget: return RunStatus.OutOfBudget;
            case ExecResult.Yield: _ctx.Flags |= ContextFlags.Waiting; return RunStatus.Yield;
            case ExecResult.Stall: _ctx.Flags |= ContextFlags.Waiting; return RunStatus.Stall;
            case ExecResult.Faulted: return RunStatus.Faulted;
            case ExecResult.DoneThenSwitch:
            {
                // ENABLE_CONTEXT_SWITCH with a deferred request: retire the packet, then switch (seed 001 §8.3).
                if (inRing) _ctx.RingPosition += (ulong)plen << 2;
                else _ctx.IndirectOffset += (uint)plen;
                PacketsExecuted++;
                if (_hasDeferred)
                {
                    ulong target = _deferred;
                    _deferred = 0;
                    _hasDeferred = false;
                    LeaveRunListMode();
                    _driverSwitch = true;
                    SwitchTo(target, SwitchReason.Requested, ref budget);
                    _driverSwitch = false;
                }
                else TakePendingRunList(ref budget); // behaviour 28: the run list recorded while disabled
                return RunStatus.Faulted; // the window belongs to the old context: restart the fetch
            }
            default: return RunStatus.Continue;
        }
    }

    private RunStatus ReportEmpty()
    {
        // The empty interrupt is raised by the caller only when the engine stays on this context (with a next context
        // the switch interrupt, reason Empty, reports it), so remember whether the emptiness is new.
        _emptyNew = (_ctx.Flags & ContextFlags.Empty) == 0;
        _ctx.Flags |= ContextFlags.Empty;
        return RunStatus.Empty;
    }
}
