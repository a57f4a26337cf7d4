using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Paging;

namespace Coproc.Fast.Driver.VidSch;

// The paging channel (seed 001 §3.6, §5.6; seed 004; docs/memory.md "One paging channel"). Paging buffers run in a
// kernel-owned context of their own, never in the submitting context's ring: a paging buffer queued behind a context's
// own unfinished work (a WAIT that never ends, a long buffer) would hold every later paging buffer — and so every other
// context's next chunk — until that context finished or was reset. That context is the machine's one device paging
// queue (SchedulerGroup.Paging), whose ring takes every paging buffer of every engine (and of the advanced model's
// run-list back end) in the order VidMm recorded the moves. The chunk itself starts with a WAIT_FENCE on the queue's
// paging fence for the value its own paging and the earlier paging of what it references end with, so its DMA buffer
// runs only after them: "run immediately before their DMA-buffer counterpart" in dependency order (SchedulerGroup (2)).
//
// The queue's context runs on the paging engine (MachineOptions.PagingEngine), whose scheduler — the paging member —
// switches to it at top priority while it has work (seed 001 behaviour 17: VidMm's context outranks every process's)
// and lets it run to the end of its buffers (they are non-interruptible, DISABLE_CONTEXT_SWITCH … ENABLE).
public sealed partial class VidSchScheduler
{
    // The paging member's stand-in for the queue's kernel context (null on every other engine): lets a CONTEXT_SWITCH
    // report to or from it be read like any context's. Process 0, not in Contexts, never reset.
    private VidSchContext? _pagingContext;

    /// <summary>
    /// Context id the scheduling events give the device paging queue's kernel context
    /// (<see cref="DevicePagingQueue.ContextId"/>): the same on every engine, since one context runs every paging buffer.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "Public instance API read beside the scheduler's other paging members; static would break callers.")]
    public int PagingContextId => unchecked((int)DevicePagingQueue.ContextId);

    /// <summary>The machine's one paging channel, the seed 004 device paging queue (shared by every engine).</summary>
    public DevicePagingQueue Paging => _group.Paging;

    /// <summary>The engine the paging queue's context runs on (the paging engine, or the advanced model's first run-list engine).</summary>
    internal Coproc.Fast.Device.Engines.EngineKind PagingEngine => _group.PagingEngine;

    /// <summary>True when this engine runs the device paging queue's kernel context (the paging engine).</summary>
    public bool IsPagingEngine => _pagingContext is not null;

    /// <summary>SchedulerGroup.SetPagingMember: this engine runs the queue's context from now on.</summary>
    internal void BecomePagingEngine()
    {
        var q = _group.Paging.Context;
        var ctx = new VidSchContext(PagingContextId, 0, int.MaxValue, _o.Engine)
        {
            Scheduler = this, SaveArea = q.SaveArea, RingDescriptor = q.Descriptor, Ring = q.Ring, RingBytes = q.RingBytes,
        };
        _pagingContext = ctx;
        _bySaveArea.Add(ctx.SaveArea.Encoded, ctx);
    }

    /// <summary>
    /// The queue wrote paging buffers to its ring: a scheduling pass of this engine switches to its context. Requested as
    /// a timer at the current cycle, not run here: the caller may be another engine's pass (its preparation or a return
    /// of lent memory), which must not run this engine's pass inside its own.
    /// </summary>
    internal void RequestPagingPass()
    {
        _bus.Kick();
        Host?.RequestTimer(_bus.Cycle);
    }

    /// <summary>
    /// §3.6: the chunk's VidMm command list goes to the paging queue at once (never refused, in order behind every
    /// paging buffer recorded before it); returns the paging-fence value it ends with. Its footprint is kept until the
    /// fence passes it, so later chunks that touch the same memory wait for it.
    /// </summary>
    private ulong SubmitPaging(ReadOnlySpan<VidMm.Residency.PagingOperation> ops)
    {
        ulong last = _group.Paging.SubmitRecorded(ops);
        var footprint = _group.RentFootprint();
        RecordFootprint(footprint, ops);
        _group.PagingOutstanding.Add((footprint, last));
        if (_group.PagingMember is null) _group.PagingQueuedElsewhere?.Invoke();
        return last;
    }

    /// <summary>A chunk starts with a WAIT_FENCE on the queue's paging fence when the paging it depends on has not run yet
    /// (Prepare.cs, SetPagingWaits).</summary>
    private void WriteWaitForPaging(ref PacketWriter w, InFlightChunk chunk)
    {
        if (!PagingReached(chunk.PagingWait)) w.WaitFence(_group.Paging.FenceKernelAddress, chunk.PagingWait);
    }

    /// <summary>
    /// True when the chunk the device runs next in <paramref name="c"/>'s ring starts with a WAIT_FENCE on paging that
    /// has not executed (the fence only grows, so a chunk already past its wait never counts). Such a context is never
    /// named in NEXT_CONTEXT (SetNext): a loaded context stalled on a WAIT yields to NEXT_CONTEXT, and two contexts of one
    /// engine waiting on the paging engine would otherwise hand the engine back and forth, a context switch each, until
    /// the paging ran. It is still loaded when it is the one to run; stalled with NEXT_CONTEXT empty, the device lets a
    /// ring-3 queue use the engine meanwhile (native-layout.md §13.7) — the context cannot progress until its memory
    /// arrives. The paging fence's interrupt re-runs every engine's decision.
    /// </summary>
    private bool WaitsForPaging(VidSchContext c) => c.InFlight.Count > 0 && !PagingReached(c.InFlight[0].PagingWait);

    // The paging engine: the queue's context has paging to run (values not reached, packets in its ring or waiting).
    private bool PagingHasWork => _pagingContext is not null && _group.Paging.HasWork;

    /// <summary>True once the queue's paging fence, as the device wrote it in memory, has reached <paramref name="value"/>
    /// (0: nothing to wait for).</summary>
    internal bool PagingReached(ulong value) => (long)(_group.Paging.Completed - value) >= 0;

    /// <summary>The last paging-fence value handed out (every paging buffer recorded so far ends by it).</summary>
    internal ulong PagingIssued => _group.Paging.LastSubmitted;
}
