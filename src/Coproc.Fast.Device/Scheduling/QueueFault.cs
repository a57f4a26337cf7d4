namespace Coproc.Fast.Device.Scheduling;

/// <summary>Why a user queue was faulted (SC_LAST_FAULT bits 8..15; native-layout.md §13.4).</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum QueueFaultReason : byte
{
    /// <summary>No fault.</summary>
    None = 0,
    /// <summary>The descriptor's Base does not decode, is not 4 KiB aligned, or the ring is outside memory.</summary>
    BadRingBase = 1,
    /// <summary>The descriptor's SizeBytes is not a power of two in 4 KiB .. 16 MiB.</summary>
    BadRingSize = 2,
    /// <summary>The descriptor's ContextId differs from the doorbell's registered context.</summary>
    ContextMismatch = 3,
    /// <summary>WritePtr is more than SizeBytes ahead of ReadPtr (a runaway producer).</summary>
    RunawayWritePtr = 4,
    /// <summary>WritePtr is behind ReadPtr.</summary>
    WritePtrBehindReadPtr = 5,
    /// <summary>WritePtr is not a multiple of 4 (packets are whole dwords).</summary>
    MisalignedWritePtr = 6,
    /// <summary>A malformed packet in the queue (reported by the command processor).</summary>
    MalformedPacket = 7,
    /// <summary>The queue was registered without an execution context (DB_SAVE_AREA = 0), so no engine can run it.</summary>
    NoExecutionContext = 8,
    /// <summary>The execution context's save area does not name the queue's ring descriptor and context id.</summary>
    SaveAreaMismatch = 9,
    /// <summary>The command processor faulted the queue's context (page, protection or other fault; its save area's fault record says why).</summary>
    ContextFault = 10,
    /// <summary>
    /// The queue ran on engines for SC_QUEUE_TIMEOUT cycles without completing a packet (hang detection, native-layout.md
    /// §13.7); detail = the cycles counted. Waiting on a WAIT is not counted.
    /// </summary>
    Timeout = 11,
}

/// <summary>A fault record: which queue stopped, why, and when (device cycle).</summary>
/// <param name="Doorbell">The queue's doorbell.</param>
/// <param name="ContextId">The queue's registered context.</param>
/// <param name="Reason">Why.</param>
/// <param name="Detail">Reason-specific value (e.g. the offending WritePtr or packet offset).</param>
/// <param name="Cycle">Device cycle of the fault.</param>
internal readonly record struct QueueFault(int Doorbell, uint ContextId, QueueFaultReason Reason, ulong Detail, ulong Cycle)
{
    /// <summary>Encoding in SC_LAST_FAULT: bits 0..7 doorbell, 8..15 reason, 32..63 context id.</summary>
    public ulong Register => (uint)Doorbell | ((ulong)Reason << 8) | ((ulong)ContextId << 32);
}
