using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.Umd;

public sealed partial class CommandBufferBuilder
{
    /// <summary>
    /// DRAW_RECTS (render engine, native-layout.md §8A.2) into <paramref name="target"/>: the surfaces' <see cref="Surface.Va"/>
    /// hold offsets inside their allocations (§16). A <paramref name="sourceSurface"/> with no pixels means no source
    /// (and takes no resource-list entry).
    /// </summary>
    public void DrawRects(AllocationHandle target, in Surface targetSurface, ReadOnlySpan<RectPrimitive> primitives,
        AllocationHandle source = default, in Surface sourceSurface = default, ushort targetId = 0, ushort sourceId = 2)
    {
        bool hasSource = !sourceSurface.IsEmpty;
        if (hasSource && source.IsNull) throw new ArgumentException("a source surface needs its allocation", nameof(source));
        int len = DrawRectsPacket.SizeInDwords(primitives.Length);
        var s = GetSpan(len, hasSource ? 2 : 1);
        DrawRectsPacket.Encode(s, targetSurface, hasSource ? sourceSurface : default, primitives);
        Reference(target, targetId, write: true);
        if (hasSource) Reference(source, sourceId, write: false);
        Advance(len);
    }

    /// <summary>DISPATCH (compute engine, §8A.3) over (<paramref name="a"/>, offset) → (<paramref name="b"/>, offset).</summary>
    public void Dispatch(DispatchKernel kernel, uint elementCount, uint groupSize, AllocationHandle a, ulong aOffset,
        AllocationHandle b, ulong bOffset, uint parameter = 0, ushort aId = 2, ushort bId = 0)
    {
        var s = GetSpan(DispatchPacket.SizeInDwords, 2);
        DispatchPacket.Encode(s, kernel, elementCount, groupSize, aOffset, bOffset, parameter);
        Reference(a, aId, write: false);
        Reference(b, bId, write: true);
        Advance(DispatchPacket.SizeInDwords);
    }

    /// <summary>A SAXPY DISPATCH: <c>y = a·x + y</c> over float32.</summary>
    public void Saxpy(uint elementCount, uint groupSize, AllocationHandle x, ulong xOffset, AllocationHandle y, ulong yOffset, float a) =>
        Dispatch(DispatchKernel.Saxpy, elementCount, groupSize, x, xOffset, y, yOffset, BitConverter.SingleToUInt32Bits(a));

    /// <summary>VIDEO_DECODE (video decode engine, §8A.4) of a CRLE bitstream into <paramref name="output"/>.</summary>
    public void VideoDecode(AllocationHandle bitstream, ulong bitstreamOffset, uint bitstreamBytes, AllocationHandle output,
        in Surface outputSurface, ushort bitstreamId = 2, ushort outputId = 0)
    {
        const int Len = VideoDecodePacket.SizeInDwords;
        var s = GetSpan(Len, 2);
        VideoDecodePacket.Encode(s, bitstreamOffset, bitstreamBytes, outputSurface);
        Reference(bitstream, bitstreamId, write: false);
        Reference(output, outputId, write: true);
        Advance(Len);
    }

    /// <summary>VIDEO_ENCODE (video encode engine, §8A.4) of <paramref name="input"/> into a CRLE bitstream and its size.</summary>
    public void VideoEncode(AllocationHandle input, in Surface inputSurface, AllocationHandle output, ulong outputOffset,
        uint capacityBytes, AllocationHandle size, ulong sizeOffset, ushort inputId = 2, ushort outputId = 0, ushort sizeId = 1)
    {
        const int Len = VideoEncodePacket.SizeInDwords;
        var s = GetSpan(Len, 3);
        VideoEncodePacket.Encode(s, inputSurface, outputOffset, capacityBytes, sizeOffset);
        Reference(input, inputId, write: false);
        Reference(output, outputId, write: true);
        Reference(size, sizeId, write: true);
        Advance(Len);
    }
}
