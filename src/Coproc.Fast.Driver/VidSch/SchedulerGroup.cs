using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// What the per-engine schedulers of one device share (docs/concepts.md, "The basic model", multiple engines): the kernel lock,
/// the machine's one paging channel, and the list of members, so that
/// (1) a residency request of any engine includes the chunks every engine has pinned — VidMm never moves what a
/// buffer on another engine still uses (seed 001 §5.6: memory never changes under a running context; a context lending
/// its memory is off its engine and pins nothing, VidSchScheduler.Lending.cs invariant L), and
/// (2) every paging buffer goes to the seed 004 device paging queue (<see cref="Paging"/>), one ring run by one kernel
/// context, so paging buffers execute in the order VidMm recorded their moves whichever engine's chunk needed them; a
/// chunk waits (WAIT_FENCE on the queue's paging fence) for the paging that moved what it references
/// (<see cref="PagingOutstanding"/>).
/// </summary>
/// <remarks>
/// One lock for all engines keeps every kernel decision serial, as the single scheduler was; the engines still run
/// in parallel on the device. The queue's kernel context runs on one engine, the paging engine (docs/memory.md, "One
/// paging channel"): its member (<see cref="PagingMember"/>) gives it that engine at top priority while it has work
/// (seed 001 behaviour 17). In the advanced model the run-list back end lists it instead and there is no paging member.
/// </remarks>
internal sealed class SchedulerGroup : IPagingContextScheduler
{
    private readonly Stack<PagingFootprint> _footprintPool = new();

    /// <summary>The lock every kernel decision of every member runs under.</summary>
    public object Lock { get; } = new();

    /// <summary>The members (one per scheduled engine), in creation order.</summary>
    public List<VidSchScheduler> Members { get; } = new();

    /// <summary>The machine's device paging queue (seed 004): the one paging channel of every member (set once, before
    /// the first member is built).</summary>
    public DevicePagingQueue Paging { get; private set; } = null!;

    /// <summary>The member that runs the queue's kernel context on its engine; null when another back end does (the
    /// advanced model's run lists) or before it is chosen.</summary>
    public VidSchScheduler? PagingMember { get; private set; }

    /// <summary>The engine the queue's context runs on (diagnostics: where paging time is shown).</summary>
    public Coproc.Fast.Device.Engines.EngineKind PagingEngine { get; set; }

    /// <summary>Called when a member put paging in the queue and no member runs its context (the advanced model: the
    /// run-list back end lists it at its next reschedule; its own paging reschedules by itself).</summary>
    public Action? PagingQueuedElsewhere { get; set; }

    /// <summary>
    /// Paging buffers the members recorded and the device has not been seen to finish, oldest first: the memory and
    /// allocations each touches and the queue fence value it ends with. A chunk waits for the last one that touches
    /// what it references (VidSchScheduler.Prepare.cs, SetPagingWaits).
    /// </summary>
    public List<(PagingFootprint Footprint, ulong Last)> PagingOutstanding { get; } = new();

    /// <summary>
    /// The machine's synchronization objects: shared, so contexts of different engines and back ends synchronize
    /// (Sync/SyncObjectTable.cs).
    /// </summary>
    public readonly Sync.SyncObjectTable SyncObjects = new();

    /// <summary>Chunks retired (or pins released by lending) by any member so far: a member with a deferred preparation,
    /// or a lent context, retries when it moves.</summary>
    public long Retirements;

    /// <summary>Creates the group's queue over VidMm and <paramref name="residency"/>: fence, ring and arena in system
    /// memory (<paramref name="inSystemMemory"/>, as the basic model's paging buffers always were: local memory is what
    /// paging manages) or local memory.</summary>
    public void CreatePaging(VideoMemoryManager vidmm, IResidencyManager residency, uint ringBytes = 64 << 10, ulong arenaBytes = 256 << 10,
        bool inSystemMemory = true)
    {
        if (Paging is not null) throw new InvalidOperationException("the group already has its paging queue");
        Paging = new DevicePagingQueue(vidmm, residency, this, ringBytes, arenaBytes, inSystemMemory);
    }

    /// <summary>Makes <paramref name="member"/> the one that runs the queue's context on its engine.</summary>
    public void SetPagingMember(VidSchScheduler member)
    {
        if (PagingMember is not null) throw new InvalidOperationException("the paging engine is chosen once");
        PagingMember = member;
        PagingEngine = member.Options.Engine;
        member.BecomePagingEngine();
    }

    /// <inheritdoc />
    bool IPagingContextScheduler.RequestRun(PhysicalAddress saveArea)
    {
        // No paging member: the run lists name the context while it has work (RunListScheduler.RunList.cs) — at their
        // next reschedule, which this asks for. Invariant: every operation on the one paging queue gets its context run,
        // whoever queued it — VidSch, the run-list back end's fault service, or a caller of Machine.Paging directly (a
        // tiled reserve whose fence a context waits on would otherwise wait until some unrelated event rescheduled).
        if (PagingMember is { } member) member.RequestPagingPass();
        else PagingQueuedElsewhere?.Invoke();
        return true;
    }

    /// <summary>The queue's progress as the device wrote it: frees executed paging buffers, wakes CPU waiters, returns
    /// memory the executed paging vacated, writes what waits, and forgets footprints the fence passed. Kernel lock held.</summary>
    public void RetirePaging()
    {
        Paging.NotifyFenceInterrupt();
        ulong done = Paging.Completed;
        int k = 0;
        while (k < PagingOutstanding.Count && (long)(done - PagingOutstanding[k].Last) >= 0) _footprintPool.Push(PagingOutstanding[k++].Footprint);
        if (k > 0) PagingOutstanding.RemoveRange(0, k);
    }

    /// <summary>A cleared footprint (pooled: no allocation per paging buffer in steady state).</summary>
    public PagingFootprint RentFootprint()
    {
        if (!_footprintPool.TryPop(out var f)) return new PagingFootprint();
        f.Ranges.Clear();
        f.Moved.Clear();
        return f;
    }
}

/// <summary>What one recorded paging buffer touches: the memory its copies read and write, as [start, end) of encoded
/// physical addresses, and the allocations it moves.</summary>
internal sealed class PagingFootprint
{
    public readonly List<(ulong Start, ulong End)> Ranges = new();
    public readonly HashSet<AllocationHandle> Moved = new();
}
