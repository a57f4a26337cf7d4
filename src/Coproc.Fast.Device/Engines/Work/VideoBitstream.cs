using System.Buffers.Binary;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// The video engines' bitstream, "CRLE" (native-layout.md §8A.4): run-length coded 32-bit pixels in raster order.
/// <code>
/// token = control byte c, then:
///   c &lt; 0x80   LITERAL: (c + 1) pixels follow, 4 bytes each (the little-endian dword as stored in the surface)
///   c ≥ 0x80   REPEAT:  one 4-byte pixel follows; it is written (c − 0x80 + 1) times
/// </code>
/// Pixels fill the surface row by row (left to right, top to bottom); a run may continue onto the next row. A stream
/// is well formed when its tokens produce exactly width × height pixels and end exactly at its last byte.
/// The encoder never lets a run cross a row or a <see cref="SegmentPixels"/>-pixel segment, so it can work one
/// segment at a time; the decoder accepts any run layout.
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class VideoBitstream
{
    /// <summary>Longest run of one token.</summary>
    public const int MaxRun = 128;

    /// <summary>Largest token: a control byte and 128 literal pixels.</summary>
    public const int MaxTokenBytes = 1 + MaxRun * 4;

    /// <summary>Pixels the encoder reads as one unit of work (the last segment of a row may be shorter).</summary>
    public const int SegmentPixels = 1024;

    /// <summary>Bitstream bytes the decoder reads as one unit of work (a chunk ends at the first token that does not fit).</summary>
    public const int ChunkBytes = 1024;

    /// <summary>Upper bound of the encoded size of <paramref name="pixels"/> pixels of one segment: 4 per pixel plus a control byte per 128.</summary>
    public static int MaxSegmentBytes(int pixels) => pixels * 4 + (pixels + MaxRun - 1) / MaxRun;

    /// <summary>Upper bound of the encoded size of a whole surface (what VIDEO_ENCODE's output capacity must allow).</summary>
    public static ulong MaxEncodedBytes(uint width, uint height)
    {
        ulong full = width / SegmentPixels, rest = width % SegmentPixels;
        ulong perRow = full * (ulong)MaxSegmentBytes(SegmentPixels) + (ulong)MaxSegmentBytes((int)rest);
        return perRow * height;
    }

    /// <summary>
    /// Encodes one segment (the device's encoder: runs of 2 or more equal pixels become REPEAT tokens, everything else
    /// LITERAL tokens). Returns the bytes written. <paramref name="destination"/> must hold
    /// <see cref="MaxSegmentBytes"/> bytes. Allocates nothing.
    /// </summary>
    public static int EncodeSegment(ReadOnlySpan<uint> pixels, Span<byte> destination)
    {
        if (destination.Length < MaxSegmentBytes(pixels.Length))
            throw new ArgumentException("destination is smaller than MaxSegmentBytes", nameof(destination));
        int i = 0, o = 0, n = pixels.Length;
        while (i < n)
        {
            uint p = pixels[i];
            int run = 1;
            while (i + run < n && run < MaxRun && pixels[i + run] == p) run++;
            if (run >= 2)
            {
                destination[o] = (byte)(0x80 | (run - 1));
                BinaryPrimitives.WriteUInt32LittleEndian(destination.Slice(o + 1, 4), p);
                o += 5;
                i += run;
                continue;
            }
            // A literal ends where a run of two equal pixels starts, or at 128 pixels.
            int start = i++;
            while (i < n && i - start < MaxRun && !(i + 1 < n && pixels[i] == pixels[i + 1])) i++;
            int length = i - start;
            destination[o++] = (byte)(length - 1);
            for (int k = start; k < i; k++, o += 4) BinaryPrimitives.WriteUInt32LittleEndian(destination.Slice(o, 4), pixels[k]);
        }
        return o;
    }
}
