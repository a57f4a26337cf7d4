using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Faults and demand paging (seed 001 §5.6 Fig. 15, §5.8; behaviours 15–17). A page fault on a VA inside one of the
// process's evictable allocations puts the context on the paging list; anything else (an unbacked VA, a protection
// fault, an invalid command) stops that context only. The paging thread — an event on the virtual clock — serves the
// highest effective priority, makes the needed set resident (ResidencyManager; evicting others invalidates their VAs)
// and writes the paging buffer into VidMm's context, whose run-list priority is the highest on the list (and of the
// contexts waiting for its buffers). When the paging fence passes a request's value, Faulted is cleared in the saved
// context and the device re-executes the faulting packet/unit when it next runs it.
public sealed partial class RunListScheduler
{
    private readonly List<(VaContext Context, ulong Fence, int Priority, bool Releases)> _awaiting = new();
    private bool _pagingScheduled;

    /// <summary>Paging requests served.</summary>
    public long PagingServed { get; private set; }

    // Releases = true: the fence resolves the context's fault; false: a submission's prefetch (only lends its priority).
    private void TrackPaging(VaContext context, ulong fence, bool releases) =>
        _awaiting.Add((context, fence, context.Priority, releases));

    // The VidMm context's priority (seed 001 §5.6): the highest priority on the paging list, or of whoever waits for it.
    private int VidMmPriority(ulong now)
    {
        int p = PagingList.MaxEffectivePriority(now);
        foreach (var a in _awaiting) p = Math.Max(p, a.Priority);
        return p;
    }

    private void OnFault(VaContext ctx, SwitchReason reason, ulong address)
    {
        if (ctx.State != VaContextState.Ready) return; // already on the paging list or stopped: one report per fault
        if (reason == SwitchReason.PageFault && ctx.Process.TryFind(address, out var a) && a.Managed)
        {
            ctx.State = VaContextState.Faulted;
            ctx.PageFaults++;
            PagingList.Add(new PagingRequest(ctx, address, NeededFor(ctx, a), Clock()));
            Log(RunListEventKind.PageFault, (uint)ctx.Id, address);
            SchedulePaging(Clock() + Options.PagingServiceCycles);
            return;
        }
        Fail(ctx, reason.ToString(), address);
    }

    // What a fault resolution brings in. Always the faulting allocation plus the ones this context faulted on since its
    // last retirement — the driver's memory of "the entire list needed to make progress" (seed 001 §5.8), so an element
    // touching A and B cannot loop by paging B in over A. Surface level adds every resource the outstanding buffers listed
    // (§5.6: the list is usage information); page level uses nothing but the reported VAs.
    private ResourceReference[] NeededFor(VaContext ctx, GpuAllocation faulted)
    {
        if (!ctx.FaultSet.Contains(faulted.Handle)) ctx.FaultSet.Add(faulted.Handle);
        var set = new List<ResourceReference>(ctx.FaultSet.Count + 4);
        foreach (var h in ctx.FaultSet) set.Add(VaProcess.Reference(h));
        if (Options.Faults == FaultGranularity.Surface)
            lock (ctx.RingLock)
                foreach (var s in ctx.Outstanding)
                    foreach (var r in s.Resources)
                        if (!set.Exists(x => x.Handle == r.Handle)) set.Add(r);
        return set.ToArray();
    }

    private void Fail(VaContext ctx, string reason, ulong address)
    {
        if (ctx.State == VaContextState.Error) return;
        ctx.State = VaContextState.Error;
        ctx.ErrorReason = reason;
        ctx.ErrorAddress = address;
        PagingList.Remove(ctx);
        Log(RunListEventKind.ContextError, (uint)ctx.Id, address);
        FailCompletionEvents(ctx); // seed 001 §10.4: no CPU waiter hangs on work that will never run (RunListScheduler.Sync.cs)
        ctx.NotifyRingSpace(); // blocked submitters give up
    }

    private readonly List<ResourceReference> _withPinned = new();

    /// <summary>Fault requests put back on the paging list because serving them would evict the working set of a
    /// higher-priority run-list context with work outstanding (it is served once that work retires or its boost lifts it).</summary>
    public long DeferredForPriority { get; private set; }

    /// <summary>Fault requests put back on the paging list because serving them would evict kernel-path memory in use.</summary>
    public long DeferredForKernelPath { get; private set; }

    /// <summary>The machine's kernel-path scheduler group (any member), whose pinned chunks this back end must not evict.</summary>
    internal VidSchScheduler? KernelPath { get; set; }

    // Invariant (VidSch's SchedulerGroup invariant 1, across back ends): a residency request of the run-list back end
    // includes every chunk the kernel path has pinned on any engine (prepared, parked, in flight), so VidMm never moves
    // memory a kernel-path buffer in flight uses. (The other direction is safe by design: the kernel path evicting a
    // VA allocation invalidates its mappings, and the VA context faults it back in.)
    private ReadOnlySpan<ResourceReference> WithKernelPathPinned(ReadOnlySpan<ResourceReference> refs, out int pinned)
    {
        pinned = 0;
        if (KernelPath is null) return refs;
        _withPinned.Clear();
        foreach (var r in refs) _withPinned.Add(r);
        KernelPath.AppendGroupPinned(_withPinned);
        pinned = _withPinned.Count - refs.Length;
        return pinned == 0 ? refs : CollectionsMarshal.AsSpan(_withPinned);
    }

    // Invariant (no paging thrash between run-list contexts, seed 001 §5.5 eviction policy): a request made for
    // `requester` never evicts the working set of another run-list context that has work outstanding (submitted, not
    // retired) and a priority at least `minProtected` — memory that context's buffers are using or about to use. A
    // submission's prefetch protects every busy context (a prefetch is a hint: when only busy memory would do, the
    // buffer demand-faults instead of taking it); a fault protects the busy contexts above its own priority and waits
    // on the paging list when only their memory would do (RunPagingThread), for at most ProtectionCycles, so a higher
    // context waiting for this one cannot deadlock it. Without it, a low-priority context on one engine and a
    // high-priority one on another paged each other's surfaces out between every buffer.
    // How long a fault waits for higher-priority work to retire before it may evict that work's memory: sixteen quanta.
    private ulong ProtectionCycles => 16 * Options.QuantumCycles;

    private ResidencyOutcome MakeResidentProtecting(ReadOnlySpan<ResourceReference> refs, VaContext requester, int minProtected, out int pinned, out int protectedCount)
    {
        var protectedSet = Residency.ProtectedContexts;
        protectedSet.Clear();
        foreach (var c in _contexts)
            if (c != requester && c.Priority >= minProtected && c.State != VaContextState.Error && c.HasWork) protectedSet.Add((int)c.Id);
        protectedCount = protectedSet.Count;
        try { return Residency.MakeResident(WithKernelPathPinned(refs, out pinned), (int)requester.Id, _commands); }
        finally { protectedSet.Clear(); }
    }

    // Hands the paging operations in _commands to VidMm's context and charges their bytes to the context they serve.
    private void SubmitPaging(VaContext ctx)
    {
        long bytes = 0;
        foreach (var c in _commands) bytes += (long)c.Bytes;
        ctx.BytesPaged += bytes;
        Paging.SubmitRecorded(CollectionsMarshal.AsSpan(_commands));
    }

    private void SchedulePaging(ulong cycle)
    {
        if (_pagingScheduled || Host is null) return;
        _pagingScheduled = true;
        ulong now = Clock();
        Host.RequestPreparation(cycle > now ? cycle - now : 0);
    }

    /// <summary>
    /// The paging thread's turn (an event on the virtual clock): serves the highest-effective-priority request of the
    /// paging list, and schedules itself again while requests remain.
    /// </summary>
    public void RunPagingThread()
    {
        lock (KernelLock)
        {
            _pagingScheduled = false;
            ulong now = Clock();
            // One request served per turn, the highest effective priority first. A request that must wait (deferred for
            // priority or for kernel-path memory) does not use the turn: the next one is tried, so a boosted request that
            // keeps waiting never holds back a later one that fits. The waiting ones go back with their join cycle.
            _deferred.Clear();
            while (PagingList.TryTake(now, out var req))
            {
                if (ServeRequest(req, now)) break;
                _deferred.Add(req);
            }
            foreach (var d in _deferred) PagingList.Add(d);
            _deferred.Clear();
            if (PagingList.Count != 0) SchedulePaging(now + Options.PagingServiceCycles);
            Reschedule();
        }
    }

    private readonly List<PagingRequest> _deferred = new();

    // Serves one paging-list request; false when it must wait (it was not served and changed nothing).
    private bool ServeRequest(in PagingRequest req, ulong now)
    {
        var ctx = req.Context;
        _commands.Clear();
        // Strict priority over memory (seed 001 §5.5): the request may not evict working sets of higher-priority
        // contexts that have work outstanding — for at most ProtectionCycles, after which it takes what it needs (a
        // higher context may be waiting for this one: a bounded wait, never a deadlock).
        int floor = now - req.Since >= ProtectionCycles ? int.MaxValue : ctx.Priority + 1;
        var outcome = MakeResidentProtecting(req.Resources, ctx, floor, out int pinned, out int protectedCount);
        if (outcome == ResidencyOutcome.DoesNotFit && req.Resources.Length > 1 && ctx.Process.TryFind(req.FaultVa, out var a))
        {
            // The whole list does not fit: bring in only what the fault names (the page-level answer).
            outcome = MakeResidentProtecting([VaProcess.Reference(a.Handle)], ctx, floor, out pinned, out protectedCount);
        }
        if (outcome == ResidencyOutcome.DoesNotFit && pinned > 0)
        {
            // It would fit without evicting what kernel-path buffers in flight use: wait for them to retire.
            DeferredForKernelPath++;
            return false;
        }
        if (outcome == ResidencyOutcome.DoesNotFit && protectedCount > 0)
        {
            // It may fit once higher-priority work retires, or once its protection window has passed.
            DeferredForPriority++;
            return false;
        }
        if (outcome == ResidencyOutcome.DoesNotFit) Fail(ctx, "working set cannot be resident", req.FaultVa);
        else
        {
            // Resident may still mean "being paged by the kernel path's channel": a buffer of waits orders the release after it.
            if (outcome == ResidencyOutcome.PagingRequired || Residency.HasForeignPagingWaits(Paging.Fence.Address)) SubmitPaging(ctx);
            // Already resident by the bookkeeping may still mean "its paging buffer has not run": wait for the last one.
            ulong fence = Paging.LastSubmitted > Paging.Completed ? Paging.LastSubmitted : 0;
            PagingServed++;
            Log(RunListEventKind.PagingServed, (uint)ctx.Id, fence);
            TrackPaging(ctx, fence, releases: true);
            ReleaseResolved();
        }
        return true;
    }

    // Releases every context whose paging buffer ran: Faulted cleared in its saved context (it is not running — the device
    // switched away on the fault), so the device runs it again from the faulting packet (native-layout.md §10.3).
    private void ReleaseResolved()
    {
        Paging.NotifyFenceInterrupt();
        ulong done = Paging.Completed;
        for (int i = 0; i < _awaiting.Count;)
        {
            var (ctx, fence, _, releases) = _awaiting[i];
            if (fence > done) { i++; continue; }
            _awaiting.RemoveAt(i);
            _headWaitMayBeOver = true; // a head that yielded on the paging fence may run again (RunList.cs), at the next Reschedule
            if (!releases || ctx.State != VaContextState.Faulted) continue;
            ref var save = ref _memory.Region(ctx.Hw.SaveArea.Location).Ref<ContextSaveArea>(ctx.Hw.SaveArea.Offset);
            save.Flags &= ~ContextFlags.Faulted;
            ctx.State = VaContextState.Ready;
            Log(RunListEventKind.FaultResolved, (uint)ctx.Id, fence);
            _bus.Kick(); // the device re-polls its list at its next slice: make sure it gets one
        }
    }
}
