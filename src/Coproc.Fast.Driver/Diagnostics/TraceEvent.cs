namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>What a trace event is, in the Chrome/Perfetto trace-event vocabulary.</summary>
public enum TracePhase : byte
{
    /// <summary>A slice with a start and a duration ("X").</summary>
    Complete = 0,
    /// <summary>The start of a slice whose end comes later on the same track ("B").</summary>
    Begin = 1,
    /// <summary>The end of the innermost open slice on the track ("E").</summary>
    End = 2,
    /// <summary>A point in time: a fault, a flip, an interrupt ("i").</summary>
    Instant = 3,
    /// <summary>A sampled value: memory residency, queue depth ("C").</summary>
    Counter = 4,
}

/// <summary>The scheduling concept an event belongs to; becomes the trace-event category.</summary>
public enum TraceCategory : byte
{
    /// <summary>A DMA buffer running on an engine or waiting in a context's software queue (seed 001 §6).</summary>
    DmaBuffer = 0,
    /// <summary>A paging buffer (evict, page-in, relocate) built by VidMm (seed 001 §11).</summary>
    PagingBuffer = 1,
    /// <summary>A page, protection or command fault of one context.</summary>
    Fault = 2,
    /// <summary>A display flip (immediate or latched at vsync).</summary>
    Flip = 3,
    /// <summary>A device interrupt taken by the driver.</summary>
    Interrupt = 4,
    /// <summary>A preemption request or its completion (seed 001 §8).</summary>
    Preemption = 5,
    /// <summary>Bytes of a segment in use (resident allocations).</summary>
    Residency = 6,
    /// <summary>Entries waiting in a software or hardware queue.</summary>
    QueueDepth = 7,
    /// <summary>A vertical sync.</summary>
    Vsync = 8,
    /// <summary>Anything else (gate entries, resets).</summary>
    Other = 9,
}

/// <summary>
/// One trace event. Times are in <b>device cycles</b>, never wall clock, so a deterministic run gives a
/// byte-identical trace; writers convert cycles to microseconds at the device clock (1 GHz by default).
/// A small value type: building one allocates nothing, and <see cref="Name"/> is expected to be a constant
/// or a cached string so that emitting stays allocation-free.
/// </summary>
/// <param name="Phase">Slice, begin, end, instant or counter.</param>
/// <param name="Track">Track id returned by <see cref="ITraceSink.DefineTrack"/>.</param>
/// <param name="Category">The scheduling concept.</param>
/// <param name="Name">Display name (a DMA buffer's label, a fault reason, a counter's series name).</param>
/// <param name="StartCycle">Device cycle at which it starts (or happens).</param>
/// <param name="DurationCycles">Length in device cycles (<see cref="TracePhase.Complete"/> only).</param>
/// <param name="Value">The counter value (<see cref="TracePhase.Counter"/>), or an event-specific number (a fence value, a byte count).</param>
/// <param name="Id">An identifier of the work item (DMA buffer sequence number, fault address), 0 when none.</param>
/// <param name="ProcessId">The emulated process on whose behalf it happened (colours engine slices per process), 0 = kernel/device.</param>
/// <param name="ContextId">The context it belongs to, 0 when none.</param>
public readonly record struct TraceEvent(
    TracePhase Phase,
    int Track,
    TraceCategory Category,
    string Name,
    ulong StartCycle,
    ulong DurationCycles = 0,
    long Value = 0,
    ulong Id = 0,
    uint ProcessId = 0,
    uint ContextId = 0)
{
    /// <summary>A complete slice of <paramref name="durationCycles"/> cycles.</summary>
    public static TraceEvent Slice(int track, TraceCategory category, string name, ulong startCycle, ulong durationCycles,
        uint processId = 0, uint contextId = 0, ulong id = 0, long value = 0) =>
        new(TracePhase.Complete, track, category, name, startCycle, durationCycles, value, id, processId, contextId);

    /// <summary>An instant.</summary>
    public static TraceEvent Instant(int track, TraceCategory category, string name, ulong cycle,
        uint processId = 0, uint contextId = 0, ulong id = 0, long value = 0) =>
        new(TracePhase.Instant, track, category, name, cycle, 0, value, id, processId, contextId);

    /// <summary>A counter sample.</summary>
    public static TraceEvent Counter(int track, TraceCategory category, string name, ulong cycle, long value) =>
        new(TracePhase.Counter, track, category, name, cycle, 0, value);

    /// <summary>End of a cycle-ordered event: start + duration.</summary>
    public ulong EndCycle => StartCycle + DurationCycles;
}
