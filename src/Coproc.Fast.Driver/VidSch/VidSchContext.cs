using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>What became of a submission (a reset context's queued work fails with a typed status).</summary>
public enum SubmissionStatus : byte
{
    /// <summary>Unknown id (never submitted on this context).</summary>
    Unknown = 0,
    /// <summary>Queued, being prepared or running.</summary>
    Pending,
    /// <summary>Retired by its scheduler fence.</summary>
    Completed,
    /// <summary>Failed: the context was reset after a timeout (TDR).</summary>
    FailedTimeout,
    /// <summary>Failed: the context faulted and was reset.</summary>
    FailedFault,
    /// <summary>Failed: its resources cannot be resident at once even after eviction and splitting.</summary>
    FailedDoesNotFit,
    /// <summary>
    /// Failed: the kernel could not prepare it (an allocation it names was freed after submission, or preparation
    /// failed unexpectedly). Only this buffer fails; the context and the engine keep serving (docs/containment.md).
    /// </summary>
    FailedPreparation,
}

/// <summary>
/// A kernel scheduling context of the basic model (seed 001 §3, §19.1): a save area and a kernel-owned ring in
/// local memory (rings are never in any context's VA, §7.4), a scheduler fence, a binding table that chunk state
/// setups reprogram (§3.4), a priority, and its software queue of DMA buffers.
/// </summary>
public sealed partial class VidSchContext : GpuContext
{
    internal VidSchContext(int id, uint processId, int priority, Coproc.Fast.Device.Engines.EngineKind engine)
        : base(id, processId, priority, engine, ContextPath.Kernel)
    {
    }

    /// <summary>
    /// Times the engine set this context aside for a user queue that outranked it, or whose equal turn it was
    /// (native-layout.md §13.7 "Arbitration").
    /// </summary>
    public long UserQueuePreemptions { get; internal set; }

    /// <summary>Never: a kernel-path context is reset instead of stopped (its queued work fails; it keeps serving).</summary>
    public override bool IsStopped => false;

    /// <summary>Save area (256 B, local memory).</summary>
    public PhysicalAddress SaveArea { get; internal set; }

    /// <summary>Ring descriptor (local memory).</summary>
    public PhysicalAddress RingDescriptor { get; internal set; }

    /// <summary>Ring bytes (local memory).</summary>
    public PhysicalAddress Ring { get; internal set; }

    /// <summary>Ring size in bytes.</summary>
    public uint RingBytes { get; internal set; }

    /// <summary>The scheduler fence (8 bytes): each chunk's ring entry ends with a privileged FENCE of the next value.</summary>
    public PhysicalAddress Fence { get; internal set; }

    /// <summary>Binding table (8 bytes per resource id): the addresses the last state setup programmed.</summary>
    public PhysicalAddress BindingTable { get; internal set; }

    /// <summary>Buffers submitted.</summary>
    public long Submitted { get; internal set; }

    /// <summary>Buffers completed.</summary>
    public long Completed { get; internal set; }

    /// <summary>Buffers failed (reset or do-not-fit).</summary>
    public long Failed { get; internal set; }

    /// <summary>Times this context was reset.</summary>
    public int Resets { get; internal set; }

    /// <summary>Times it was preempted mid-buffer.</summary>
    public int Preemptions { get; internal set; }

    /// <summary>
    /// Time owed (positive) or overdrawn (negative) against the quantum, in cycles, added to its next slice
    /// (seed 001 §5.5 compensation; bounded to −½ … +1 quantum).
    /// </summary>
    public long QuantumBalance => QuantumCredit;

    /// <summary>Last scheduler fence value issued.</summary>
    public ulong FenceIssued { get; internal set; }

    /// <summary>The status of submission <paramref name="submissionId"/>.</summary>
    public SubmissionStatus StatusOf(long submissionId)
    {
        if (submissionId <= 0 || submissionId > Submitted) return SubmissionStatus.Unknown;
        lock (_statusLock)
        {
            if (_failed.TryGetValue(submissionId, out var s)) return s;
            return submissionId <= _finishedThrough || _finishedAhead.Contains(submissionId) ? SubmissionStatus.Completed : SubmissionStatus.Pending;
        }
    }

    // Kernel allocations backing the context.
    internal AllocationHandle LocalPage, RingAllocation, SystemPage;
    internal ulong BindingTableKernelAddress;

    // Ring producer position (free-running bytes, as RingDescriptor.WritePtr).
    internal ulong RingWrite;

    // Ready-queue round of its last buffer (Fig. 2 interleaving among equals, §5.5).
    internal ulong LastRound;

    // Chunks written to the ring and not yet retired, oldest first.
    internal readonly List<InFlightChunk> InFlight = new();

    // Buffers admitted to the ready queue whose last chunk is not yet in the ring (ready, parked, being prepared or
    // prepared): the context still has work on its way, so the engine is kept for it within its quantum (seed 001
    // §5.5 "pick the current context again") and never handed to a lower level meanwhile.
    internal int Queued;

    // Ready buffers taken off the ready queue while the context already had MaxInFlight chunks in its ring: they go
    // back, in their original order (priority, round, sequence), when one of those chunks retires. Parking keeps a
    // context that cannot launch from occupying the single prepared stage that every other context needs.
    internal readonly Queue<DmaBuffer> Parked = new();
    // The head of Parked was set aside because it fits in memory only beside fewer of this context's own pinned
    // chunks (VidSchScheduler.Prepare.cs, own working set first): Parked returns on this context's next retirement or
    // reset, not merely when the ring has room.
    internal bool ParkedForOwnRetirement;
    // A prepared chunk set aside because the in-flight bound kept it out of the ring (VidSchScheduler.Hardware.cs,
    // head-of-line invariant): launched before any later chunk of this context.
    internal InFlightChunk? ParkedChunk;

    // Memory lending (VidSchScheduler.Lending.cs, invariant L): the state, whether a reported CONTEXT_SWITCH away from it
    // is still needed, the context it lends to, the group retirement count at its last return attempt, and the paging-
    // fence value its return waits for (the paging queue's; 0: none).
    internal LendState Lending;
    internal bool LendNeedsSwitch;
    internal int LentFor;
    internal long LendRetrySeen = -1;
    internal ulong ReturnWait;

    // Turns among equals for memory across engines (VidSchScheduler.Lending.cs, invariant E): whether it holds memory
    // (a chunk in its ring since its last launch into an empty, idle stream, or its lent memory being returned), from
    // which device cycle, the engine time it has been loaded since then over its finished load periods, and the cycles
    // from then to its first load (its memory's arrival: paging; ulong.MaxValue until it is loaded).
    internal bool HoldsMemory;
    internal ulong MemorySince;
    internal ulong MemoryRunCycles;
    internal ulong MemoryArrival;

    // Set only during a lending trial (VidSchScheduler.Lending.cs): its prepared-but-not-launched chunk is left out.
    internal bool TrialUnprepared;

    // Lent to give this context its lent memory back (invariant E): it does not return before that context has.
    internal VidSchContext? LendsToReturnOf;

    // Quantum accounting: when it was last loaded, and time owed or overdrawn (§5.5 compensation).
    internal ulong LoadedAt;
    internal long QuantumCredit;
    internal bool Loaded;
    internal ulong LoadOrder;

    // Synchronization objects and the event history (seed 001 §10–§11; VidSchScheduler.Sync.cs), created on first use.
    internal Sync.ContextSyncState? Sync;

    // Timeout detection on active time (VidSchScheduler.Recovery.cs): the device cycle at which the scheduler saw this
    // context's last progress (a chunk retired, work arrived while it had none, a reset finished), and the engine
    // cycles it held the engine since then over its finished load periods (from the device's switch reports).
    internal ulong ProgressAt;
    internal ulong StallCycles;

    // Reset in progress: ResetTicket is the idle-switch request whose confirmation proves the engine left the context
    // for good (0 = not issued yet), issued at ResetIssuedAt.
    internal SubmissionStatus ResetReason;
    internal bool Resetting;
    internal ulong ResetTicket;
    internal ulong ResetIssuedAt;

    // Statuses without a per-submission record: buffers of a context finish almost in order, so a watermark (every id
    // up to it finished) plus the few finished ahead of it, plus the (rare) failures, say everything. Bounded memory.
    private readonly object _statusLock = new();
    private readonly Dictionary<long, SubmissionStatus> _failed = new();
    private readonly HashSet<long> _finishedAhead = new();
    private long _finishedThrough;

    internal void Finish(long submissionId, SubmissionStatus status)
    {
        lock (_statusLock)
        {
            if (status != SubmissionStatus.Completed) _failed[submissionId] = status;
            if (submissionId == _finishedThrough + 1)
            {
                _finishedThrough++;
                while (_finishedAhead.Remove(_finishedThrough + 1)) _finishedThrough++;
            }
            else _finishedAhead.Add(submissionId);
        }
        if (status == SubmissionStatus.Completed) Completed++;
        else Failed++;
    }
}

/// <summary>A chunk of a DMA buffer written to a context's ring (or prepared, or parked), not yet retired.</summary>
internal sealed class InFlightChunk
{
    public DmaBuffer? Buffer;          // its buffer (null only once returned to the pool)
    public int Start, End;             // dword range of the chunk
    public int FirstRef, EndRef;       // its resource-list entries
    public readonly List<Coproc.Fast.Driver.VidMm.Residency.ResourceReference> Setup = new();
    public bool Last;                  // the buffer's last chunk: retiring it completes the buffer
    public ulong Fence;                // scheduler fence value written at its end
    public ulong PagingLast;           // the paging-queue fence value its own paging buffer ends with (0: none)
    // The paging-queue fence value the chunk waits for before it runs (0: none): its own paging buffer, and the last
    // paging buffer that moved what it references (SchedulerGroup (2)).
    public ulong PagingWait;

    public void Reset()
    {
        Buffer = null;
        Start = End = FirstRef = EndRef = 0;
        Setup.Clear();
        Last = false;
        Fence = PagingLast = PagingWait = 0;
    }
}
