using System.Runtime.InteropServices;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Pixel-row primitives over GPU VAs: each row is walked in <see cref="PageRun"/>s (one translation per physically
/// contiguous run, never per pixel), and the pixels of a run are processed straight in native memory. Surfaces are
/// 4-byte aligned (<see cref="Surface.IsWellFormed"/>), so no pixel straddles a page and every run holds whole pixels.
/// On a fault, <c>done</c> counts the pixels completed before the faulting run; none after it are touched.
/// </summary>
internal static unsafe class SurfaceRows
{
    /// <summary>Copies (<see cref="RectMode.Copy"/>) or blends (<see cref="RectMode.BlendSource"/>) a row segment.</summary>
    public static TranslationStatus FromSource(in GpuVirtualMemory memory, ulong dstVa, ulong srcVa, ulong pixels,
        bool blend, bool swapRedBlue, out ulong done, out ulong faultVa)
    {
        done = 0;
        while (done < pixels)
        {
            ulong offset = done * 4, remaining = (pixels - done) * 4;
            var s = memory.TranslateRun(srcVa + offset, remaining, AccessKind.Read, out var src);
            if (s != TranslationStatus.Ok) { faultVa = srcVa + offset; return s; }
            s = memory.TranslateRun(dstVa + offset, src.Length, AccessKind.Write, out var dst);
            if (s != TranslationStatus.Ok) { faultVa = dstVa + offset; return s; }
            ulong n = dst.Length >> 2;
            if (!dst.IsDummy)
            {
                uint* d = (uint*)memory.PointerOf(dst);
                if (src.IsDummy)
                {
                    // The dummy page reads as zero: a copy writes zeros; a blend of alpha 0 leaves the target unchanged.
                    if (!blend) NativeMemory.Clear(d, (nuint)(n * 4));
                }
                else
                {
                    uint* sp = (uint*)memory.PointerOf(src);
                    if (blend) PixelBlend.SourceOverRow(d, sp, (nuint)n, swapRedBlue);
                    else if (swapRedBlue) PixelBlend.CopySwapRow(d, sp, (nuint)n);
                    else Buffer.MemoryCopy(sp, d, n * 4, n * 4);
                }
                memory.NoteWritten(dst, 0, n * 4);
            }
            done += n;
        }
        faultVa = 0;
        return TranslationStatus.Ok;
    }

    /// <summary>Blends a constant pixel (already in the target's format) over a row segment.</summary>
    public static TranslationStatus BlendConstant(in GpuVirtualMemory memory, ulong dstVa, ulong pixels, uint pixel,
        out ulong done, out ulong faultVa)
    {
        done = 0;
        while (done < pixels)
        {
            ulong offset = done * 4;
            var s = memory.TranslateRun(dstVa + offset, (pixels - done) * 4, AccessKind.Write, out var dst);
            if (s != TranslationStatus.Ok) { faultVa = dstVa + offset; return s; }
            ulong n = dst.Length >> 2;
            if (!dst.IsDummy)
            {
                PixelBlend.SourceOverConstantRow((uint*)memory.PointerOf(dst), (nuint)n, pixel);
                memory.NoteWritten(dst, 0, n * 4);
            }
            done += n;
        }
        faultVa = 0;
        return TranslationStatus.Ok;
    }

    /// <summary>Fills a row segment with a pixel (already in the target's format).</summary>
    public static TranslationStatus Fill(in GpuVirtualMemory memory, ulong dstVa, ulong pixels, uint pixel,
        out ulong done, out ulong faultVa)
    {
        var s = memory.Fill(dstVa, pixel, pixels * 4, out ulong bytes, out faultVa);
        done = bytes >> 2;
        return s;
    }
}
