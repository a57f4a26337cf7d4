using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Encoder of VIDEO_DECODE (opcode 0x12, video decode engine; native-layout.md §8A.4). Layout in dwords:
/// <code>
/// 0      header: opcode 0x12, flags 0, length 10
/// 1..2   bitstream VA
/// 3      bitstream length in bytes
/// 4..9   output surface (VA lo, VA hi, pitch, width, height, format)
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class VideoDecodePacket
{
    /// <summary>Packet length in dwords.</summary>
    public const int SizeInDwords = 10;

    /// <summary>Writes the packet; returns the dwords written (10). Allocates nothing.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Encode(Span<uint> destination, ulong bitstreamVa, uint bitstreamBytes, in Surface output)
    {
        if (destination.Length < SizeInDwords) throw new ArgumentException($"needs {SizeInDwords} dwords", nameof(destination));
        destination[0] = PacketHeader.Make(Opcode.VideoDecode, SizeInDwords);
        destination[1] = (uint)bitstreamVa; destination[2] = (uint)(bitstreamVa >> 32);
        destination[3] = bitstreamBytes;
        output.WriteTo(destination.Slice(4, Surface.Dwords));
        return SizeInDwords;
    }
}

/// <summary>
/// Encoder of VIDEO_ENCODE (opcode 0x13, video encode engine; native-layout.md §8A.4). Layout in dwords:
/// <code>
/// 0       header: opcode 0x13, flags 0, length 12
/// 1..6    input surface (VA lo, VA hi, pitch, width, height, format)
/// 7..8    bitstream output VA
/// 9       output capacity in bytes
/// 10..11  VA that receives the bitstream length (uint32) when the packet completes
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class VideoEncodePacket
{
    /// <summary>Packet length in dwords.</summary>
    public const int SizeInDwords = 12;

    /// <summary>Writes the packet; returns the dwords written (12). Allocates nothing.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Encode(Span<uint> destination, in Surface input, ulong outputVa, uint capacityBytes, ulong sizeVa)
    {
        if (destination.Length < SizeInDwords) throw new ArgumentException($"needs {SizeInDwords} dwords", nameof(destination));
        destination[0] = PacketHeader.Make(Opcode.VideoEncode, SizeInDwords);
        input.WriteTo(destination.Slice(1, Surface.Dwords));
        destination[7] = (uint)outputVa; destination[8] = (uint)(outputVa >> 32);
        destination[9] = capacityBytes;
        destination[10] = (uint)sizeVa; destination[11] = (uint)(sizeVa >> 32);
        return SizeInDwords;
    }
}
