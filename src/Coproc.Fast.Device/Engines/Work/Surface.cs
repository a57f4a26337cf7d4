using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>32-bit pixel formats of render targets and surfaces (native-layout.md §8A.1). Alpha is byte 3 in both.</summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum PixelFormat : uint
{
    /// <summary>Bytes B, G, R, A in memory: the little-endian dword is 0xAARRGGBB.</summary>
    Bgra8888 = 0,
    /// <summary>Bytes R, G, B, A in memory: the little-endian dword is 0xAABBGGRR.</summary>
    Rgba8888 = 1,
}

/// <summary>
/// A 2-D surface of 32-bit pixels in a context's GPU VA space, as it appears in work packets: 6 dwords
/// (native-layout.md §8A.1): VA low, VA high, pitch in bytes, width, height, format.
/// </summary>
/// <param name="Va">GPU VA of pixel (0, 0); 4-byte aligned.</param>
/// <param name="PitchBytes">Bytes from one row to the next; a multiple of 4, at least <c>Width * 4</c>.</param>
/// <param name="Width">Pixels per row, at most <see cref="MaxDimension"/>.</param>
/// <param name="Height">Rows, at most <see cref="MaxDimension"/>.</param>
/// <param name="Format">Pixel format.</param>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly record struct Surface(ulong Va, uint PitchBytes, uint Width, uint Height, PixelFormat Format)
{
    /// <summary>Dwords a surface takes in a packet.</summary>
    public const int Dwords = 6;

    /// <summary>Largest width or height (the usual maximum texture size of the class of GPU modelled).</summary>
    public const uint MaxDimension = 16384;

    /// <summary>VAs are 48-bit (native-layout.md §4.1); no surface byte may lie at or above 2^48.</summary>
    internal const ulong VaLimit = 1UL << 48;

    /// <summary>A tightly packed surface (pitch = width × 4).</summary>
    public static Surface Packed(ulong va, uint width, uint height, PixelFormat format = PixelFormat.Bgra8888) =>
        new(va, width * 4, width, height, format);

    /// <summary>True when the surface has no pixels.</summary>
    public bool IsEmpty => Width == 0 || Height == 0;

    /// <summary>Bytes from the first pixel to one past the last (0 when empty).</summary>
    public ulong SpanBytes => IsEmpty ? 0 : (ulong)PitchBytes * (Height - 1) + (ulong)Width * 4;

    /// <summary>
    /// True when the device accepts the surface: known format, 4-byte aligned VA and pitch, pitch covers a row,
    /// dimensions within <see cref="MaxDimension"/>, and every byte below 2^48 (no address arithmetic can wrap).
    /// </summary>
    public bool IsWellFormed =>
        Format is PixelFormat.Bgra8888 or PixelFormat.Rgba8888 &&
        (Va & 3) == 0 && (PitchBytes & 3) == 0 &&
        Width <= MaxDimension && Height <= MaxDimension &&
        (Height <= 1 || PitchBytes >= Width * 4) &&
        Va < VaLimit && SpanBytes <= VaLimit - Va;

    /// <summary>VA of pixel (x, y); callers keep x, y inside the surface.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong PixelVa(uint x, uint y) => Va + (ulong)y * PitchBytes + (ulong)x * 4;

    /// <summary>Writes the 6-dword packet form.</summary>
    internal void WriteTo(Span<uint> d)
    {
        d[0] = (uint)Va; d[1] = (uint)(Va >> 32); d[2] = PitchBytes; d[3] = Width; d[4] = Height; d[5] = (uint)Format;
    }

    /// <summary>Reads the 6-dword packet form (no validation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Surface ReadFrom(ReadOnlySpan<uint> p) =>
        new(p[0] | ((ulong)p[1] << 32), p[2], p[3], p[4], (PixelFormat)p[5]);
}
