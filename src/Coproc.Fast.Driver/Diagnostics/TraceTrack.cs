namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>What a track shows: the rows of a GPUView-like picture.</summary>
public enum TraceTrackKind : byte
{
    /// <summary>An engine's hardware queue: what actually ran on the engine (seed 001 §6, the hardware queue).</summary>
    Engine = 0,
    /// <summary>A context's software queue: what its process submitted and is waiting (seed 001 §6.2).</summary>
    ContextQueue = 1,
    /// <summary>A device-wide series of counter samples (memory residency, queue depth).</summary>
    Counter = 2,
    /// <summary>Device-wide instants (vsyncs, interrupts) that belong to no single engine or context.</summary>
    Device = 3,
}

/// <summary>
/// A named row of a trace. Engine tracks belong to the device process; context-queue tracks belong to the
/// process that owns the context, so the writers group and colour them per process.
/// </summary>
/// <param name="Id">Dense id, the index in <see cref="TraceRecorder.Tracks"/>.</param>
/// <param name="Kind">Engine, context queue, counter or device row.</param>
/// <param name="Name">Display name ("render", "game / ctx 2").</param>
/// <param name="ProcessId">Owning emulated process (0 = the device / kernel).</param>
/// <param name="ProcessName">Owning process's name ("compositor"); "device" for engine rows.</param>
/// <param name="ContextId">The context for <see cref="TraceTrackKind.ContextQueue"/>, else 0.</param>
public readonly record struct TraceTrack(int Id, TraceTrackKind Kind, string Name, uint ProcessId, string ProcessName, uint ContextId);
