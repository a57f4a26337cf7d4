namespace Coproc.Fast.Device.Engines;

/// <summary>The device's engines (SEEDS.md 003), each with its own command processor, context and TLB.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum EngineKind : byte
{
    /// <summary>3D/render engine (DRAW_RECTS).</summary>
    Render = 0,
    /// <summary>Compute engine (DISPATCH).</summary>
    Compute = 1,
    /// <summary>Copy engine (COPY/FILL; also runs paging buffers).</summary>
    Copy = 2,
    /// <summary>Video decode engine.</summary>
    VideoDecode = 3,
    /// <summary>Video encode engine.</summary>
    VideoEncode = 4,
}

/// <summary>Engine constants.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class Engines
{
    /// <summary>Number of engines.</summary>
    public const int Count = 5;
}
