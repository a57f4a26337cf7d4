using Coproc.Fast.Driver;
using System.Buffers.Binary;
using System.IO.Compression;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

public class PngWriterTests
{
    // An independent, bit-at-a-time CRC-32 so the test does not check the writer against itself.
    private static uint BitwiseCrc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (uint)-(int)(c & 1));
        }
        return ~c;
    }

    private sealed record Chunk(string Type, byte[] Data);

    private static List<Chunk> Decode(byte[] png)
    {
        Assert.That(png.AsSpan(0, 8).ToArray(), Is.EqualTo(PngWriter.Signature.ToArray()));
        var chunks = new List<Chunk>();
        int p = 8;
        while (p < png.Length)
        {
            int len = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(p));
            var typeAndData = png.AsSpan(p + 4, 4 + len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(p + 8 + len));
            Assert.That(crc, Is.EqualTo(BitwiseCrc(typeAndData)), $"CRC of chunk at {p}");
            chunks.Add(new Chunk(System.Text.Encoding.ASCII.GetString(typeAndData[..4]), typeAndData[4..].ToArray()));
            p += 12 + len;
        }
        return chunks;
    }

    private static byte[] Inflate(byte[] zlib)
    {
        using var z = new ZLibStream(new MemoryStream(zlib), CompressionMode.Decompress);
        using var o = new MemoryStream();
        z.CopyTo(o);
        return o.ToArray();
    }

    [Test]
    public void Crc32_OfTheCheckString_IsTheStandardValue() =>
        Assert.That(System.IO.Hashing.Crc32.HashToUInt32("123456789"u8), Is.EqualTo(0xCBF43926u));

    [Test]
    public void Png_Decodes_WithValidChunks_SizeAndPixels()
    {
        const int w = 5, h = 3, pitch = 24; // pitch > 4 × width: padding must be skipped
        var bgra = new byte[pitch * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int o = y * pitch + x * 4;
                bgra[o] = (byte)(x * 40); bgra[o + 1] = (byte)(y * 80); bgra[o + 2] = (byte)(x + y); bgra[o + 3] = 0;
            }
        using var ms = new MemoryStream();
        PngWriter.WriteBgra(ms, bgra, w, h, pitch);

        var chunks = Decode(ms.ToArray());
        Assert.That(chunks.Select(c => c.Type), Is.EqualTo(new[] { "IHDR", "IDAT", "IEND" }));
        var ihdr = chunks[0].Data;
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(ihdr), Is.EqualTo((uint)w));
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(ihdr.AsSpan(4)), Is.EqualTo((uint)h));
        Assert.That(ihdr[8..], Is.EqualTo(new byte[] { 8, 2, 0, 0, 0 }));

        var raw = Inflate(chunks[1].Data);
        Assert.That(raw, Has.Length.EqualTo(h * (1 + 3 * w)));
        for (int y = 0; y < h; y++)
        {
            Assert.That(raw[y * (1 + 3 * w)], Is.Zero, "filter type None");
            for (int x = 0; x < w; x++)
            {
                int o = y * (1 + 3 * w) + 1 + 3 * x;
                Assert.That(new[] { raw[o], raw[o + 1], raw[o + 2] }, Is.EqualTo(new[] { (byte)(x + y), (byte)(y * 80), (byte)(x * 40) }));
            }
        }
    }

    [Test]
    public void Png_WithTooSmallABuffer_ThrowsAndWritesNothing()
    {
        using var ms = new MemoryStream();
        Assert.Throws<ArgumentException>(() => PngWriter.WriteBgra(ms, new byte[10], 2, 2, 8));
        Assert.That(ms.Length, Is.Zero);
    }

    [Test]
    public void DisplayedFrame_ReadsTheScannedOutSurfaceThroughMmio()
    {
        using var device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 1UL << 20, VsyncPeriodCycles = 0 });
        var surface = PhysicalAddress.Local(0x10000);
        var pixels = device.Memory.GetSpan(surface, 4 * 4 * 2);
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)i;
        Assert.Throws<FrameCaptureException>(() => DisplayedFrame.Read(new DirectDeviceBus(device)));

        device.Mmio.Write32(MmioMap.DisplayBase + 0x28, 4);
        device.Mmio.Write32(MmioMap.DisplayBase + 0x2C, 2);
        device.Mmio.Write32(MmioMap.DisplayBase + 0x30, 16);
        device.Mmio.Write64(MmioMap.DisplayBase + 0x38, surface.Encoded);
        var frame = DisplayedFrame.Read(new DirectDeviceBus(device));

        Assert.That((frame.Width, frame.Height, frame.PitchBytes), Is.EqualTo((4, 2, 16)));
        Assert.That(frame.Bgra, Is.EqualTo(pixels.ToArray()));
        using var ms = new MemoryStream();
        frame.WritePng(ms);
        Assert.That(Decode(ms.ToArray()), Has.Count.EqualTo(3));
    }
}
