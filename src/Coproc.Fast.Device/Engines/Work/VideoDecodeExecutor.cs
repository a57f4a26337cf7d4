using System.Buffers.Binary;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Executes VIDEO_DECODE on the video decode engine (native-layout.md §8A.4): expands a CRLE bitstream into a
/// surface. The unit of work is one chunk: the whole tokens that start in a <see cref="VideoBitstream.ChunkBytes"/>
/// window at the current input offset. State: Step = input offset of the next token, SubStep = index of the next
/// output pixel; both advance token by token, so a fault or a yield resumes at exactly that token. A token's output is
/// a pure function of its bytes, so a token re-run after a fault rewrites the same pixels.
/// Malformed streams (a run past the surface, a token past the input, bytes left after the last pixel) stop with
/// <see cref="WorkStatus.Malformed"/> before the offending token writes anything.
/// </summary>
internal static unsafe class VideoDecodeExecutor
{
    public static WorkStatus Execute(in GpuVirtualMemory memory, ReadOnlySpan<uint> packet, ref WorkState state,
        ref long budget, in WorkCosts costs, out WorkFault fault)
    {
        fault = default;
        if (packet.Length != VideoDecodePacket.SizeInDwords) return WorkStatus.Malformed;
        ulong inVa = packet[1] | ((ulong)packet[2] << 32);
        uint inBytes = packet[3];
        var output = Surface.ReadFrom(packet.Slice(4, Surface.Dwords));
        if (!output.IsWellFormed || inVa >= Surface.VaLimit || inBytes > Surface.VaLimit - inVa) return WorkStatus.Malformed;
        ulong totalPixels = (ulong)output.Width * output.Height;
        if (state.Step > inBytes || state.SubStep > totalPixels) return WorkStatus.Malformed;

        Span<byte> window = stackalloc byte[VideoBitstream.ChunkBytes];
        while (true)
        {
            if (state.SubStep == totalPixels) return state.Step == inBytes ? WorkStatus.Done : WorkStatus.Malformed;
            if (state.Step == inBytes) return WorkStatus.Malformed; // truncated: pixels remain, input does not
            if (budget <= 0) return WorkStatus.Yielded;

            int want = (int)Math.Min(VideoBitstream.ChunkBytes, inBytes - state.Step);
            var readStatus = ReadPrefix(memory, inVa + state.Step, window[..want], out int got, out ulong readFaultVa);
            int pos = 0;
            uint firstPixel = state.SubStep;
            while (state.SubStep < totalPixels)
            {
                if (pos >= got)
                {
                    if (pos == 0) { fault = new WorkFault(readFaultVa, readStatus); return WorkStatus.Faulted; }
                    break;
                }
                byte c = window[pos];
                int run = (c & 0x7F) + 1;
                int size = c >= 0x80 ? 5 : 1 + run * 4;
                if ((ulong)state.Step + (ulong)size > inBytes || (ulong)run > totalPixels - state.SubStep) return WorkStatus.Malformed;
                if (pos + size > got)
                {
                    // The token is cut by the window end (next chunk) or by a read fault (fault only if nothing was done).
                    if (got < want && pos == 0) { fault = new WorkFault(readFaultVa, readStatus); return WorkStatus.Faulted; }
                    break;
                }
                var s = WriteToken(memory, output, state.SubStep, window.Slice(pos, size), out ulong faultVa);
                if (s != TranslationStatus.Ok) { fault = new WorkFault(faultVa, s); return WorkStatus.Faulted; }
                pos += size;
                state.Step += (uint)size;
                state.SubStep += (uint)run;
            }
            budget -= costs.ChunkSetup + WorkCosts.Cycles((ulong)pos, costs.DecodeBytesPerCycle)
                      + WorkCosts.Cycles(state.SubStep - firstPixel, costs.DecodePixelsPerCycle);
        }
    }

    /// <summary>Writes one token's pixels from output pixel <paramref name="index"/>, row segment by row segment.</summary>
    private static TranslationStatus WriteToken(in GpuVirtualMemory memory, in Surface output, uint index,
        ReadOnlySpan<byte> token, out ulong faultVa)
    {
        bool repeat = token[0] >= 0x80;
        uint remaining = (uint)(token[0] & 0x7F) + 1;
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(token.Slice(1, 4));
        int literalOffset = 1;
        faultVa = 0;
        while (remaining > 0)
        {
            uint row = index / output.Width, col = index % output.Width;
            uint k = Math.Min(remaining, output.Width - col);
            ulong va = output.PixelVa(col, row);
            TranslationStatus s = repeat
                ? memory.Fill(va, value, (ulong)k * 4, out _, out faultVa)
                : memory.Write(va, token.Slice(literalOffset, (int)k * 4), out faultVa);
            if (s != TranslationStatus.Ok) return s;
            literalOffset += (int)k * 4;
            index += k;
            remaining -= k;
        }
        return TranslationStatus.Ok;
    }

    /// <summary>Reads as much of [va, va + destination.Length) as translates; <paramref name="got"/> bytes are valid.</summary>
    private static TranslationStatus ReadPrefix(in GpuVirtualMemory memory, ulong va, Span<byte> destination, out int got, out ulong faultVa)
    {
        got = 0;
        while (got < destination.Length)
        {
            var s = memory.TranslateRun(va + (ulong)got, (ulong)(destination.Length - got), AccessKind.Read, out var run);
            if (s != TranslationStatus.Ok) { faultVa = va + (ulong)got; return s; }
            var part = destination.Slice(got, (int)run.Length);
            if (run.IsDummy) part.Clear();
            else new ReadOnlySpan<byte>(memory.PointerOf(run), part.Length).CopyTo(part);
            got += part.Length;
        }
        faultVa = 0;
        return TranslationStatus.Ok;
    }
}
