using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines;

/// <summary>
/// The seam between the command processor and the work executors (DRAW_RECTS, DISPATCH, VIDEO_DECODE,
/// VIDEO_ENCODE; see prompts/work-contract.md). The executors live in <c>Engines/Work/WorkExecutor</c>, built on
/// another branch; at merge time <see cref="Execute"/> forwards to <c>WorkExecutor.Execute</c> with the engine's
/// <c>WorkCosts</c>. Until then no executor is linked, so a work packet is reported as malformed and faults its
/// context as an invalid command — the same outcome as an unknown kernel.
/// </summary>
internal static class LongPacketDispatch
{
    /// <summary>The engine that runs a work opcode (contract: DRAW_RECTS → render, and so on).</summary>
    public static bool IsWorkOpcode(Opcode opcode, out EngineKind engine)
    {
        switch (opcode)
        {
            case Opcode.DrawRects: engine = EngineKind.Render; return true;
            case Opcode.Dispatch: engine = EngineKind.Compute; return true;
            case Opcode.VideoDecode: engine = EngineKind.VideoDecode; return true;
            case Opcode.VideoEncode: engine = EngineKind.VideoEncode; return true;
            default: engine = default; return false;
        }
    }

    /// <summary>Runs (part of) one work packet under the contract's budget rule.</summary>
    public static WorkStatus Execute(Opcode opcode, in GpuVirtualMemory memory, ReadOnlySpan<uint> packet,
                                     ref WorkState state, ref long budget, out WorkFault fault)
    {
        _ = opcode; _ = memory; _ = packet; _ = state; _ = budget;
        fault = default;
        return WorkStatus.Malformed;
    }
}
