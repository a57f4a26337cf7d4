using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Packets;

/// <summary>
/// The first dword of every packet (native-layout.md §8): bits 0..7 opcode, bits 8..15 flags
/// (meaning per opcode), bits 16..31 total packet length in dwords including the header (1..65535).
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly struct PacketHeader(uint raw)
{
    /// <summary>The raw dword.</summary>
    [SuppressMessage("Design", "CA1051:Do not declare visible instance fields", Justification = "Mirrors the packet header dword of native-layout.md §8 byte for byte; a public field of the API (a property would change its binary shape).")]
    public readonly uint Raw = raw;

    /// <summary>Opcode byte.</summary>
    public Opcode Opcode
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Opcode)(Raw & 0xFF);
    }

    /// <summary>Per-opcode flags.</summary>
    public byte Flags
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (byte)(Raw >> 8);
    }

    /// <summary>Length in dwords including this header; 0 is malformed.</summary>
    public int LengthDwords
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (int)(Raw >> 16);
    }

    /// <summary>Builds a header.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Make(Opcode opcode, int lengthDwords, byte flags = 0)
    {
        if ((uint)(lengthDwords - 1) > 0xFFFE) ThrowLength(lengthDwords);
        return (uint)opcode | ((uint)flags << 8) | ((uint)lengthDwords << 16);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowLength(int lengthDwords) =>
        throw new ArgumentOutOfRangeException(nameof(lengthDwords), lengthDwords, "packet length must be 1..65535 dwords");
}
