using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Scheduling;

/// <summary>
/// One entry handed from an engine's run list to its command processor: which user queue to run, for how long and
/// where its ring descriptor is (seed 003: "updates the engine run lists with the new jobs"). The command processor
/// reads packets between the descriptor's ReadPtr and WritePtr, writes ReadPtr back, and then calls
/// <see cref="IEngineRunListSource.Report"/> with this value.
/// </summary>
[StructLayout(LayoutKind.Auto)]
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "A hardware user queue (seed 003), not a collection; a public name used by callers and the docs.")]
internal readonly record struct RunnableQueue
{
    /// <summary>The queue's doorbell (0..255).</summary>
    public required int Doorbell { get; init; }

    /// <summary>The hardware slot it occupies in its engine's run list.</summary>
    public required int Slot { get; init; }

    /// <summary>Registration generation; a report for an older generation is ignored.</summary>
    public required uint Generation { get; init; }

    /// <summary>The engine.</summary>
    public required EngineKind Engine { get; init; }

    /// <summary>Priority 0 (lowest) .. 15 (highest).</summary>
    public required byte Priority { get; init; }

    /// <summary>Time slice in device cycles.</summary>
    public required uint TimeSliceCycles { get; init; }

    /// <summary>The owning context.</summary>
    public required uint ContextId { get; init; }

    /// <summary>Physical address of the queue's ring descriptor (native-layout.md §10).</summary>
    public required PhysicalAddress Descriptor { get; init; }

    /// <summary>Encoded PA of the queue's execution context (save area: address space + ring), 0 = none (DB_SAVE_AREA).</summary>
    public ulong SaveArea { get; init; }
}

/// <summary>
/// The seam between the scheduling core and the command processors: each engine pulls the next queue to run and
/// reports back how long it ran and whether it drained the queue. All calls come from the device thread (the one
/// that calls <see cref="SchedulingCore.Service"/>).
/// </summary>
internal interface IEngineRunListSource
{
    /// <summary>The next queue <paramref name="engine"/> should run: the highest-priority slotted queue, round-robin among equals.</summary>
    bool TryGetNext(EngineKind engine, out RunnableQueue queue);

    /// <summary>
    /// Like <see cref="TryGetNext(EngineKind, out RunnableQueue)"/>, skipping the doorbells set in <paramref name="skip"/>
    /// (a 256-bit set as four words): a command processor passes the queues that yielded on a wait during its slice, so a
    /// waiting queue does not keep lower-priority ones off the engine.
    /// </summary>
    bool TryGetNext(EngineKind engine, ReadOnlySpan<ulong> skip, out RunnableQueue queue);

    /// <summary>
    /// Reports a run: <paramref name="cyclesUsed"/> counts against the time slice; <paramref name="drained"/> = the command
    /// processor found ReadPtr == WritePtr, so the queue leaves the run list until its doorbell rings again.
    /// </summary>
    void Report(in RunnableQueue queue, ulong cyclesUsed, bool drained);

    /// <summary>
    /// True while <paramref name="queue"/> (from <see cref="TryGetNext(EngineKind, out RunnableQueue)"/>) still holds its slot and registration, so a
    /// command processor may keep running it for the rest of its time slice without asking again.
    /// </summary>
    bool IsSlotted(in RunnableQueue queue);

    /// <summary>Faults a queue (e.g. a malformed packet found by the command processor); only that queue stops.</summary>
    void FaultQueue(int doorbell, QueueFaultReason reason, ulong detail);
}
