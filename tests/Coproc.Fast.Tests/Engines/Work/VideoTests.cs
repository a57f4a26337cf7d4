using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Engines.Work;

public class VideoTests
{
    private const ulong In = 0x0000_0003_0000_0000, Out = 0x0000_0005_0000_0000, Size = 0x0000_0006_0000_0000;

    /// <summary>An independent CRLE decoder (native-layout.md §8A.4) used to check the device's encoder.</summary>
    internal static uint[]? ReferenceDecode(ReadOnlySpan<byte> stream, int pixels)
    {
        var o = new List<uint>();
        int i = 0;
        while (i < stream.Length)
        {
            int c = stream[i++], n = (c & 0x7F) + 1;
            if (c >= 0x80)
            {
                if (i + 4 > stream.Length) return null;
                uint v = BitConverter.ToUInt32(stream.Slice(i, 4));
                i += 4;
                for (int k = 0; k < n; k++) o.Add(v);
            }
            else
            {
                if (i + 4 * n > stream.Length) return null;
                for (int k = 0; k < n; k++, i += 4) o.Add(BitConverter.ToUInt32(stream.Slice(i, 4)));
            }
        }
        return o.Count == pixels ? o.ToArray() : null;
    }

    private static uint[] DecodePacket(uint bytes, Surface output)
    {
        var p = new uint[VideoDecodePacket.SizeInDwords];
        VideoDecodePacket.Encode(p, In, bytes, output);
        return p;
    }

    [Test]
    public void Decode_ExpandsRepeatAndLiteralTokens_WithRunsCrossingRows_AndKeepsPadding()
    {
        using var space = new TestGpuSpace();
        space.Map(In, 4096); space.Map(Out, 4096);
        byte[] stream =
        [
            0x84, 0xAA, 0xBB, 0xCC, 0xDD,                  // REPEAT 5 × 0xDDCCBBAA: row 0 and two pixels of row 1
            0x01, 1, 0, 0, 0, 2, 0, 0, 0,                  // LITERAL 1, 2
            0x81, 7, 0, 0, 0,                              // REPEAT 2 × 7
        ];
        space.Write(In, stream);
        space.Write<uint>(Out, Enumerable.Repeat(0xEEEEEEEEu, 12).ToArray());
        var surface = new Surface(Out, 4 * 4, 3, 3, PixelFormat.Bgra8888); // one padding pixel per row

        Assert.That(space.Run(DecodePacket((uint)stream.Length, surface)), Is.EqualTo(WorkStatus.Done));

        const uint V = 0xDDCCBBAA, Pad = 0xEEEEEEEE;
        Assert.That(space.ReadU32(Out, 12), Is.EqualTo(new uint[] { V, V, V, Pad, V, V, 1, Pad, 2, 7, 7, Pad }));
    }

    [Test]
    public void Encode_WritesTheDocumentedTokens_AndTheStreamLength()
    {
        using var space = new TestGpuSpace();
        space.Map(In, 4096); space.Map(Out, 4096); space.Map(Size, 4096);
        // Row 0: A A A B C D D; row 1: E F F F F F F (pitch 8: one padding pixel per row). Runs never cross rows.
        space.Write<uint>(In, [0xA, 0xA, 0xA, 0xB, 0xC, 0xD, 0xD, 0x99, 0xE, 0xF, 0xF, 0xF, 0xF, 0xF, 0xF, 0x99]);
        var p = new uint[VideoEncodePacket.SizeInDwords];
        VideoEncodePacket.Encode(p, new Surface(In, 8 * 4, 7, 2, PixelFormat.Bgra8888), Out, 4096, Size);

        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Done));

        byte[] expected = [0x82, 0xA, 0, 0, 0, 0x01, 0xB, 0, 0, 0, 0xC, 0, 0, 0, 0x81, 0xD, 0, 0, 0, 0x00, 0xE, 0, 0, 0, 0x85, 0xF, 0, 0, 0];
        Assert.That(BitConverter.ToUInt32(space.Read(Size, 4)), Is.EqualTo((uint)expected.Length));
        Assert.That(space.Read(Out, expected.Length), Is.EqualTo(expected));
    }

    [Test]
    public void DecodeOfEncode_ReproducesTheSurface([Values(1, 2, 3, 4, 5, 6)] int seed)
    {
        var rng = new Random(seed);
        uint w = (uint)rng.Next(1, 2300), h = (uint)rng.Next(1, 6);
        var pixels = RandomRunnyPixels(rng, (int)(w * h));
        using var space = new TestGpuSpace();
        ulong cap = VideoBitstream.MaxEncodedBytes(w, h);
        space.Map(In, w * h * 4); space.Map(Out, cap); space.Map(Size, 4);
        space.Write<uint>(In, pixels);
        var enc = new uint[VideoEncodePacket.SizeInDwords];
        VideoEncodePacket.Encode(enc, Surface.Packed(In, w, h), Out, (uint)cap, Size);
        Assert.That(space.Run(enc), Is.EqualTo(WorkStatus.Done));
        uint size = BitConverter.ToUInt32(space.Read(Size, 4));
        Assert.That(size, Is.LessThanOrEqualTo(cap));
        Assert.That(ReferenceDecode(space.Read(Out, (int)size), pixels.Length), Is.EqualTo(pixels), "the independent decoder agrees");

        const ulong Decoded = 0x0000_0007_0000_0000;
        space.Map(Decoded, w * h * 4);
        var dec = new uint[VideoDecodePacket.SizeInDwords];
        VideoDecodePacket.Encode(dec, Out, size, Surface.Packed(Decoded, w, h));
        Assert.That(space.Run(dec), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.ReadU32(Decoded, pixels.Length), Is.EqualTo(pixels));
    }

    internal static uint[] RandomRunnyPixels(Random rng, int n)
    {
        var p = new uint[n];
        for (int i = 0; i < n;)
        {
            uint v = (uint)rng.NextInt64(0, 1L << 32);
            int run = rng.Next(3) == 0 ? rng.Next(1, 300) : 1;
            for (int k = 0; k < run && i < n; k++) p[i++] = v;
        }
        return p;
    }

    [Test]
    public void MalformedStreams_StopBeforeWritingOutsideTheSurface()
    {
        var surface = new Surface(Out, 5 * 4, 4, 2, PixelFormat.Bgra8888); // 8 pixels, one padding pixel per row
        var cases = new (string Why, byte[] Stream)[]
        {
            ("run past the surface", [0x88, 1, 2, 3, 4]),
            ("literal past the surface", [0x08, .. new byte[36]]),
            ("truncated literal", [0x03, 1, 0, 0, 0, 2, 0]),
            ("truncated repeat", [0x87, 1, 2]),
            ("stream ends before the surface", [0x83, 1, 1, 1, 1]),
            ("bytes after the last pixel", [0x87, 1, 1, 1, 1, 0x00]),
        };
        foreach (var (why, stream) in cases)
        {
            using var space = new TestGpuSpace();
            space.Map(In, 4096); space.Map(Out, 4096);
            space.Write(In, stream);
            space.Write<uint>(Out, Enumerable.Repeat(0xEEEEEEEEu, 10).ToArray());
            var before = space.SnapshotOutsideMappings();

            Assert.That(space.Run(DecodePacket((uint)stream.Length, surface)), Is.EqualTo(WorkStatus.Malformed), why);

            var after = space.ReadU32(Out, 1024);
            Assert.That(after[4], Is.EqualTo(0xEEEEEEEEu), why + ": padding");
            Assert.That(after.Skip(9).All(v => v == (v == 0xEEEEEEEEu ? v : 0u)), why + ": beyond the surface");
            space.AssertUnchangedOutsideMappings(before, why);
        }
    }

    [Test]
    public void Encode_IntoTooSmallAnOutput_IsMalformed_AndStaysInsideTheCapacity()
    {
        using var space = new TestGpuSpace();
        space.Map(In, 4096); space.Map(Out, 4096); space.Map(Size, 4096);
        space.Write<uint>(In, Enumerable.Range(1, 100).Select(i => (uint)i).ToArray());
        space.Write<uint>(Out, Enumerable.Repeat(0xEEEEEEEEu, 1024).ToArray());
        var p = new uint[VideoEncodePacket.SizeInDwords];
        VideoEncodePacket.Encode(p, Surface.Packed(In, 10, 10), Out, 64, Size);

        Assert.That(space.Run(p), Is.EqualTo(WorkStatus.Malformed));
        Assert.That(space.ReadU32(Out + 64, 1008).All(v => v == 0xEEEEEEEEu), "nothing past the capacity");
    }

    [Test]
    public void Decode_FaultOnAnUnmappedBitstreamPage_ResumesAtTheToken()
    {
        using var space = new TestGpuSpace();
        // Mostly literal pixels (few runs), so the 3000-pixel stream spans the bitstream's first page and reaches the second.
        var rng = new Random(5);
        var pixels = Enumerable.Range(0, 3000).Select(i => i % 7 == 0 ? 0xFF00FF00u : (uint)rng.Next()).ToArray();
        var stream = new byte[VideoBitstream.MaxSegmentBytes(1024) * 3];
        int len = 0;
        for (int s = 0; s < 3000; s += 1024) len += VideoBitstream.EncodeSegment(pixels.AsSpan(s, Math.Min(1024, 3000 - s)), stream.AsSpan(len));
        space.Map(In, 4096); space.Map(Out, 3000 * 4);
        space.Write(In, stream.AsSpan(0, Math.Min(len, 4096)));
        var p = DecodePacket((uint)len, Surface.Packed(Out, 3000, 1));
        var state = default(WorkState);
        Assert.That(len, Is.GreaterThan(4096), "the stream must reach the second page");

        Assert.That(space.Run(p, ref state), Is.EqualTo(WorkStatus.Faulted));
        Assert.That(space.LastFault, Is.EqualTo(new WorkFault(In + 4096, TranslationStatus.InvalidAddress)));
        Assert.That(state.Step, Is.LessThanOrEqualTo(4096u));

        space.Map(In + 4096, (ulong)len);
        space.Write(In + 4096, stream.AsSpan(4096, len - 4096));
        Assert.That(space.Run(p, ref state), Is.EqualTo(WorkStatus.Done));
        Assert.That(space.ReadU32(Out, 3000), Is.EqualTo(pixels));
    }
}
