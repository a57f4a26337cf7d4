using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>What a DRAW_RECTS primitive does to its pixels (native-layout.md §8A.2).</summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum RectMode : byte
{
    /// <summary>Write a constant colour.</summary>
    Fill = 0,
    /// <summary>Copy from the source surface (converting the format if it differs).</summary>
    Copy = 1,
    /// <summary>Blend the source surface over the target (source-over, non-premultiplied).</summary>
    BlendSource = 2,
    /// <summary>Blend a constant colour over the target (source-over, non-premultiplied).</summary>
    BlendColor = 3,
}

/// <summary>
/// One axis-aligned rectangle of a DRAW_RECTS packet: 6 dwords (native-layout.md §8A.2). The rectangle may extend
/// past the target (or the source): it is clipped, never rejected.
/// </summary>
/// <param name="X">Left edge in target pixels (may be negative).</param>
/// <param name="Y">Top edge in target pixels (may be negative).</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Mode">What to do.</param>
/// <param name="Argument">Fill/BlendColor: the colour as 0xAARRGGBB; Copy/BlendSource: source x (bits 0..15) and y (16..31)
/// of the pixel that lands on (X, Y).</param>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly record struct RectPrimitive(int X, int Y, uint Width, uint Height, RectMode Mode, uint Argument)
{
    /// <summary>Dwords per primitive.</summary>
    public const int Dwords = 6;

    /// <summary>A solid fill with an 0xAARRGGBB colour.</summary>
    public static RectPrimitive Fill(int x, int y, uint width, uint height, uint argb) => new(x, y, width, height, RectMode.Fill, argb);

    /// <summary>A copy from source pixel (sx, sy).</summary>
    public static RectPrimitive Copy(int x, int y, uint width, uint height, ushort sx, ushort sy) =>
        new(x, y, width, height, RectMode.Copy, sx | ((uint)sy << 16));

    /// <summary>A source-over blend of the source from pixel (sx, sy).</summary>
    public static RectPrimitive BlendSource(int x, int y, uint width, uint height, ushort sx, ushort sy) =>
        new(x, y, width, height, RectMode.BlendSource, sx | ((uint)sy << 16));

    /// <summary>A source-over blend of an 0xAARRGGBB colour.</summary>
    public static RectPrimitive BlendColor(int x, int y, uint width, uint height, uint argb) => new(x, y, width, height, RectMode.BlendColor, argb);
}

/// <summary>
/// Encoder of DRAW_RECTS (opcode 0x10, render engine; native-layout.md §8A.2). Layout in dwords:
/// <code>
/// 0       header: opcode 0x10, flags 0, length 14 + 6·n
/// 1..6    render target surface (VA lo, VA hi, pitch, width, height, format)
/// 7..12   source surface (all zero when no primitive reads a source)
/// 13      n = number of primitives
/// 14+6i   primitive i: x (int32), y (int32), width, height, mode (bits 0..7; other bits 0), colour or source x|y&lt;&lt;16
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class DrawRectsPacket
{
    /// <summary>Dwords before the first primitive (header included).</summary>
    public const int FixedDwords = 14;

    /// <summary>Largest primitive count that fits a 65535-dword packet.</summary>
    public const int MaxPrimitives = (0xFFFF - FixedDwords) / RectPrimitive.Dwords;

    /// <summary>Packet length in dwords for <paramref name="primitiveCount"/> primitives.</summary>
    public static int SizeInDwords(int primitiveCount) => FixedDwords + RectPrimitive.Dwords * primitiveCount;

    /// <summary>Writes the packet; returns the dwords written. Allocates nothing.</summary>
    /// <exception cref="ArgumentException">Too many primitives or <paramref name="destination"/> too small.</exception>
    public static int Encode(Span<uint> destination, in Surface target, in Surface source, ReadOnlySpan<RectPrimitive> primitives)
    {
        if (primitives.Length > MaxPrimitives)
            throw new ArgumentException($"at most {MaxPrimitives} primitives fit one packet", nameof(primitives));
        int length = SizeInDwords(primitives.Length);
        if (destination.Length < length) throw new ArgumentException($"needs {length} dwords", nameof(destination));
        destination[0] = PacketHeader.Make(Opcode.DrawRects, length);
        target.WriteTo(destination.Slice(1, Surface.Dwords));
        source.WriteTo(destination.Slice(7, Surface.Dwords));
        destination[13] = (uint)primitives.Length;
        for (int i = 0; i < primitives.Length; i++)
        {
            var p = primitives[i];
            var d = destination.Slice(FixedDwords + i * RectPrimitive.Dwords, RectPrimitive.Dwords);
            d[0] = (uint)p.X; d[1] = (uint)p.Y; d[2] = p.Width; d[3] = p.Height; d[4] = (uint)p.Mode; d[5] = p.Argument;
        }
        return length;
    }

    /// <summary>Writes a packet without a source surface (fills and colour blends only).</summary>
    public static int Encode(Span<uint> destination, in Surface target, ReadOnlySpan<RectPrimitive> primitives) =>
        Encode(destination, target, default, primitives);
}
