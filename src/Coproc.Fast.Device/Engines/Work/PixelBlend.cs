using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Source-over blending of 32-bit pixels (native-layout.md §8A.2), vectorised with <see cref="Vector256"/> where the
/// host accelerates it and scalar otherwise — both paths run the same integer arithmetic, so results are
/// bit-identical on every host (same inputs ⇒ same bytes).
/// </summary>
/// <remarks>
/// Design: for a source alpha <c>a</c> every channel becomes <c>div255(s·a + d·(255 − a))</c>, where the source's
/// alpha is taken as 255 for the alpha channel itself (so alpha becomes <c>a + d_a·(1 − a)</c>), and
/// <c>div255(x) = (t + (t &gt;&gt; 8)) &gt;&gt; 8</c> with <c>t = x + 128</c>, which equals x / 255 rounded to nearest for
/// every x ≤ 255·255. Channels are processed two at a time in 16-bit fields of a 32-bit lane (R,B and A,G):
/// each product and sum stays ≤ 65407, so no field carries into the next. The format does not matter — alpha is
/// byte 3 in both formats and the other channels are treated alike.
/// </remarks>
internal static unsafe class PixelBlend
{
    private const uint FieldMask = 0x00FF00FF;

    /// <summary>Blends one source pixel over one destination pixel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint SourceOver(uint destination, uint source)
    {
        uint a = source >> 24, inv = 255 - a;
        uint s = source | 0xFF000000;
        uint rb = (s & FieldMask) * a + (destination & FieldMask) * inv;
        uint ag = ((s >> 8) & FieldMask) * a + ((destination >> 8) & FieldMask) * inv;
        return Div255Fields(rb) | (Div255Fields(ag) << 8);
    }

    /// <summary>Exchanges bytes 0 and 2 (BGRA8888 ↔ RGBA8888).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint SwapRedBlue(uint pixel) => (pixel & 0xFF00FF00) | ((pixel >> 16) & 0xFF) | ((pixel & 0xFF) << 16);

    /// <summary>Blends <paramref name="source"/> over <paramref name="destination"/> element-wise (lengths must match).</summary>
    /// <param name="destination">Pixels blended in place.</param>
    /// <param name="source">Source pixels.</param>
    /// <param name="swapSourceRedBlue">Convert the source between BGRA8888 and RGBA8888 first.</param>
    public static void SourceOver(Span<uint> destination, ReadOnlySpan<uint> source, bool swapSourceRedBlue)
    {
        if (source.Length != destination.Length) throw new ArgumentException("source and destination lengths differ", nameof(source));
        fixed (uint* d = destination) fixed (uint* s = source) SourceOverRow(d, s, (nuint)destination.Length, swapSourceRedBlue);
    }

    /// <summary>The scalar path of <see cref="SourceOver(Span{uint}, ReadOnlySpan{uint}, bool)"/> (used as the reference).</summary>
    public static void SourceOverScalar(Span<uint> destination, ReadOnlySpan<uint> source, bool swapSourceRedBlue)
    {
        if (source.Length != destination.Length) throw new ArgumentException("source and destination lengths differ", nameof(source));
        fixed (uint* d = destination) fixed (uint* s = source) ScalarRow(d, s, 0, (nuint)destination.Length, swapSourceRedBlue);
    }

    /// <summary>Blends one constant pixel over every element of <paramref name="destination"/>.</summary>
    public static void SourceOverConstant(Span<uint> destination, uint source)
    {
        fixed (uint* d = destination) SourceOverConstantRow(d, (nuint)destination.Length, source);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Div255Fields(uint x)
    {
        uint t = x + 0x00800080;
        return ((t + ((t >> 8) & FieldMask)) >> 8) & FieldMask;
    }

    /// <summary>Blends n source pixels over n destination pixels (native memory).</summary>
    internal static void SourceOverRow(uint* dst, uint* src, nuint n, bool swap)
    {
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && n >= (nuint)Vector256<uint>.Count)
        {
            var mask = Vector256.Create(FieldMask);
            var alphaOne = Vector256.Create(0xFF000000u);
            var c255 = Vector256.Create(255u);
            for (; i + (nuint)Vector256<uint>.Count <= n; i += (nuint)Vector256<uint>.Count)
            {
                var s = Vector256.Load(src + i);
                if (swap) s = SwapRedBlue(s);
                var d = Vector256.Load(dst + i);
                Vector256.Store(Blend(d, s, mask, alphaOne, c255), dst + i);
            }
        }
        ScalarRow(dst, src, i, n, swap);
    }

    /// <summary>Blends one constant pixel over n destination pixels (native memory).</summary>
    internal static void SourceOverConstantRow(uint* dst, nuint n, uint source)
    {
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && n >= (nuint)Vector256<uint>.Count)
        {
            var mask = Vector256.Create(FieldMask);
            var alphaOne = Vector256.Create(0xFF000000u);
            var c255 = Vector256.Create(255u);
            var s = Vector256.Create(source);
            for (; i + (nuint)Vector256<uint>.Count <= n; i += (nuint)Vector256<uint>.Count)
                Vector256.Store(Blend(Vector256.Load(dst + i), s, mask, alphaOne, c255), dst + i);
        }
        for (; i < n; i++) dst[i] = SourceOver(dst[i], source);
    }

    private static void ScalarRow(uint* dst, uint* src, nuint i, nuint n, bool swap)
    {
        if (swap) for (; i < n; i++) dst[i] = SourceOver(dst[i], SwapRedBlue(src[i]));
        else for (; i < n; i++) dst[i] = SourceOver(dst[i], src[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Blend(Vector256<uint> d, Vector256<uint> s, Vector256<uint> mask, Vector256<uint> alphaOne, Vector256<uint> c255)
    {
        var a = Vector256.ShiftRightLogical(s, 24);
        var inv = c255 - a;
        s |= alphaOne;
        var rb = (s & mask) * a + (d & mask) * inv;
        var ag = (Vector256.ShiftRightLogical(s, 8) & mask) * a + (Vector256.ShiftRightLogical(d, 8) & mask) * inv;
        return Div255Fields(rb, mask) | Vector256.ShiftLeft(Div255Fields(ag, mask), 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Div255Fields(Vector256<uint> x, Vector256<uint> mask)
    {
        var t = x + Vector256.Create(0x00800080u);
        return Vector256.ShiftRightLogical(t + (Vector256.ShiftRightLogical(t, 8) & mask), 8) & mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> SwapRedBlue(Vector256<uint> p) =>
        (p & Vector256.Create(0xFF00FF00u)) | (Vector256.ShiftRightLogical(p, 16) & Vector256.Create(0xFFu)) |
        Vector256.ShiftLeft(p & Vector256.Create(0xFFu), 16);

    /// <summary>Copies n pixels exchanging bytes 0 and 2 (format conversion on copy).</summary>
    internal static void CopySwapRow(uint* dst, uint* src, nuint n)
    {
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + (nuint)Vector256<uint>.Count <= n; i += (nuint)Vector256<uint>.Count)
                Vector256.Store(SwapRedBlue(Vector256.Load(src + i)), dst + i);
        for (; i < n; i++) dst[i] = SwapRedBlue(src[i]);
    }
}
