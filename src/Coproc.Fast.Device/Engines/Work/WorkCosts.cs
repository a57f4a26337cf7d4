using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Cycle costs of the long packets (base + per byte / per primitive / per group). A unit of work
/// (one rectangle, one thread group, one bitstream chunk) costs a fixed setup plus its size divided by the engine's
/// throughput, rounded up. Throughputs of 0 are treated as 1 so a bad configuration cannot divide by zero.
/// </summary>
/// <remarks>
/// The defaults model a mid-range GPU clocked near 1 GHz (native-layout.md §8A.5): 16 render back-end pixels
/// per clock for plain writes (fill), 8 for read-modify-write (copy, blend), a 32-lane SIMD for compute, and
/// fixed-function video blocks that consume 8 bitstream bytes and produce 16 pixels per clock (decode) or
/// analyse 4 pixels per clock (encode).
/// </remarks>
/// <param name="PrimitiveSetup">Cycles to set up one DRAW_RECTS primitive (clip, scissor, fetch). Default 32.</param>
/// <param name="FillPixelsPerCycle">Solid-fill pixels written per cycle. Default 16.</param>
/// <param name="CopyPixelsPerCycle">Copied pixels per cycle (read + write). Default 8.</param>
/// <param name="BlendPixelsPerCycle">Blended pixels per cycle (read + read + write). Default 8.</param>
/// <param name="GroupLaunch">Cycles to launch one DISPATCH thread group. Default 16.</param>
/// <param name="ElementsPerCycle">Kernel elements processed per cycle. Default 32.</param>
/// <param name="ChunkSetup">Cycles to start one video bitstream chunk or encode segment. Default 24.</param>
/// <param name="DecodeBytesPerCycle">Bitstream bytes parsed per cycle (decode). Default 8.</param>
/// <param name="DecodePixelsPerCycle">Pixels written per cycle (decode). Default 16.</param>
/// <param name="EncodePixelsPerCycle">Pixels analysed per cycle (encode). Default 4.</param>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly record struct WorkCosts(
    long PrimitiveSetup,
    uint FillPixelsPerCycle,
    uint CopyPixelsPerCycle,
    uint BlendPixelsPerCycle,
    long GroupLaunch,
    uint ElementsPerCycle,
    long ChunkSetup,
    uint DecodeBytesPerCycle,
    uint DecodePixelsPerCycle,
    uint EncodePixelsPerCycle)
{
    /// <summary>Host: the documented defaults (native-layout.md §8A.5).</summary>
    public static WorkCosts Default { get; } = new(
        PrimitiveSetup: 32, FillPixelsPerCycle: 16, CopyPixelsPerCycle: 8, BlendPixelsPerCycle: 8,
        GroupLaunch: 16, ElementsPerCycle: 32,
        ChunkSetup: 24, DecodeBytesPerCycle: 8, DecodePixelsPerCycle: 16, EncodePixelsPerCycle: 4);

    /// <summary>ceil(<paramref name="count"/> / <paramref name="perCycle"/>), with a rate of 0 read as 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long Cycles(ulong count, uint perCycle)
    {
        ulong rate = perCycle == 0 ? 1u : perCycle;
        return (long)Math.Min((count + rate - 1) / rate, (ulong)long.MaxValue / 4);
    }
}
