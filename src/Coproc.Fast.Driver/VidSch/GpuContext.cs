using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>How a context's work reaches its engine: the submission path and the engine back end that runs it (docs/models.md).</summary>
public enum ContextPath : byte
{
    /// <summary>
    /// Ring 0: the UMD's command buffer is copied in, validated, patched and split by the KMD into DMA buffers that VidSch
    /// writes to the context's kernel-owned ring and drives with CONTEXT_SWITCH / NEXT_CONTEXT (seed 001 §3, basic model;
    /// also the engines no other back end drives). The context is a <see cref="VidSchContext"/>.
    /// </summary>
    Kernel = 0,

    /// <summary>
    /// User-built DMA buffers in the process's GPU VA, listed in the engine's hardware run lists (seed 001 §4–§8,
    /// advanced model). The context is a <see cref="RunLists.VaContext"/>.
    /// </summary>
    RunList = 1,

    /// <summary>
    /// A ring-3 user queue rung through its doorbell and arbitrated by the device's scheduling core (seed 003; every
    /// context of the hardware model, and ring-3 queues in the others). The context is a <see cref="Kernel.UserQueueContext"/>.
    /// </summary>
    UserQueue = 2,
}

/// <summary>
/// A scheduling context, whichever back end runs it (seed 001 §4.1: a private ring, a save area and, from the advanced
/// model on, a private address space): its identity — id, owning process, priority, engine — and its path. Every model's
/// contexts are this one type; what a back end keeps besides lives in its kind (<see cref="VidSchContext"/>,
/// <see cref="RunLists.VaContext"/>, <see cref="Kernel.UserQueueContext"/>, told apart by <see cref="Path"/>). A machine lists
/// every live context in <see cref="Machine.Contexts"/>; its present path and observer take any of them, and the one
/// table of synchronization objects knows contexts by this id (kernel-path and run-list contexts use objects; user
/// queues synchronize with fences and WAIT/SIGNAL packets).
/// </summary>
/// <remarks>
/// Ids are unique across a machine's back ends (each draws from its own range, and a machine refuses a user queue
/// registered under an id another context holds: <see cref="Machine.ContextIdsPerEngine"/>
/// per kernel-path engine, <see cref="RunLists.RunListOptions.FirstContextId"/> on, the caller's ids or
/// <see cref="Kernel.UserQueueRegistrar.FirstKernelContextId"/> on for user queues); they are the ids the device writes
/// into save areas, history records and interrupts.
/// </remarks>
public abstract class GpuContext
{
    private protected GpuContext(int id, uint processId, int priority, EngineKind engine, ContextPath path)
    {
        Id = id;
        ProcessId = processId;
        Priority = priority;
        Engine = engine;
        Path = path;
    }

    /// <summary>Context id (as the device names it in save areas, history records and interrupts).</summary>
    public int Id { get; }

    /// <summary>The owning process.</summary>
    public uint ProcessId { get; }

    /// <summary>Scheduling priority: larger runs first (seed 001 §13; user queues 0..15 on the same scale).</summary>
    public int Priority { get; }

    /// <summary>The engine the context runs on (fixed at creation).</summary>
    public EngineKind Engine { get; }

    /// <summary>How its work reaches the engine, and so which kind of context it is.</summary>
    public ContextPath Path { get; }

    /// <summary>Its flip chain when it presents (<see cref="Display.PresentManager.CreateFlipChain(GpuContext, int)"/>), else null.</summary>
    public Display.FlipChain? FlipChain { get; internal set; }

    /// <summary>
    /// True once the context can run nothing more: a run-list context stopped by an error, a user queue the device
    /// faulted or that was unregistered. A kernel-path context is reset instead (its queued work fails, it keeps
    /// serving), so it never is.
    /// </summary>
    public abstract bool IsStopped { get; }

    /// <summary>Description for logs.</summary>
    public override string ToString() => $"{Path} context {Id} (pid {ProcessId}, {Engine}, prio {Priority})";
}
