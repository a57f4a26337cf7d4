using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines.Work;

/// <summary>
/// Runs the long work packets — DRAW_RECTS (render), DISPATCH (compute), VIDEO_DECODE and VIDEO_ENCODE — in units
/// the command processor can interrupt between (seed 001 §4.1: preemption finer than a DMA buffer, with the
/// progress saved in the context and restored exactly). Packet layouts: native-layout.md §8A.
/// </summary>
/// <remarks>
/// Design: the budget rule is the same for every opcode — before each unit (one rectangle, one thread group, one
/// bitstream chunk or encode segment), if <c>budget &lt;= 0</c> return <see cref="WorkStatus.Yielded"/>; otherwise run
/// the whole unit, then subtract its cost and advance the state. All progress lives in <see cref="WorkState"/>
/// (32 bytes, saved verbatim in the context save area), so calling again with the saved state continues exactly
/// where the previous call stopped, and the final memory is byte-identical to an uninterrupted run. A fault stops the
/// unit at the faulting page run; the state records how far the unit got. Nothing here allocates, throws for any
/// packet bytes or state, or touches memory other than through <see cref="GpuVirtualMemory"/>.
/// </remarks>
internal static class WorkExecutor
{
    /// <summary>True for the opcodes this executor runs (DRAW_RECTS, DISPATCH, VIDEO_DECODE, VIDEO_ENCODE).</summary>
    public static bool Handles(Opcode opcode) => opcode is Opcode.DrawRects or Opcode.Dispatch or Opcode.VideoDecode or Opcode.VideoEncode;

    /// <summary>The engine that runs a work opcode (a work opcode on another engine is an invalid command).</summary>
    /// <returns>False when <paramref name="opcode"/> is not a work opcode.</returns>
    public static bool TryGetEngine(Opcode opcode, out EngineKind engine) => PacketFormat.TryGetWorkEngine(opcode, out engine);

    /// <summary>
    /// Runs (part of) one work packet. <paramref name="packet"/> is the whole packet including its header dword.
    /// </summary>
    /// <param name="opcode">The packet's opcode (must match the header).</param>
    /// <param name="memory">The context's GPU VA space as seen by the engine.</param>
    /// <param name="packet">The packet, header first; its length must equal the header's length field.</param>
    /// <param name="state">Progress; all zero for a packet not yet started.</param>
    /// <param name="budget">Cycles left; reduced by the cost of every unit run (may end below zero).</param>
    /// <param name="costs">Cycle costs.</param>
    /// <param name="fault">Where and why a <see cref="WorkStatus.Faulted"/> result faulted.</param>
    /// <returns>Done, Yielded (budget spent between units), Faulted (state at the faulting unit) or Malformed.</returns>
    public static WorkStatus Execute(Opcode opcode, in GpuVirtualMemory memory, ReadOnlySpan<uint> packet,
        ref WorkState state, ref long budget, in WorkCosts costs, out WorkFault fault)
    {
        fault = default;
        if (packet.IsEmpty) return WorkStatus.Malformed;
        var header = new PacketHeader(packet[0]);
        if (header.Opcode != opcode || header.Flags != 0 || header.LengthDwords != packet.Length) return WorkStatus.Malformed;
        return opcode switch
        {
            Opcode.DrawRects => DrawRectsExecutor.Execute(memory, packet, ref state, ref budget, costs, out fault),
            Opcode.Dispatch => DispatchExecutor.Execute(memory, packet, ref state, ref budget, costs, out fault),
            Opcode.VideoDecode => VideoDecodeExecutor.Execute(memory, packet, ref state, ref budget, costs, out fault),
            Opcode.VideoEncode => VideoEncodeExecutor.Execute(memory, packet, ref state, ref budget, costs, out fault),
            _ => WorkStatus.Malformed,
        };
    }
}
