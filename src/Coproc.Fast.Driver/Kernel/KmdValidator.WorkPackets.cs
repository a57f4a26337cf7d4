using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.Kernel;

public static partial class KmdValidator
{
    /// <summary>
    /// An engine work packet (native-layout.md §8A, §16.1): only on a context of its engine; its length checked so every
    /// operand lies inside it; then each surface / buffer VA is an operand (offset inside its allocation) whose whole
    /// accessed range — the surface's span (pitch × (height − 1) + width × 4), the buffer's length — must lie inside
    /// the referenced allocation. The device still checks everything else (formats, group sizes, bitstreams) and
    /// faults only the submitting context.
    /// </summary>
    private static void WorkPacket(Opcode opcode, ReadOnlySpan<uint> s, EngineKind? engine, int off,
        ReadOnlySpan<ResourceReference> resources, KmdProcess owner, ushort maxResourceId, Span<PatchSite> sites, ref int next)
    {
        long at = (long)off * 4;
        if (engine is not { } e)
            throw new CommandBufferRejectedException(CommandBufferRejection.UnsupportedPacket, at, $"{opcode} needs a context of an engine");
        PacketFormat.TryGetWorkEngine(opcode, out var wanted);
        if (wanted != e)
            throw new CommandBufferRejectedException(CommandBufferRejection.WrongEngine, at, $"{opcode} runs on the {wanted} engine, the context is {e}'s");
        switch (opcode)
        {
            case Opcode.DrawRects:
            {
                // §8A.2: 14 + 6·n dwords; target (written, also read by blends), then the source when present (read).
                if (s.Length < DrawRectsPacket.FixedDwords || (long)s.Length != DrawRectsPacket.FixedDwords + 6L * s[13])
                    throw Malformed(at, $"DRAW_RECTS of {s.Length} dwords");
                Operand(s, 1, SurfaceBytes(s, 1), write: true, off, resources, owner, maxResourceId, sites, ref next);
                if (s[7 + 3] != 0 && s[7 + 4] != 0)
                    Operand(s, 7, SurfaceBytes(s, 7), write: false, off, resources, owner, maxResourceId, sites, ref next);
                break;
            }
            case Opcode.Dispatch:
            {
                // §8A.3: A is read for N elements (bytes for CRC32C); B is written: N elements, or the 8- / 4-byte result.
                if (s.Length != DispatchPacket.SizeInDwords) throw Malformed(at, $"DISPATCH of {s.Length} dwords");
                ulong n = s[2];
                (ulong a, ulong b) = (DispatchKernel)s[1] switch
                {
                    DispatchKernel.Saxpy or DispatchKernel.PrefixSumU32 => (n * 4, n * 4),
                    DispatchKernel.ReduceSumU32 or DispatchKernel.ReduceSumF32 => (n * 4, 8UL),
                    DispatchKernel.Crc32C => (n, 4UL),
                    _ => throw Malformed(at, $"unknown DISPATCH kernel {s[1]}"),
                };
                Operand(s, 4, a, write: false, off, resources, owner, maxResourceId, sites, ref next);
                Operand(s, 6, b, write: true, off, resources, owner, maxResourceId, sites, ref next);
                break;
            }
            case Opcode.VideoDecode:
                // §8A.4: bitstream (read, its length), then the output surface (written).
                if (s.Length != VideoDecodePacket.SizeInDwords) throw Malformed(at, $"VIDEO_DECODE of {s.Length} dwords");
                Operand(s, 1, s[3], write: false, off, resources, owner, maxResourceId, sites, ref next);
                Operand(s, 4, SurfaceBytes(s, 4), write: true, off, resources, owner, maxResourceId, sites, ref next);
                break;
            case Opcode.VideoEncode:
                // §8A.4: input surface (read), bitstream output (written, its capacity), size (written, 4 bytes).
                if (s.Length != VideoEncodePacket.SizeInDwords) throw Malformed(at, $"VIDEO_ENCODE of {s.Length} dwords");
                Operand(s, 1, SurfaceBytes(s, 1), write: false, off, resources, owner, maxResourceId, sites, ref next);
                Operand(s, 7, s[9], write: true, off, resources, owner, maxResourceId, sites, ref next);
                Operand(s, 10, 4, write: true, off, resources, owner, maxResourceId, sites, ref next);
                break;
        }
    }

    // §8A.1: the bytes from pixel (0, 0) to one past the last pixel (0 for an empty surface).
    private static ulong SurfaceBytes(ReadOnlySpan<uint> s, int at)
    {
        uint pitch = s[at + 2], width = s[at + 3], height = s[at + 4];
        return width == 0 || height == 0 ? 0 : (ulong)pitch * (height - 1) + (ulong)width * 4;
    }

    private static CommandBufferRejectedException Malformed(long at, string detail) =>
        new(CommandBufferRejection.MalformedWorkPacket, at, detail);
}
