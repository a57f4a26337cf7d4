using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Engines;

/// <summary>
/// The seam between the command processor and the work executors (DRAW_RECTS, DISPATCH, VIDEO_DECODE,
/// VIDEO_ENCODE): which engine runs a work opcode, and the call into <see cref="WorkExecutor.Execute"/> under
/// the budget rule (a unit, once started, completes; the engine yields only between units).
/// </summary>
internal static class LongPacketDispatch
{
    /// <summary>The engine that runs a work opcode (DRAW_RECTS → render, and so on).</summary>
    public static bool IsWorkOpcode(Opcode opcode, out EngineKind engine) => WorkExecutor.TryGetEngine(opcode, out engine);

    /// <summary>Runs (part of) one work packet.</summary>
    public static WorkStatus Execute(Opcode opcode, in GpuVirtualMemory memory, ReadOnlySpan<uint> packet,
                                     ref WorkState state, ref long budget, in WorkCosts costs, out WorkFault fault) =>
        WorkExecutor.Execute(opcode, memory, packet, ref state, ref budget, costs, out fault);
}
