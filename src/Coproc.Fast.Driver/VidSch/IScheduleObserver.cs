namespace Coproc.Fast.Driver.VidSch;

/// <summary>What happened (the scheduling events a trace records).</summary>
public enum ScheduleEventKind : byte
{
    /// <summary>A DMA buffer entered its context's software queue and the ready queue.</summary>
    BufferSubmitted = 1,
    /// <summary>The preparation worker finished a buffer (or chunk): resident, patched, paging buffer built.</summary>
    BufferPrepared,
    /// <summary>A paging buffer was built for the next chunk (Value = operations, Extra = fences, Bytes = bytes moved).</summary>
    PagingBuffer,
    /// <summary>A chunk was written to its context's ring (handed to the hardware).</summary>
    BufferStarted,
    /// <summary>A buffer retired (Value = the scheduler fence value).</summary>
    BufferCompleted,
    /// <summary>The running context was preempted mid-buffer (quantum expired, another of ≥ priority waits).</summary>
    ContextPreempted,
    /// <summary>The engine switched to a context (Value = switch reason of the one left, Extra = id of the one left, 0 none).</summary>
    ContextSwitched,
    /// <summary>The device reported a fault of a context (Value = interrupt source, Extra = address).</summary>
    ContextFault,
    /// <summary>A context was reset (timeout or fault); Value = buffers failed.</summary>
    ContextReset,
    /// <summary>A buffer was split; Value = chunk end byte offset.</summary>
    BufferSplit,
    /// <summary>A buffer failed on its own (Value = <see cref="SubmissionStatus"/>, e.g. its resources never fit).</summary>
    BufferFailed,
    /// <summary>A context reached a wait it cannot complete and went on the objects' wait lists (Value = first object handle).</summary>
    ContextWaiting,
    /// <summary>A context's wait completed (at once or by another's signal): its held-back work is released (Value = first object handle).</summary>
    ContextReadied,
}

/// <summary>One scheduling event: a plain value so observers can record traces without allocating.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Cycle">Device cycle (virtual time) at which the scheduler saw it.</param>
/// <param name="ContextId">The context concerned (−1 none).</param>
/// <param name="SubmissionId">The buffer concerned (per-context submission number, 0 none).</param>
/// <param name="Value">Kind-specific value.</param>
/// <param name="Extra">Kind-specific value.</param>
/// <param name="Bytes">Bytes concerned (paging buffers), else 0.</param>
public readonly record struct ScheduleEvent(ScheduleEventKind Kind, ulong Cycle, int ContextId, long SubmissionId, ulong Value, ulong Extra, ulong Bytes = 0);

/// <summary>
/// Receives scheduling events (for a Perfetto/Chrome trace or metrics recorder elsewhere). Called under the
/// scheduler's lock, on whichever thread made the decision: keep it short. The default is none, at no cost.
/// </summary>
public interface IScheduleObserver
{
    /// <summary>One event.</summary>
    void OnEvent(in ScheduleEvent e);
}
