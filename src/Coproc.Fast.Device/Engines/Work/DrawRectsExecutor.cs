using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Executes DRAW_RECTS on the render engine (native-layout.md §8A.2). The unit of work is one primitive
/// (seed 001 §4.1: interruptible finer than a DMA buffer — between primitives). State: Step = next primitive;
/// SubStep / Scratch0 = row and pixel inside that primitive's clipped rectangle where a fault stopped it, so the
/// resumed primitive neither redoes nor skips a pixel (a blend applied twice would be visible).
/// </summary>
internal static class DrawRectsExecutor
{
    public static WorkStatus Execute(in GpuVirtualMemory memory, ReadOnlySpan<uint> packet, ref WorkState state,
        ref long budget, in WorkCosts costs, out WorkFault fault)
    {
        fault = default;
        if (packet.Length < DrawRectsPacket.FixedDwords) return WorkStatus.Malformed;
        uint count = packet[13];
        if (count > DrawRectsPacket.MaxPrimitives || packet.Length != DrawRectsPacket.SizeInDwords((int)count))
            return WorkStatus.Malformed;
        var target = Surface.ReadFrom(packet.Slice(1, Surface.Dwords));
        var source = Surface.ReadFrom(packet.Slice(7, Surface.Dwords));
        bool hasSource = !source.IsEmpty;
        if (!target.IsWellFormed || (hasSource && !source.IsWellFormed) || state.Step > count) return WorkStatus.Malformed;

        // A malformed primitive anywhere rejects the packet before any pixel is drawn.
        if (state.Step == 0 && state.SubStep == 0 && state.Scratch0 == 0)
            for (int i = 0; i < (int)count; i++)
                if (!IsWellFormed(Primitive(packet, i), hasSource)) return WorkStatus.Malformed;

        while (state.Step < count)
        {
            if (budget <= 0) return WorkStatus.Yielded;
            var p = Primitive(packet, (int)state.Step);
            if (!IsWellFormed(p, hasSource)) return WorkStatus.Malformed;
            var status = Draw(memory, target, source, p, ref state, costs, out long cost, out fault);
            if (status != WorkStatus.Done) return status;
            state.Step++;
            state.SubStep = 0;
            state.Scratch0 = 0;
            budget -= cost;
        }
        return WorkStatus.Done;
    }

    private static ReadOnlySpan<uint> Primitive(ReadOnlySpan<uint> packet, int index) =>
        packet.Slice(DrawRectsPacket.FixedDwords + index * RectPrimitive.Dwords, RectPrimitive.Dwords);

    private static bool IsWellFormed(ReadOnlySpan<uint> p, bool hasSource) =>
        p[4] <= (uint)RectMode.BlendColor && (hasSource || (RectMode)p[4] is RectMode.Fill or RectMode.BlendColor);

    private static WorkStatus Draw(in GpuVirtualMemory memory, in Surface target, in Surface source, ReadOnlySpan<uint> p,
        ref WorkState state, in WorkCosts costs, out long cost, out WorkFault fault)
    {
        fault = default;
        long x = (int)p[0], y = (int)p[1];
        var mode = (RectMode)p[4];
        uint argument = p[5];
        bool usesSource = mode is RectMode.Copy or RectMode.BlendSource;
        long sx = argument & 0xFFFF, sy = argument >> 16;

        // Clip to the target and, for source modes, to the source: pixel (tx, ty) reads source (sx + tx - x, sy + ty - y).
        long x0 = Math.Max(x, 0), y0 = Math.Max(y, 0);
        long x1 = Math.Min(x + p[2], target.Width), y1 = Math.Min(y + p[3], target.Height);
        if (usesSource)
        {
            x1 = Math.Min(x1, x + source.Width - sx);
            y1 = Math.Min(y1, y + source.Height - sy);
        }
        ulong cols = x1 > x0 ? (ulong)(x1 - x0) : 0, rows = y1 > y0 ? (ulong)(y1 - y0) : 0;
        if (cols == 0) rows = 0;
        uint rate = mode switch
        {
            RectMode.Fill => costs.FillPixelsPerCycle,
            RectMode.Copy => costs.CopyPixelsPerCycle,
            _ => costs.BlendPixelsPerCycle,
        };
        cost = costs.PrimitiveSetup + WorkCosts.Cycles(cols * rows, rate);
        // A saved position outside the rectangle can only come from a corrupted save area.
        if (state.SubStep > rows || state.Scratch0 > cols) return WorkStatus.Malformed;

        bool swap = usesSource ? source.Format != target.Format : target.Format == PixelFormat.Rgba8888;
        uint pixel = swap && !usesSource ? PixelBlend.SwapRedBlue(argument) : argument;
        for (ulong r = state.SubStep; r < rows; r++)
        {
            ulong c0 = r == state.SubStep ? state.Scratch0 : 0;
            ulong tx = (ulong)x0 + c0, ty = (ulong)y0 + r;
            ulong dstVa = target.PixelVa((uint)tx, (uint)ty);
            ulong n = cols - c0, done;
            ulong faultVa;
            TranslationStatus s;
            switch (mode)
            {
                case RectMode.Fill:
                    s = SurfaceRows.Fill(memory, dstVa, n, pixel, out done, out faultVa);
                    break;
                case RectMode.BlendColor:
                    s = SurfaceRows.BlendConstant(memory, dstVa, n, pixel, out done, out faultVa);
                    break;
                default:
                    ulong srcVa = source.PixelVa((uint)(sx + (long)tx - x), (uint)(sy + (long)ty - y));
                    s = SurfaceRows.FromSource(memory, dstVa, srcVa, n, mode == RectMode.BlendSource, swap, out done, out faultVa);
                    break;
            }
            if (s != TranslationStatus.Ok)
            {
                state.SubStep = (uint)r;
                state.Scratch0 = c0 + done;
                fault = new WorkFault(faultVa, s);
                return WorkStatus.Faulted;
            }
        }
        return WorkStatus.Done;
    }
}
