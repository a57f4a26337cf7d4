using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// What the per-engine schedulers of one device share (docs/concepts.md, "The basic model", multiple engines): the kernel lock,
/// the paging fence and its issued / completed values, and the list of members, so that
/// (1) a residency request of any engine includes the chunks every engine has pinned — VidMm never moves what a
/// buffer on another engine still uses (seed 001 §5.6: memory never changes under a running context), and
/// (2) paging buffers run in the order their moves were recorded, whichever engine's ring carries them (one paging
/// fence, one comparison).
/// </summary>
/// <remarks>
/// One lock for all engines keeps every kernel decision serial, as the single scheduler was; the engines still run
/// in parallel on the device. The cost is that a chunk may wait for an earlier paging buffer queued on another
/// engine (conservative: its addresses were computed after those moves were recorded).
/// </remarks>
internal sealed class SchedulerGroup
{
    private AllocationHandle _pagingPage;

    /// <summary>The lock every kernel decision of every member runs under.</summary>
    public object Lock { get; } = new();

    /// <summary>The members (one per scheduled engine), in creation order.</summary>
    public List<VidSchScheduler> Members { get; } = new();

    /// <summary>The paging fence (8 bytes, system memory).</summary>
    public PhysicalAddress PagingFence { get; private set; }

    /// <summary>The allocation holding the paging fence (its kernel-view address is what WAIT_FENCE reads).</summary>
    public AllocationHandle PagingPage => _pagingPage;

    /// <summary>Last paging-fence value written into a kernel paging ring, and the member whose ring holds it.</summary>
    public ulong PagingWritten;

    /// <summary>The member that wrote <see cref="PagingWritten"/> (a later paging buffer of the same member follows it in ring order).</summary>
    public VidSchScheduler? PagingWriter;

    /// <summary>Last paging-fence value issued by any member.</summary>
    public ulong PagingIssued;

    /// <summary>Last paging-fence value read back (the lowest every member agrees has executed).</summary>
    public ulong PagingCompleted;

    /// <summary>Synchronization objects by handle: shared, so contexts of different engines synchronize (VidSchScheduler.Sync.cs).</summary>
    public readonly Dictionary<uint, Sync.SyncObject> SyncObjects = new();

    /// <summary>Last synchronization-object handle issued.</summary>
    public uint NextSyncHandle;

    /// <summary>Chunks retired by any member so far: a member with a deferred preparation retries when it moves.</summary>
    public long Retirements;

    /// <summary>Allocates the paging fence on first use (the first member's constructor).</summary>
    public void EnsurePagingFence(VideoMemoryManager vidmm)
    {
        if (!_pagingPage.IsNull) return;
        _pagingPage = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly,
            flags: AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
        PagingFence = vidmm.PhysicalAddressOf(_pagingPage, 0);
        vidmm.Memory.Write64(PagingFence, 0);
    }
}
