using System.Runtime.InteropServices;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Executes VIDEO_ENCODE on the video encode engine (native-layout.md §8A.4): compresses a surface into a CRLE
/// bitstream and, at the end, writes the stream's length (uint32) to the size VA. The unit of work is one segment of
/// at most <see cref="VideoBitstream.SegmentPixels"/> pixels of one row. State: Step = next segment (row-major),
/// Scratch0 = bitstream bytes written so far. A segment is encoded into a scratch buffer and written at once;
/// a fault leaves the state at the segment, whose re-run writes the same bytes at the same offset.
/// The output must not overlap the input surface. Output larger than the capacity is <see cref="WorkStatus.Malformed"/>
/// (the packet under-sized its buffer; <see cref="VideoBitstream.MaxEncodedBytes"/> is always enough).
/// </summary>
internal static class VideoEncodeExecutor
{
    public static WorkStatus Execute(in GpuVirtualMemory memory, ReadOnlySpan<uint> packet, ref WorkState state,
        ref long budget, in WorkCosts costs, out WorkFault fault)
    {
        fault = default;
        if (packet.Length != VideoEncodePacket.SizeInDwords) return WorkStatus.Malformed;
        var input = Surface.ReadFrom(packet.Slice(1, Surface.Dwords));
        ulong outVa = packet[7] | ((ulong)packet[8] << 32), sizeVa = packet[10] | ((ulong)packet[11] << 32);
        uint capacity = packet[9];
        if (!input.IsWellFormed || outVa >= Surface.VaLimit || capacity > Surface.VaLimit - outVa ||
            sizeVa >= Surface.VaLimit - 4)
            return WorkStatus.Malformed;
        uint perRow = (input.Width + VideoBitstream.SegmentPixels - 1) / VideoBitstream.SegmentPixels;
        ulong segments = (ulong)perRow * input.Height;
        if (state.Step > segments || state.Scratch0 > capacity) return WorkStatus.Malformed;

        Span<uint> pixels = stackalloc uint[VideoBitstream.SegmentPixels];
        Span<byte> encoded = stackalloc byte[VideoBitstream.MaxSegmentBytes(VideoBitstream.SegmentPixels)];
        while (state.Step < segments)
        {
            if (budget <= 0) return WorkStatus.Yielded;
            uint row = state.Step / perRow, col = state.Step % perRow * VideoBitstream.SegmentPixels;
            int k = (int)Math.Min(VideoBitstream.SegmentPixels, input.Width - col);
            var segment = pixels[..k];
            var s = memory.Read(input.PixelVa(col, row), MemoryMarshal.AsBytes(segment), out ulong faultVa);
            if (s != TranslationStatus.Ok) { fault = new WorkFault(faultVa, s); return WorkStatus.Faulted; }
            int bytes = VideoBitstream.EncodeSegment(segment, encoded);
            if ((ulong)bytes > capacity - state.Scratch0) return WorkStatus.Malformed;
            s = memory.Write(outVa + state.Scratch0, encoded[..bytes], out faultVa);
            if (s != TranslationStatus.Ok) { fault = new WorkFault(faultVa, s); return WorkStatus.Faulted; }
            state.Scratch0 += (ulong)bytes;
            state.Step++;
            budget -= costs.ChunkSetup + WorkCosts.Cycles((ulong)k, costs.EncodePixelsPerCycle);
        }
        var w = memory.Write32(sizeVa, (uint)state.Scratch0, out ulong sizeFaultVa);
        if (w != TranslationStatus.Ok) { fault = new WorkFault(sizeFaultVa, w); return WorkStatus.Faulted; }
        return WorkStatus.Done;
    }
}
