using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Packets;

/// <summary>Why a packet failed structural validation (native-layout.md §8.1).</summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum DecodeError : byte
{
    /// <summary>The packet is well formed.</summary>
    None = 0,
    /// <summary>The offset is at or past the end of the stream (nothing to decode).</summary>
    EndOfStream = 1,
    /// <summary>Header length field is 0.</summary>
    ZeroLength = 2,
    /// <summary>The header's length runs past the end of the buffer.</summary>
    LengthPastEnd = 3,
    /// <summary>The opcode byte names no packet.</summary>
    UnknownOpcode = 4,
    /// <summary>The length does not match the opcode's payload size.</summary>
    WrongLength = 5,
    /// <summary>Flags bits that the opcode reserves are set.</summary>
    ReservedFlags = 6,
    /// <summary>A reserved payload bit or field is set.</summary>
    ReservedBits = 7,
    /// <summary>A physical address has reserved bits or an invalid location.</summary>
    BadPhysicalAddress = 8,
    /// <summary>An address or register offset is not aligned as the packet requires.</summary>
    Misaligned = 9,
    /// <summary>A count or register offset is outside its allowed range.</summary>
    OutOfRange = 10,
}

/// <summary>One structurally valid packet: where it is in its stream and what its header says.</summary>
/// <param name="Offset">Dword offset of the header in the stream.</param>
/// <param name="Header">The header dword.</param>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly record struct DecodedPacket(int Offset, PacketHeader Header)
{
    /// <summary>Opcode.</summary>
    public Opcode Opcode => Header.Opcode;

    /// <summary>Flags byte.</summary>
    public byte Flags => Header.Flags;

    /// <summary>Length in dwords including the header.</summary>
    public int LengthDwords => Header.LengthDwords;

    /// <summary>The packet's dwords (header included) inside <paramref name="stream"/>.</summary>
    public ReadOnlySpan<uint> Slice(ReadOnlySpan<uint> stream) => stream.Slice(Offset, LengthDwords);
}

/// <summary>
/// Decoder and validator of the packet format (native-layout.md §8). Checks only structure — lengths, flags,
/// reserved bits, address encodings — never privilege or memory, which depend on the buffer and context
/// (the command processor checks those). Never throws and never allocates, whatever the bytes.
/// Work packets (DRAW_RECTS, DISPATCH, VIDEO_*) are checked here for a sane header only; their payload is
/// validated by the work executor.
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class PacketDecoder
{
    /// <summary>Decodes the packet at <paramref name="offset"/> of <paramref name="stream"/>.</summary>
    /// <returns>True when the packet is well formed; otherwise <paramref name="error"/> says why.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryDecode(ReadOnlySpan<uint> stream, int offset, out DecodedPacket packet, out DecodeError error)
    {
        if ((uint)offset >= (uint)stream.Length)
        {
            packet = default;
            error = DecodeError.EndOfStream;
            return false;
        }
        var header = new PacketHeader(stream[offset]);
        packet = new DecodedPacket(offset, header);
        int len = header.LengthDwords;
        if (len == 0) { error = DecodeError.ZeroLength; return false; }
        if (len > stream.Length - offset) { error = DecodeError.LengthPastEnd; return false; }
        if (IsSimpleValid(header, len))
        {
            error = DecodeError.None;
            return true;
        }
        error = Validate(stream.Slice(offset, len), header);
        return error == DecodeError.None;
    }

    /// <summary>
    /// The decoder's fast path: true for a NOP, a WRITE_DATA with a payload, or a FENCE without flags of its one valid
    /// length — packets valid by their header alone once their length <paramref name="len"/> (non-zero) fits the stream.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsSimpleValid(PacketHeader header, int len)
    {
        uint opAndFlags = header.Raw & 0xFFFF;
        return opAndFlags == (uint)Opcode.Nop
            || (opAndFlags == (uint)Opcode.WriteData && len > PacketFormat.WriteDataFixedDwords)
            || (opAndFlags == (uint)Opcode.Fence && len == PacketFormat.FenceDwords);
    }

    /// <summary>Validates one packet whose length is already known to fit in <paramref name="p"/>.</summary>
    private static DecodeError Validate(ReadOnlySpan<uint> p, PacketHeader h)
    {
        int len = p.Length;
        byte flags = h.Flags;
        switch (h.Opcode)
        {
            case Opcode.Nop:
                return flags == 0 ? DecodeError.None : DecodeError.ReservedFlags;
            case Opcode.WriteData:
                if (len <= PacketFormat.WriteDataFixedDwords) return DecodeError.WrongLength;
                return flags == 0 ? DecodeError.None : DecodeError.ReservedFlags;
            case Opcode.Copy:
            {
                var e = Fixed(len, PacketFormat.CopyDwords, flags);
                if (e != DecodeError.None) return e;
                ulong bytes = PacketFormat.U64(p[5], p[6]);
                return InVaSpace(PacketFormat.U64(p[1], p[2]), bytes) && InVaSpace(PacketFormat.U64(p[3], p[4]), bytes)
                    ? DecodeError.None : DecodeError.OutOfRange;
            }
            case Opcode.Fill:
            {
                var e = Fixed(len, PacketFormat.FillDwords, flags);
                if (e != DecodeError.None) return e;
                return InVaSpace(PacketFormat.U64(p[1], p[2]), PacketFormat.U64(p[4], p[5])) ? DecodeError.None : DecodeError.OutOfRange;
            }
            case Opcode.Timestamp:
            case Opcode.Wait:
            case Opcode.Signal:
                return Fixed(len, PacketFormat.CounterDwords, flags);
            case Opcode.Fence:
                if (len != PacketFormat.FenceDwords) return DecodeError.WrongLength;
                if ((flags & ~(PacketFormat.FenceKindMask | PacketFormat.FencePrivilegedFlag | PacketFormat.FenceInterruptFlag)) != 0 ||
                    (flags & PacketFormat.FenceKindMask) == 3)
                    return DecodeError.ReservedFlags;
                if ((flags & PacketFormat.FencePrivilegedFlag) != 0)
                {
                    if (!PhysicalAddress.TryDecode(PacketFormat.U64(p[1], p[2]), out _)) return DecodeError.BadPhysicalAddress;
                }
                return DecodeError.None;
            case Opcode.Trap:
                return Fixed(len, PacketFormat.TrapDwords, flags);
            case Opcode.WaitFence:
                return Fixed(len, PacketFormat.WaitFenceDwords, flags);
            case Opcode.Indirect:
            {
                var e = Fixed(len, PacketFormat.IndirectDwords, flags);
                if (e != DecodeError.None) return e;
                if ((p[1] & 2) != 0) return DecodeError.Misaligned; // start is dword aligned; bit 0 is the privilege flag
                return p[3] > PacketFormat.MaxIndirectDwords ? DecodeError.OutOfRange : DecodeError.None;
            }
            case Opcode.EnableContextSwitch:
            case Opcode.DisableContextSwitch:
            case Opcode.WaitForFlip:
                return Fixed(len, PacketFormat.HeaderOnlyDwords, flags);
            case Opcode.Flip:
            {
                if (len != PacketFormat.FlipDwords) return DecodeError.WrongLength;
                if ((flags & ~PacketFormat.FlipVsyncFlag) != 0) return DecodeError.ReservedFlags;
                return PhysicalAddress.TryDecode(PacketFormat.U64(p[1], p[2]), out _) ? DecodeError.None : DecodeError.BadPhysicalAddress;
            }
            case Opcode.RegWrite:
            {
                var e = Fixed(len, PacketFormat.RegWriteDwords, flags);
                if (e != DecodeError.None) return e;
                uint reg = p[1];
                if ((reg & 3) != 0) return DecodeError.Misaligned;
                return IsRegWriteTarget(reg) ? DecodeError.None : DecodeError.OutOfRange;
            }
            case Opcode.UpdatePageTable:
            {
                if (len < PacketFormat.UpdatePageTableFixedDwords + 2 || ((len - PacketFormat.UpdatePageTableFixedDwords) & 1) != 0)
                    return DecodeError.WrongLength;
                if (flags != 0) return DecodeError.ReservedFlags;
                ulong pa = PacketFormat.U64(p[1], p[2]);
                if (!PhysicalAddress.TryDecode(pa, out _)) return DecodeError.BadPhysicalAddress;
                return (pa & 7) != 0 ? DecodeError.Misaligned : DecodeError.None;
            }
            case Opcode.TlbFlush:
            {
                var e = Fixed(len, PacketFormat.TlbFlushDwords, flags);
                if (e != DecodeError.None) return e;
                uint asidWord = p[1];
                if ((asidWord & PacketFormat.TlbFlushAllAsidsBit) != 0)
                    return (asidWord & ~PacketFormat.TlbFlushAllAsidsBit) == 0 && p[2] == 0 && p[3] == 0 && p[4] == 0
                        ? DecodeError.None : DecodeError.ReservedBits;
                if (asidWord > 0xFFFF) return DecodeError.ReservedBits;
                ulong va = PacketFormat.U64(p[2], p[3]);
                if ((va & 0xFFF) != 0) return DecodeError.Misaligned;
                return (va >> PacketFormat.VaBits) != 0 ? DecodeError.OutOfRange : DecodeError.None;
            }
            case Opcode.DrawRects:
            case Opcode.Dispatch:
            case Opcode.VideoDecode:
            case Opcode.VideoEncode:
                return DecodeError.None;
            default:
                return DecodeError.UnknownOpcode;
        }
    }

    /// <summary>True for BAR offsets a REG_WRITE may target: the display and clock/power blocks (seed 001 §7.2).</summary>
    internal static bool IsRegWriteTarget(uint barOffset) =>
        (barOffset >= MmioMap.DisplayBase && barOffset < MmioMap.DisplayBase + MmioMap.BlockSize) ||
        (barOffset >= MmioMap.ClockPowerBase && barOffset < MmioMap.ClockPowerBase + MmioMap.BlockSize);

    /// <summary>[va, va + bytes) lies inside the 48-bit VA space (so no range arithmetic can overflow).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool InVaSpace(ulong va, ulong bytes) =>
        va <= VaLimit && bytes <= VaLimit - va;

    private const ulong VaLimit = 1UL << PacketFormat.VaBits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static DecodeError Fixed(int len, int expected, byte flags) =>
        len != expected ? DecodeError.WrongLength : flags != 0 ? DecodeError.ReservedFlags : DecodeError.None;
}
