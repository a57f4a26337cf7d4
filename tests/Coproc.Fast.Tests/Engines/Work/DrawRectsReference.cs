using Coproc.Fast.Device.Engines.Work;

namespace Coproc.Fast.Tests.Engines.Work;

/// <summary>An independent per-pixel model of DRAW_RECTS (written from native-layout.md §8A.2, not from the device code).</summary>
internal static class DrawRectsReference
{
    /// <summary>Source-over per channel: round(x / 255) = floor((2x + 255) / 510); alpha = a + d_a·(1 − a).</summary>
    public static uint Blend(uint d, uint s)
    {
        uint a = s >> 24;
        uint Ch(int shift)
        {
            uint sc = shift == 24 ? 255 : (s >> shift) & 255, dc = (d >> shift) & 255;
            return (2 * (sc * a + dc * (255 - a)) + 255) / 510;
        }
        return Ch(0) | (Ch(8) << 8) | (Ch(16) << 16) | (Ch(24) << 24);
    }

    public static uint Swap(uint p) => (p & 0xFF00FF00) | ((p >> 16) & 0xFF) | ((p & 0xFF) << 16);

    /// <summary>Draws into <paramref name="target"/> (pixels with a stride of pitch / 4) from <paramref name="source"/>.</summary>
    public static void Draw(uint[] target, in Surface t, uint[] source, in Surface s, ReadOnlySpan<RectPrimitive> rects)
    {
        int tStride = (int)(t.PitchBytes / 4), sStride = s.IsEmpty ? 0 : (int)(s.PitchBytes / 4);
        foreach (var r in rects)
        {
            for (long ty = r.Y; ty < r.Y + (long)r.Height; ty++)
            for (long tx = r.X; tx < r.X + (long)r.Width; tx++)
            {
                if (tx < 0 || ty < 0 || tx >= t.Width || ty >= t.Height) continue;
                ref uint d = ref target[ty * tStride + tx];
                uint colour = t.Format == PixelFormat.Rgba8888 ? Swap(r.Argument) : r.Argument;
                uint sp = 0;
                if (r.Mode is RectMode.Copy or RectMode.BlendSource)
                {
                    long sx = (r.Argument & 0xFFFF) + (tx - r.X), sy = (r.Argument >> 16) + (ty - r.Y);
                    if (sx >= s.Width || sy >= s.Height) continue;
                    sp = source[sy * sStride + sx];
                    if (s.Format != t.Format) sp = Swap(sp);
                }
                d = r.Mode switch
                {
                    RectMode.Fill => colour,
                    RectMode.Copy => sp,
                    RectMode.BlendSource => Blend(d, sp),
                    _ => Blend(d, colour),
                };
            }
        }
    }
}

/// <summary>A random DRAW_RECTS scenario: target and source surfaces with random contents and random primitives.</summary>
internal sealed class DrawRectsScenario
{
    public const ulong TargetVa = 0x0000_0010_0000_0100, SourceVa = 0x0000_0020_0000_0000;

    public DrawRectsScenario(int seed, int maxRects = 24)
    {
        var rng = new Random(seed);
        uint tw = (uint)rng.Next(1, 160), th = (uint)rng.Next(1, 90);
        Target = new Surface(TargetVa, (tw + (uint)rng.Next(0, 9)) * 4, tw, th, (PixelFormat)rng.Next(2));
        uint sw = (uint)rng.Next(1, 120), sh = (uint)rng.Next(1, 80);
        Source = new Surface(SourceVa, (sw + (uint)rng.Next(0, 5)) * 4, sw, sh, (PixelFormat)rng.Next(2));
        TargetPixels = Pixels(rng, (int)(Target.PitchBytes / 4 * th));
        SourcePixels = Pixels(rng, (int)(Source.PitchBytes / 4 * sh));
        Rects = new RectPrimitive[rng.Next(1, maxRects + 1)];
        for (int i = 0; i < Rects.Length; i++)
        {
            var mode = (RectMode)rng.Next(4);
            uint arg = mode is RectMode.Fill or RectMode.BlendColor ? (uint)rng.NextInt64(0, 1L << 32)
                : (uint)rng.Next(0, (int)sw + 4) | ((uint)rng.Next(0, (int)sh + 4) << 16);
            Rects[i] = new RectPrimitive(rng.Next(-40, (int)tw + 10), rng.Next(-30, (int)th + 10),
                (uint)rng.Next(0, 120), (uint)rng.Next(0, 70), mode, arg);
        }
        Packet = new uint[DrawRectsPacket.SizeInDwords(Rects.Length)];
        DrawRectsPacket.Encode(Packet, Target, Source, Rects);
    }

    private static uint[] Pixels(Random rng, int n)
    {
        var p = new uint[n];
        // Mix alpha extremes (0, 255) with random values so blends hit every path.
        for (int i = 0; i < n; i++)
        {
            uint v = (uint)rng.NextInt64(0, 1L << 32);
            int k = rng.Next(4);
            p[i] = k == 0 ? v & 0x00FFFFFF : k == 1 ? v | 0xFF000000 : v;
        }
        return p;
    }

    public Surface Target { get; }
    public Surface Source { get; }
    public uint[] TargetPixels { get; }
    public uint[] SourcePixels { get; }
    public RectPrimitive[] Rects { get; }
    public uint[] Packet { get; }

    public int TargetBytes => TargetPixels.Length * 4;

    public TestGpuSpace CreateSpace()
    {
        var space = new TestGpuSpace();
        space.Map(TargetVa, (ulong)TargetBytes);
        space.Map(SourceVa, (ulong)SourcePixels.Length * 4, Device.Memory.MemoryLocation.System);
        Reset(space);
        return space;
    }

    public void Reset(TestGpuSpace space)
    {
        space.Write<uint>(TargetVa, TargetPixels);
        space.Write<uint>(SourceVa, SourcePixels);
    }

    public uint[] Expected()
    {
        var e = (uint[])TargetPixels.Clone();
        DrawRectsReference.Draw(e, Target, SourcePixels, Source, Rects);
        return e;
    }
}
