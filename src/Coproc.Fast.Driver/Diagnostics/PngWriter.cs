using System.Buffers.Binary;
using System.IO.Compression;
using CommunityToolkit.HighPerformance;
using CommunityToolkit.HighPerformance.Buffers;
using Crc32 = System.IO.Hashing.Crc32;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// Writes a 32-bit B8G8R8A8 surface (the display's format 0, native-layout.md §12) as a PNG by hand: the
/// signature, IHDR (8-bit truecolour, no interlace), one IDAT holding the zlib stream of filter-0 scanlines
/// made with <see cref="ZLibStream"/>, and IEND, each chunk with its CRC-32 (ISO-HDLC, the PNG polynomial).
/// Alpha is dropped: scan-out ignores it, and a surface cleared to alpha 0 would otherwise look empty in a viewer.
/// The surface is read as a 2-D view whose rows are <c>pitch</c> bytes apart, and the compressed stream goes to a
/// pooled buffer, so a frame costs no buffer per line and no growing array.
/// </summary>
internal static class PngWriter
{
    /// <summary>The eight-byte PNG signature.</summary>
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Writes the surface as an RGB PNG.</summary>
    /// <param name="output">Destination stream.</param>
    /// <param name="bgra">Surface bytes: <paramref name="height"/> lines of <paramref name="pitchBytes"/> bytes.</param>
    /// <param name="width">Pixels per line (≥ 1).</param>
    /// <param name="height">Lines (≥ 1).</param>
    /// <param name="pitchBytes">Bytes from one line to the next (≥ 4 × width).</param>
    /// <exception cref="ArgumentException">The sizes are inconsistent with the buffer.</exception>
    public static void WriteBgra(Stream output, ReadOnlySpan<byte> bgra, int width, int height, int pitchBytes)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if ((long)pitchBytes < 4L * width)
            throw new ArgumentException($"pitch {pitchBytes} is less than 4 × width ({4L * width})", nameof(pitchBytes));
        if ((long)pitchBytes * (height - 1) + 4L * width > bgra.Length)
            throw new ArgumentException($"a {width}×{height} surface with pitch {pitchBytes} needs more than the {bgra.Length} bytes given", nameof(bgra));
        // Rows of 4 × width bytes, each followed by (pitch − 4 × width) padding bytes the PNG does not carry.
        var surface = bgra.AsSpan2D(0, height, 4 * width, pitchBytes - 4 * width);

        output.Write(Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr[4..], (uint)height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type 2: truecolour (RGB)
        ihdr[10] = 0; // deflate
        ihdr[11] = 0; // filter method 0
        ihdr[12] = 0; // no interlace
        WriteChunk(output, "IHDR"u8, ihdr);

        using var idat = new ArrayPoolBufferWriter<byte>();
        using (var z = new ZLibStream(idat.AsStream(), CompressionLevel.Optimal))
        using (var line = MemoryOwner<byte>.Allocate(1 + 3 * width))
        {
            var rgb = line.Span;
            rgb[0] = 0; // filter type None
            for (int y = 0; y < height; y++)
            {
                var src = surface.GetRowSpan(y);
                for (int x = 0; x < width; x++)
                {
                    rgb[1 + 3 * x] = src[4 * x + 2];
                    rgb[2 + 3 * x] = src[4 * x + 1];
                    rgb[3 + 3 * x] = src[4 * x];
                }
                z.Write(rgb);
            }
        }
        WriteChunk(output, "IDAT"u8, idat.WrittenSpan);
        WriteChunk(output, "IEND"u8, []);
    }

    private static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        output.Write(word);
        output.Write(type);
        output.Write(data);
        // The CRC covers the chunk type and data, not the length (PNG specification, chunk layout).
        var crc = new Crc32();
        crc.Append(type);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        output.Write(word);
    }
}
