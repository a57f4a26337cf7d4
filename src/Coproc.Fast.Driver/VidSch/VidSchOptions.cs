using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>Configuration of the basic-model scheduler (seed 001 §3, §5.5, §13; docs/concepts.md, "The basic model").</summary>
public sealed record VidSchOptions
{
    /// <summary>The engine the basic model drives (every context runs on it). Default render.</summary>
    public EngineKind Engine { get; init; } = EngineKind.Render;

    /// <summary>
    /// Time slice in device cycles (1 GHz: 1 ms). A context past it (± compensation) is preempted when another of equal
    /// priority has work; a higher priority preempts at once (§5.5; docs/scheduling-policy.md).
    /// </summary>
    public ulong QuantumCycles { get; init; } = 1_000_000;

    /// <summary>
    /// Mid-buffer preemption (seed 001 §5.5; default on). When off, VidSch never writes CONTEXT_SWITCH to take the
    /// engine from a context whose ring still has work: a higher priority, or an equal whose quantum came, gets the
    /// engine only at the next buffer boundary (NEXT_CONTEXT when the ring runs empty) — the comparison a
    /// non-preemptible coprocessor gives. Paging and timeout recovery still switch.
    /// </summary>
    public bool Preemption { get; init; } = true;

    /// <summary>
    /// A DMA buffer whose resource footprint exceeds this many bytes is split at its resource-list offsets
    /// (seed 000 "threshold"; §3.4). Default: no threshold (split only when it does not fit).
    /// </summary>
    public ulong SplitThresholdBytes { get; init; } = ulong.MaxValue;

    /// <summary>Timeout detection: a buffer that has not completed this many cycles after it started is reset (TDR). Default 2 s.</summary>
    public ulong TimeoutCycles { get; init; } = 2_000_000_000;

    /// <summary>
    /// Context id of the first basic-model context (then +1 each): a range of its own, so interrupts of user-queue
    /// contexts (seed 003) or VidMm's paging context (0xFFFF_FF00) are never taken for a basic-model context's.
    /// </summary>
    public int FirstContextId { get; init; } = 0x1_0000;

    /// <summary>Highest resource id the UMD may use (declared at start-up, seed 001 §3.2).</summary>
    public ushort MaxResourceId { get; init; } = 15;

    /// <summary>Bytes of each context's kernel ring (power of two, 4 KiB … 16 MiB).</summary>
    public uint RingBytes { get; init; } = 16 * 1024;

    /// <summary>Dwords of one DMA buffer; a larger command buffer is rejected as too large.</summary>
    public int DmaBufferDwords { get; init; } = 16 * 1024;

    /// <summary>Resource-list entries one DMA buffer can carry.</summary>
    public int MaxReferences { get; init; } = 1024;

    /// <summary>Dwords of one paging buffer.</summary>
    public int PagingBufferDwords { get; init; } = 8 * 1024;

    /// <summary>
    /// Launched-but-unretired chunks per context at most: 2 = one running plus one next, the three stages of §3.3
    /// (running / being prepared / ready) with the prepared one handed to the hardware. The bound is per context, so
    /// another context's chunks never keep a context out of its own ring (strict priority and "pick the current context
    /// again", seed 001 §5.5; docs/scheduling-policy.md); a ready buffer of a context at the bound waits parked, outside
    /// the preparation stage, until one of its chunks retires.
    /// </summary>
    public int MaxInFlight { get; init; } = 2;

    /// <summary>Modeled CPU cost of preparing one buffer (deterministic mode), in device cycles.</summary>
    public ulong PrepareBaseCycles { get; init; } = 2_000;

    /// <summary>Modeled CPU cost per resource-list entry and per paging operation.</summary>
    public ulong PreparePerItemCycles { get; init; } = 100;

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> when a value is out of range (every span of cycles at most
    /// <see cref="MachineOptions.MaxCycleSpan"/>; quantum and timeout at least 1).
    /// </summary>
    public void Validate()
    {
        if (RingBytes < 4096 || RingBytes > (16u << 20) || (RingBytes & (RingBytes - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(RingBytes), "a power of two between 4 KiB and 16 MiB");
        // Spans of cycles: deadlines are now + span (MachineOptions.MaxCycleSpan).
        MachineOptions.CheckSpan(QuantumCycles, nameof(QuantumCycles), min: 1);
        MachineOptions.CheckSpan(TimeoutCycles, nameof(TimeoutCycles), min: 1);
        MachineOptions.CheckSpan(PrepareBaseCycles, nameof(PrepareBaseCycles));
        MachineOptions.CheckSpan(PreparePerItemCycles, nameof(PreparePerItemCycles));
        ArgumentOutOfRangeException.ThrowIfLessThan(DmaBufferDwords, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReferences, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(PagingBufferDwords, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxInFlight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(FirstContextId, 1);
        if (MaxResourceId > 255) throw new ArgumentOutOfRangeException(nameof(MaxResourceId), "at most 255");
    }
}
