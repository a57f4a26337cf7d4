namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>What happened (the advanced scheduler's event log; same inputs ⇒ same sequence).</summary>
public enum RunListEventKind : byte
{
    /// <summary>A user DMA buffer entered a context's ring (Detail = fence value).</summary>
    Submitted,
    /// <summary>Resources were prefetched for a submission (Detail = paging fence to wait for).</summary>
    Prefetched,
    /// <summary>A run list was submitted (Context = head's id, Detail = entry count).</summary>
    RunListSubmitted,
    /// <summary>A run list submission was deferred because one is pending (behaviour 21).</summary>
    RunListDeferred,
    /// <summary>The pending run list was confirmed and became current (Detail = its serial).</summary>
    RunListConfirmed,
    /// <summary>
    /// A context switch reconstructed from the history buffer or an interrupt (ContextId = the context left; Detail = the
    /// SwitchReason in bits 0..31, the context switched to in bits 32..63, 0 = idle).
    /// </summary>
    Switch,
    /// <summary>A context page-faulted and joined the paging list (Detail = faulting VA).</summary>
    PageFault,
    /// <summary>The paging thread served a context (Detail = paging fence it waits for, 0 = none).</summary>
    PagingServed,
    /// <summary>A faulted context's fault is resolved: Faulted cleared in its save area (Detail = paging fence).</summary>
    FaultResolved,
    /// <summary>A context stopped for good (Detail = fault address).</summary>
    ContextError,
    /// <summary>The empty report raced with a new buffer; the saved-context query found work (behaviour 19).</summary>
    EmptyRaceRequeued,
    /// <summary>A buffer retired (Detail = fence value).</summary>
    Retired,
    /// <summary>A quantum expired and the head was rotated.</summary>
    QuantumExpired,
}

/// <summary>One entry of the advanced scheduler's event log.</summary>
/// <param name="Cycle">Device cycle when the driver saw it.</param>
/// <param name="Kind">What happened.</param>
/// <param name="ContextId">Context concerned (0 = none; VidMm's paging context has its own id).</param>
/// <param name="Detail">Kind-specific value.</param>
public readonly record struct RunListEvent(ulong Cycle, RunListEventKind Kind, uint ContextId, ulong Detail);
