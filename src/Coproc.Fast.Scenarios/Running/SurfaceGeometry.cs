using Coproc.Fast.Device.Engines.Work;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// The picture an allocation holds when a scenario draws into it or flips it: the largest common 16:9 size (or a
/// narrow strip for small buffers) of packed 32-bit B8G8R8A8 pixels that fits its bytes (native-layout.md §12:
/// the display scans PITCH × HEIGHT bytes).
/// </summary>
internal readonly record struct SurfaceGeometry(uint Width, uint Height)
{
    private static readonly (uint W, uint H)[] Sizes = [(1920, 1080), (1280, 720), (960, 540), (640, 360), (320, 180), (160, 90)];

    /// <summary>Bytes per line.</summary>
    public uint Pitch => Width * 4;

    /// <summary>Bytes of the whole picture.</summary>
    public ulong Bytes => (ulong)Pitch * Height;

    /// <summary>The geometry for an allocation of <paramref name="bytes"/>.</summary>
    public static SurfaceGeometry For(ulong bytes)
    {
        foreach (var (w, h) in Sizes)
            if ((ulong)w * h * 4 <= bytes) return new SurfaceGeometry(w, h);
        uint width = 64;
        return new SurfaceGeometry(width, (uint)Math.Max(1, bytes / (width * 4)));
    }

    /// <summary>The surface at <paramref name="va"/> (ring-3 packets carry VAs).</summary>
    public Surface At(ulong va) => new(va, Pitch, Width, Height, PixelFormat.Bgra8888);
}
