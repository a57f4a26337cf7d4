using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// What the per-engine schedulers of one device share (docs/concepts.md, "The basic model", multiple engines): the kernel lock,
/// the page of per-engine paging fences, and the list of members, so that
/// (1) a residency request of any engine includes the chunks every engine has pinned — VidMm never moves what a
/// buffer on another engine still uses (seed 001 §5.6: memory never changes under a running context; a context lending
/// its memory is off its engine and pins nothing, VidSchScheduler.Lending.cs invariant L), and
/// (2) a paging buffer runs after every earlier-recorded paging buffer of another engine whose memory it touches, and a
/// chunk after the paging buffers that moved what it references (each engine has its own paging fence and ring;
/// dependencies across engines become WAIT_FENCE packets on the other engine's fence).
/// </summary>
/// <remarks>
/// One lock for all engines keeps every kernel decision serial, as the single scheduler was; the engines still run
/// in parallel on the device, and their paging buffers too unless one touches memory another has yet to move.
/// </remarks>
internal sealed class SchedulerGroup
{
    private AllocationHandle _pagingPage;

    /// <summary>The lock every kernel decision of every member runs under.</summary>
    public object Lock { get; } = new();

    /// <summary>The members (one per scheduled engine), in creation order.</summary>
    public List<VidSchScheduler> Members { get; } = new();

    /// <summary>Most members a group has (one per engine; each gets an 8-byte paging fence in <see cref="PagingPage"/>).</summary>
    public const int MaxMembers = 8;

    /// <summary>The page holding every member's paging fence (member i at byte 8 × i, system memory).</summary>
    public PhysicalAddress PagingFences { get; private set; }

    /// <summary>The allocation holding the paging fences (their kernel-view addresses are what WAIT_FENCE reads).</summary>
    public AllocationHandle PagingPage => _pagingPage;


    /// <summary>
    /// The machine's synchronization objects: shared, so contexts of different engines and back ends synchronize
    /// (Sync/SyncObjectTable.cs).
    /// </summary>
    public readonly Sync.SyncObjectTable SyncObjects = new();

    /// <summary>Chunks retired (or pins released by lending) by any member so far: a member with a deferred preparation,
    /// or a lent context, retries when it moves.</summary>
    public long Retirements;

    /// <summary>Allocates the paging-fence page on first use (the first member's constructor).</summary>
    public void EnsurePagingFence(VideoMemoryManager vidmm)
    {
        if (!_pagingPage.IsNull) return;
        _pagingPage = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly,
            flags: AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
        PagingFences = vidmm.PhysicalAddressOf(_pagingPage, 0);
        vidmm.Memory.GetSpan(PagingFences, 8 * MaxMembers).Clear();
    }
}
