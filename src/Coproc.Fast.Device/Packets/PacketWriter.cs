using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Packets;

/// <summary>
/// Zero-allocation encoder of command packets (native-layout.md §8) into a caller-owned dword span — a DMA
/// buffer being filled by the user-mode driver, a ring being filled by the kernel driver, or a test's scratch.
/// Shaped like <c>IBufferWriter</c>: every method appends one whole packet or throws
/// <see cref="PacketBufferFullException"/> without writing anything; <see cref="GetSpan"/> / <see cref="Advance"/>
/// let other encoders (the work packets) write in place.
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public ref struct PacketWriter
{
    private readonly Span<uint> _buffer;
    private int _written;

    /// <summary>Creates a writer that appends at the start of <paramref name="buffer"/>.</summary>
    public PacketWriter(Span<uint> buffer)
    {
        _buffer = buffer;
        _written = 0;
    }

    /// <summary>Dwords written so far.</summary>
    public readonly int Written => _written;

    /// <summary>Dwords still free.</summary>
    public readonly int Remaining => _buffer.Length - _written;

    /// <summary>The packets written so far.</summary>
    public readonly ReadOnlySpan<uint> WrittenSpan => _buffer[.._written];

    /// <summary>A span of at least <paramref name="dwords"/> free dwords at the write position.</summary>
    public readonly Span<uint> GetSpan(int dwords)
    {
        if ((uint)dwords > (uint)Remaining) ThrowFull(dwords);
        return _buffer.Slice(_written);
    }

    /// <summary>Commits <paramref name="dwords"/> dwords written through <see cref="GetSpan"/>.</summary>
    public void Advance(int dwords)
    {
        if ((uint)dwords > (uint)Remaining) ThrowFull(dwords);
        _written += dwords;
    }

    /// <summary>NOP of <paramref name="lengthDwords"/> dwords (padding; payload dwords are written as zero).</summary>
    public void Nop(int lengthDwords = 1)
    {
        uint header = PacketHeader.Make(Opcode.Nop, lengthDwords);
        var s = Reserve(lengthDwords);
        s[0] = header;
        s[1..].Clear();
    }

    /// <summary>WRITE_DATA: write <paramref name="data"/> (at least one dword) at <paramref name="va"/>.</summary>
    public void WriteData(ulong va, scoped ReadOnlySpan<uint> data)
    {
        if (data.IsEmpty) throw new ArgumentException("WRITE_DATA needs at least one dword", nameof(data));
        var s = Reserve(PacketFormat.WriteDataFixedDwords + data.Length);
        s[0] = PacketHeader.Make(Opcode.WriteData, s.Length);
        Put64(s, 1, va);
        data.CopyTo(s[3..]);
    }

    /// <summary>WRITE_DATA of one dword.</summary>
    public void WriteData(ulong va, uint value)
    {
        var s = Reserve(PacketFormat.WriteDataFixedDwords + 1);
        s[0] = PacketHeader.Make(Opcode.WriteData, s.Length);
        Put64(s, 1, va);
        s[3] = value;
    }

    /// <summary>COPY <paramref name="bytes"/> from <paramref name="srcVa"/> to <paramref name="dstVa"/> (ranges must not overlap).</summary>
    public void Copy(ulong dstVa, ulong srcVa, ulong bytes)
    {
        var s = Reserve(PacketFormat.CopyDwords);
        s[0] = PacketHeader.Make(Opcode.Copy, s.Length);
        Put64(s, 1, srcVa);
        Put64(s, 3, dstVa);
        Put64(s, 5, bytes);
    }

    /// <summary>FILL <paramref name="bytes"/> at <paramref name="dstVa"/> with a repeating 32-bit pattern.</summary>
    public void Fill(ulong dstVa, uint pattern, ulong bytes)
    {
        var s = Reserve(PacketFormat.FillDwords);
        s[0] = PacketHeader.Make(Opcode.Fill, s.Length);
        Put64(s, 1, dstVa);
        s[3] = pattern;
        Put64(s, 4, bytes);
    }

    /// <summary>TIMESTAMP: write the 64-bit device cycle counter at <paramref name="va"/>.</summary>
    public void Timestamp(ulong va) => Address(Opcode.Timestamp, va);

    /// <summary>Regular FENCE: write <paramref name="value"/> at a VA of the context once earlier work is visible.</summary>
    public void Fence(ulong va, ulong value, FenceKind kind = FenceKind.Write, bool interrupt = false) =>
        FenceRaw(va, value, kind, privileged: false, interrupt);

    /// <summary>Privileged FENCE to an encoded physical address (privileged buffers only, seed 001 §8.1).</summary>
    public void PrivilegedFence(ulong encodedPhysicalAddress, ulong value, FenceKind kind = FenceKind.Write, bool interrupt = false) =>
        FenceRaw(encodedPhysicalAddress, value, kind, privileged: true, interrupt);

    private void FenceRaw(ulong address, ulong value, FenceKind kind, bool privileged, bool interrupt)
    {
        var s = Reserve(PacketFormat.FenceDwords);
        byte flags = (byte)((byte)kind & PacketFormat.FenceKindMask);
        if (privileged) flags |= PacketFormat.FencePrivilegedFlag;
        if (interrupt) flags |= PacketFormat.FenceInterruptFlag;
        s[0] = PacketHeader.Make(Opcode.Fence, s.Length, flags);
        Put64(s, 1, address);
        Put64(s, 3, value);
    }

    /// <summary>TRAP with an id reported in the interrupt information.</summary>
    public void Trap(uint id)
    {
        var s = Reserve(PacketFormat.TrapDwords);
        s[0] = PacketHeader.Make(Opcode.Trap, s.Length);
        s[1] = id;
    }

    /// <summary>WAIT on the 32-bit counter at <paramref name="counterVa"/> (seed 001 §8.4).</summary>
    public void Wait(ulong counterVa) => Address(Opcode.Wait, counterVa);

    /// <summary>SIGNAL the 32-bit counter at <paramref name="counterVa"/>.</summary>
    public void Signal(ulong counterVa) => Address(Opcode.Signal, counterVa);

    /// <summary>WAIT_FENCE: stall until the 64-bit fence at <paramref name="fenceVa"/> reaches <paramref name="value"/> (wrap-safe).</summary>
    public void WaitFence(ulong fenceVa, ulong value)
    {
        var s = Reserve(PacketFormat.WaitFenceDwords);
        s[0] = PacketHeader.Make(Opcode.WaitFence, s.Length);
        Put64(s, 1, fenceVa);
        Put64(s, 3, value);
    }

    /// <summary>INDIRECT (ring only): run the DMA buffer at <paramref name="va"/> (dword aligned) of <paramref name="lengthDwords"/> dwords.</summary>
    public void Indirect(ulong va, uint lengthDwords, bool privileged)
    {
        if ((va & 3) != 0) throw new ArgumentException("DMA buffers start on a dword boundary", nameof(va));
        var s = Reserve(PacketFormat.IndirectDwords);
        s[0] = PacketHeader.Make(Opcode.Indirect, s.Length);
        Put64(s, 1, va | (privileged ? PacketFormat.IndirectPrivilegedBit : 0));
        s[3] = lengthDwords;
    }

    /// <summary>Privileged: ENABLE_CONTEXT_SWITCH.</summary>
    public void EnableContextSwitch() => Reserve(1)[0] = PacketHeader.Make(Opcode.EnableContextSwitch, 1);

    /// <summary>Privileged: DISABLE_CONTEXT_SWITCH.</summary>
    public void DisableContextSwitch() => Reserve(1)[0] = PacketHeader.Make(Opcode.DisableContextSwitch, 1);

    /// <summary>Privileged: FLIP to the surface at an encoded physical address, at once or at the next vsync.</summary>
    public void Flip(ulong encodedSurfaceAddress, bool vsync)
    {
        var s = Reserve(PacketFormat.FlipDwords);
        s[0] = PacketHeader.Make(Opcode.Flip, s.Length, vsync ? PacketFormat.FlipVsyncFlag : (byte)0);
        Put64(s, 1, encodedSurfaceAddress);
    }

    /// <summary>Privileged: WAIT_FOR_FLIP — stall until no vsync flip is latched.</summary>
    public void WaitForFlip() => Reserve(1)[0] = PacketHeader.Make(Opcode.WaitForFlip, 1);

    /// <summary>Privileged: REG_WRITE of a 32-bit display or clock/power register at a BAR offset.</summary>
    public void RegWrite(uint barOffset, uint value)
    {
        var s = Reserve(PacketFormat.RegWriteDwords);
        s[0] = PacketHeader.Make(Opcode.RegWrite, s.Length);
        s[1] = barOffset;
        s[2] = value;
    }

    /// <summary>Privileged: UPDATE_PAGE_TABLE — write <paramref name="entries"/> starting at the PTE at an encoded physical address.</summary>
    public void UpdatePageTable(ulong encodedPteAddress, scoped ReadOnlySpan<ulong> entries)
    {
        if (entries.IsEmpty) throw new ArgumentException("UPDATE_PAGE_TABLE needs at least one entry", nameof(entries));
        var s = Reserve(PacketFormat.UpdatePageTableFixedDwords + 2 * entries.Length);
        s[0] = PacketHeader.Make(Opcode.UpdatePageTable, s.Length);
        Put64(s, 1, encodedPteAddress);
        for (int i = 0; i < entries.Length; i++) Put64(s, 3 + 2 * i, entries[i]);
    }

    /// <summary>Privileged: TLB_FLUSH of <paramref name="pages"/> pages from <paramref name="va"/> in one address space (pages = 0: the whole ASID).</summary>
    public void TlbFlush(ushort asid, ulong va, uint pages) => TlbFlushRaw(asid, va, pages);

    /// <summary>Privileged: TLB_FLUSH of every entry of every address space.</summary>
    public void TlbFlushAll() => TlbFlushRaw(PacketFormat.TlbFlushAllAsidsBit, 0, 0);

    private void TlbFlushRaw(uint asidWord, ulong va, uint pages)
    {
        var s = Reserve(PacketFormat.TlbFlushDwords);
        s[0] = PacketHeader.Make(Opcode.TlbFlush, s.Length);
        s[1] = asidWord;
        Put64(s, 2, va);
        s[4] = pages;
    }

    private void Address(Opcode op, ulong va)
    {
        var s = Reserve(3);
        s[0] = PacketHeader.Make(op, 3);
        Put64(s, 1, va);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put64(Span<uint> s, int at, ulong v)
    {
        s[at] = (uint)v;
        s[at + 1] = (uint)(v >> 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<uint> Reserve(int dwords)
    {
        if ((uint)dwords > (uint)Remaining) ThrowFull(dwords);
        var s = _buffer.Slice(_written, dwords);
        _written += dwords;
        return s;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private readonly void ThrowFull(int dwords) => throw new PacketBufferFullException(dwords, Remaining);
}

/// <summary>A packet did not fit in the space left in a command buffer; nothing was written.</summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class PacketBufferFullException(int neededDwords, int remainingDwords)
    : Exception($"packet of {neededDwords} dwords does not fit: {remainingDwords} dwords left")
{
    /// <summary>Dwords the packet needed.</summary>
    public int NeededDwords { get; } = neededDwords;

    /// <summary>Dwords that were free.</summary>
    public int RemainingDwords { get; } = remainingDwords;
}
