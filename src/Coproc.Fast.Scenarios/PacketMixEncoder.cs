using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Scenarios;

/// <summary>
/// Where the packets of one submission point, in the submitting context's GPU VA space. A runner allocates and
/// maps these (VidMm) once per context and passes them for every submission.
/// </summary>
/// <param name="RenderTarget">Surface DRAW_RECTS fills (render contexts).</param>
/// <param name="ScratchVa">Buffer for FILL (whole) and COPY (first half → second half).</param>
/// <param name="ScratchBytes">Its size (≥ 8).</param>
/// <param name="FenceVa">8-byte-aligned fence location; WRITE_DATA writes just after it (16 bytes in all).</param>
/// <param name="ComputeAVa">DISPATCH buffer A (float32 elements).</param>
/// <param name="ComputeBVa">DISPATCH buffer B.</param>
/// <param name="ComputeElements">Elements A and B each hold.</param>
/// <param name="BitstreamVa">A CRLE bitstream for VIDEO_DECODE (native-layout.md §8A.4).</param>
/// <param name="BitstreamBytes">Its length.</param>
/// <param name="VideoOutput">VIDEO_DECODE's output surface.</param>
/// <param name="CounterVa">A 32-bit counter nobody signals (the hung WAIT of a misbehaving context).</param>
/// <param name="UnmappedVa">A VA with no mapping (the bad address of a misbehaving context).</param>
public sealed record SubmissionTargets(
    Surface RenderTarget,
    ulong ScratchVa,
    ulong ScratchBytes,
    ulong FenceVa,
    ulong ComputeAVa = 0,
    ulong ComputeBVa = 0,
    uint ComputeElements = 0,
    ulong BitstreamVa = 0,
    uint BitstreamBytes = 0,
    Surface VideoOutput = default,
    ulong CounterVa = 0,
    ulong UnmappedVa = 0);

/// <summary>The dwords written and the device cycles they are expected to take at the given costs.</summary>
/// <param name="Dwords">Dwords written.</param>
/// <param name="EstimatedCycles">Expected engine cycles (work packets sized from <c>work_cycles</c>, clamped to the targets).</param>
public readonly record struct EncodedSubmission(int Dwords, long EstimatedCycles);

/// <summary>
/// Turns a scenario's <see cref="PacketMix"/> into real packets (native-layout.md §8, §8A) for one submission, sizing
/// the work packets so the submission takes about <see cref="SubmissionPattern.WorkCycles"/> at the device's costs:
/// the work budget is split evenly over the work packets (DRAW_RECTS fill area, DISPATCH elements, FILL and COPY
/// bytes), each clamped to what its target holds. NOP, WRITE_DATA and FENCE are small and fixed. Colours and
/// rectangle positions change with the frame index, so successive frames differ visibly. Allocates nothing.
/// </summary>
public static class PacketMixEncoder
{
    private const uint DispatchGroup = 4096; // elements per thread group: the compute preemption unit

    /// <summary>Dwords <see cref="Encode"/> needs for <paramref name="mix"/> (an upper bound).</summary>
    public static int SizeInDwords(PacketMix mix)
    {
        ArgumentNullException.ThrowIfNull(mix);
        return mix.Nop + mix.WriteData * 5 + mix.Copy * 7 + mix.Fill * 6 + mix.DrawRects * DrawRectsPacket.SizeInDwords(1)
            + mix.Dispatch * DispatchPacket.SizeInDwords + mix.VideoDecode * VideoDecodePacket.SizeInDwords + mix.Fence * 5;
    }

    /// <summary>Writes one submission's packets into <paramref name="destination"/>.</summary>
    /// <param name="destination">At least <see cref="SizeInDwords"/> dwords.</param>
    /// <param name="mix">The packet counts.</param>
    /// <param name="workCycles">Device cycles the submission should take.</param>
    /// <param name="targets">Where the packets point.</param>
    /// <param name="frame">Submission index (colours, positions, written values).</param>
    /// <param name="fenceValue">Value the FENCE packets write.</param>
    /// <param name="packetCosts">The device's packet costs.</param>
    /// <param name="workCosts">The device's work-packet costs.</param>
    /// <exception cref="ArgumentException">The destination is too small, or a target the mix needs is missing.</exception>
    public static EncodedSubmission Encode(Span<uint> destination, PacketMix mix, ulong workCycles, SubmissionTargets targets,
        uint frame, ulong fenceValue, PacketCosts packetCosts, WorkCosts workCosts)
    {
        ArgumentNullException.ThrowIfNull(mix);
        ArgumentNullException.ThrowIfNull(targets);
        if (destination.Length < SizeInDwords(mix))
            throw new ArgumentException($"needs {SizeInDwords(mix)} dwords, got {destination.Length}", nameof(destination));
        CheckTargets(mix, targets);
        int workPackets = mix.DrawRects + mix.Dispatch + mix.Fill + mix.Copy;
        long share = workPackets == 0 ? 0 : (long)Math.Min(workCycles / (ulong)workPackets, long.MaxValue / 2);
        var w = new PacketWriter(destination);
        long cycles = 0;

        for (int i = 0; i < mix.DrawRects; i++)
        {
            var t = targets.RenderTarget;
            ulong pixels = (ulong)Math.Max(1, share - workCosts.PrimitiveSetup) * Math.Max(1u, workCosts.FillPixelsPerCycle);
            uint width = t.Width;
            uint height = (uint)Math.Clamp((pixels + width - 1) / width, 1, t.Height);
            // Successive packets and frames walk down the surface in bands of different colours.
            int y = (int)(((ulong)frame * 37 + (ulong)i * 101) % Math.Max(1u, t.Height - height + 1));
            uint argb = 0xFF000000u | (uint)(((frame * 53 + i * 97) & 0xFF) << 16) | (uint)(((frame * 11 + 160) & 0xFF) << 8) | (uint)((i * 61 + 96) & 0xFF);
            var span = w.GetSpan(DrawRectsPacket.SizeInDwords(1));
            int n = DrawRectsPacket.Encode(span, t, [RectPrimitive.Fill(0, y, width, height, argb)]);
            w.Advance(n);
            cycles += workCosts.PrimitiveSetup + (long)((ulong)width * height / Math.Max(1u, workCosts.FillPixelsPerCycle));
        }
        for (int i = 0; i < mix.Dispatch; i++)
        {
            ulong wanted = (ulong)Math.Max(1, share) * Math.Max(1u, workCosts.ElementsPerCycle);
            uint elements = (uint)Math.Clamp(wanted, 1, targets.ComputeElements);
            var span = w.GetSpan(DispatchPacket.SizeInDwords);
            w.Advance(DispatchPacket.EncodeSaxpy(span, elements, Math.Min(DispatchGroup, elements), targets.ComputeAVa, targets.ComputeBVa, 1.0f));
            uint groups = (elements + DispatchGroup - 1) / DispatchGroup;
            cycles += groups * workCosts.GroupLaunch + elements / Math.Max(1u, workCosts.ElementsPerCycle);
        }
        for (int i = 0; i < mix.Fill; i++)
        {
            ulong bytes = Math.Clamp((ulong)Math.Max(1, share - packetCosts.FillBase) * (ulong)Math.Max(1, packetCosts.FillBytesPerCycle), 1, targets.ScratchBytes);
            w.Fill(targets.ScratchVa, 0x01010101u * (byte)(frame + i), bytes);
            cycles += packetCosts.FillBase + (long)(bytes / (ulong)Math.Max(1, packetCosts.FillBytesPerCycle));
        }
        for (int i = 0; i < mix.Copy; i++)
        {
            ulong half = targets.ScratchBytes / 2;
            ulong bytes = Math.Clamp((ulong)Math.Max(1, share - packetCosts.CopyBase) * (ulong)Math.Max(1, packetCosts.CopyBytesPerCycle), 1, half);
            w.Copy(targets.ScratchVa + half, targets.ScratchVa, bytes);
            cycles += packetCosts.CopyBase + (long)(bytes / (ulong)Math.Max(1, packetCosts.CopyBytesPerCycle));
        }
        for (int i = 0; i < mix.VideoDecode; i++)
        {
            var span = w.GetSpan(VideoDecodePacket.SizeInDwords);
            w.Advance(VideoDecodePacket.Encode(span, targets.BitstreamVa, targets.BitstreamBytes, targets.VideoOutput));
            var o = targets.VideoOutput;
            cycles += workCosts.ChunkSetup + targets.BitstreamBytes / Math.Max(1u, workCosts.DecodeBytesPerCycle)
                + (long)((ulong)o.Width * o.Height / Math.Max(1u, workCosts.DecodePixelsPerCycle));
        }
        for (int i = 0; i < mix.WriteData; i++)
        {
            w.WriteData(targets.FenceVa + 8, frame);
            cycles += packetCosts.WriteDataBase + packetCosts.WriteDataPerDword;
        }
        for (int i = 0; i < mix.Nop; i++)
        {
            w.Nop();
            cycles += packetCosts.Nop;
        }
        for (int i = 0; i < mix.Fence; i++)
        {
            w.Fence(targets.FenceVa, fenceValue);
            cycles += packetCosts.Fence;
        }
        return new EncodedSubmission(w.Written, cycles);
    }

    /// <summary>Dwords <see cref="EncodeMisbehaviour"/> needs (an upper bound).</summary>
    public const int MisbehaviourDwords = 5;

    /// <summary>
    /// Writes what a misbehaving application puts in its (limited) buffer: a WAIT on a counter nobody signals
    /// (the engine yields and re-executes it forever: a hung context for timeout detection), a privileged packet
    /// (TLB_FLUSH of every address space: a protection fault of that context only, seed 001 §7), or a WRITE_DATA
    /// to an unmapped VA (a page fault). Returns the dwords written.
    /// </summary>
    /// <exception cref="ArgumentException">The target the misbehaviour needs is missing, or the destination is too small.</exception>
    public static int EncodeMisbehaviour(Span<uint> destination, MisbehaviourKind kind, SubmissionTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (destination.Length < MisbehaviourDwords) throw new ArgumentException($"needs {MisbehaviourDwords} dwords", nameof(destination));
        var w = new PacketWriter(destination);
        switch (kind)
        {
            case MisbehaviourKind.HungWait:
                if (targets.CounterVa == 0) throw new ArgumentException("a hung wait needs CounterVa", nameof(targets));
                w.Wait(targets.CounterVa);
                break;
            case MisbehaviourKind.PrivilegedCommand:
                w.TlbFlushAll();
                break;
            default:
                if (targets.UnmappedVa == 0) throw new ArgumentException("a bad address needs UnmappedVa", nameof(targets));
                w.WriteData(targets.UnmappedVa, 0xBAD);
                break;
        }
        return w.Written;
    }

    private static void CheckTargets(PacketMix mix, SubmissionTargets t)
    {
        if (mix.DrawRects > 0 && t.RenderTarget.IsEmpty) throw new ArgumentException("DRAW_RECTS needs a RenderTarget", nameof(t));
        if ((mix.Fill > 0 || mix.Copy > 0) && t.ScratchBytes < 8) throw new ArgumentException("FILL/COPY need a scratch buffer of at least 8 bytes", nameof(t));
        if (mix.Dispatch > 0 && t.ComputeElements == 0) throw new ArgumentException("DISPATCH needs compute buffers", nameof(t));
        if (mix.VideoDecode > 0 && (t.BitstreamBytes == 0 || t.VideoOutput.IsEmpty)) throw new ArgumentException("VIDEO_DECODE needs a bitstream and an output surface", nameof(t));
        if ((mix.Fence > 0 || mix.WriteData > 0) && (t.FenceVa == 0 || (t.FenceVa & 7) != 0)) throw new ArgumentException("FENCE/WRITE_DATA need an 8-byte-aligned FenceVa", nameof(t));
    }
}
