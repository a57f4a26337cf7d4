using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>A submitted buffer: its context and scheduler-fence value.</summary>
/// <param name="Context">The context.</param>
/// <param name="Fence">Scheduler-fence value written when it retires.</param>
public readonly record struct VaTicket(VaContext Context, ulong Fence)
{
    /// <summary>True when the buffer retired.</summary>
    public bool IsComplete => Context.IsComplete(Fence);

    /// <summary>True when it will never run (its context stopped for good).</summary>
    public bool HasFailed => Context.HasFailed(Fence);
}

// Submission (seed 001 §5.1 flow UMD → KMD → scheduler): the UMD's resource list is used only for paging — entries the
// process does not own, or that are not evictable, are dropped (a forged list hurts only its own process: its real
// resources fault in later). The listed resources are paged in by VidMm's context and the ring gets a WAIT_FENCE on the
// paging fence, then the buffer as is.
public sealed partial class RunListScheduler
{
    /// <summary>
    /// Deterministic submission: inserts <paramref name="dwords"/> of <paramref name="buffer"/> into
    /// <paramref name="context"/>'s ring if there is room now (false, nothing queued, when it is full — behaviour 18's
    /// try-insert — or while its flip chain holds submissions: n − 1 flips queued, seed 001 §9.3). Enforcement option 1
    /// first checks the buffer for privileged instructions.
    /// </summary>
    /// <exception cref="LimitedBufferRejectedException">Option 1 and a privileged packet, a PA or a malformed packet.</exception>
    /// <exception cref="ArgumentException">Buffer of another process, or a length outside it.</exception>
    public bool TrySubmit(VaContext context, UserDmaBuffer buffer, int dwords, ReadOnlySpan<AllocationHandle> resources, out VaTicket ticket) =>
        TrySubmit(context, buffer, dwords, resources, null, out ticket);

    /// <summary>
    /// <see cref="TrySubmit(VaContext, UserDmaBuffer, int, ReadOnlySpan{AllocationHandle}, out VaTicket)"/> with a CPU
    /// event to signal when the buffer completed (seed 001 §10.4): the scheduler signals <paramref name="completion"/>
    /// when its event-history walk reads the buffer's trailing scheduler fence back — or at once when the context stops
    /// for good first (then <see cref="VaTicket.HasFailed"/>).
    /// </summary>
    /// <exception cref="LimitedBufferRejectedException">Option 1 and a privileged packet, a PA or a malformed packet.</exception>
    /// <exception cref="ArgumentException">Buffer of another process, or a length outside it.</exception>
    public bool TrySubmit(VaContext context, UserDmaBuffer buffer, int dwords, ReadOnlySpan<AllocationHandle> resources,
        UserModeCompletionEvent? completion, out VaTicket ticket)
    {
        if (HeldByFlips(context))
        {
            ticket = new VaTicket(context, 0);
            return false;
        }
        var refs = Prepare(context, buffer, dwords, resources, out ulong wait);
        bool ok = context.TryInsert(buffer, dwords, refs, wait, Options.Privilege, completion, out ulong fence);
        ticket = new VaTicket(context, fence);
        if (ok) Submitted(context, fence, completion);
        return ok;
    }

    /// <summary>
    /// Blocking submission (threaded callers): waits while <paramref name="context"/>'s ring is full — holding only that
    /// context's lock, so other contexts' submitters proceed (behaviour 18, Fig. 16) — up to <paramref name="timeout"/>.
    /// Returns false at once while its flip chain holds submissions (n − 1 flips queued, seed 001 §9.3).
    /// </summary>
    public bool Submit(VaContext context, UserDmaBuffer buffer, int dwords, ReadOnlySpan<AllocationHandle> resources,
        TimeSpan timeout, out VaTicket ticket) => Submit(context, buffer, dwords, resources, null, timeout, out ticket);

    /// <summary>
    /// Blocking submission with a CPU event signalled when the buffer completed (seed 001 §10.4; see
    /// <see cref="TrySubmit(VaContext, UserDmaBuffer, int, ReadOnlySpan{AllocationHandle}, UserModeCompletionEvent?, out VaTicket)"/>).
    /// </summary>
    public bool Submit(VaContext context, UserDmaBuffer buffer, int dwords, ReadOnlySpan<AllocationHandle> resources,
        UserModeCompletionEvent? completion, TimeSpan timeout, out VaTicket ticket)
    {
        if (HeldByFlips(context))
        {
            ticket = new VaTicket(context, 0);
            return false; // §9.3: refused at once while n − 1 flips are queued (HeldByFlips)
        }
        var refs = Prepare(context, buffer, dwords, resources, out ulong wait);
        bool ok = context.Insert(buffer, dwords, refs, wait, Options.Privilege, completion, timeout, out ulong fence);
        ticket = new VaTicket(context, fence);
        if (ok) Submitted(context, fence, completion);
        return ok;
    }

    // seed 001 §9.3 n-buffering: after flip n − 1 the context's next buffer waits until queued flips ≤ n − 2. The buffer is
    // the process's own (nothing for the kernel to hold in a virtual ring), so it is refused — nothing queued, nothing
    // paged — and submitted again later (Display/FlipPresenter.cs). Kernel commands (the flips themselves) are not held.
    private bool HeldByFlips(VaContext context)
    {
        if (context.FlipChain is not { } chain) return false;
        lock (KernelLock) return chain.HoldsSubmissions;
    }

    private void Submitted(VaContext context, ulong fence, UserModeCompletionEvent? completion)
    {
        // A context that stopped for good before (or while) the buffer entered its ring never walks its history again.
        if (completion is not null && context.State == VaContextState.Error)
            lock (KernelLock) FailCompletionEvents(context);
        Arrived(context, fence);
    }

    /// <summary>Convenience: <see cref="TrySubmit(VaContext, UserDmaBuffer, int, ReadOnlySpan{AllocationHandle}, out VaTicket)"/> that throws when the ring is full.</summary>
    public VaTicket Submit(VaContext context, UserDmaBuffer buffer, int dwords, params AllocationHandle[] resources)
    {
        if (!TrySubmit(context, buffer, dwords, resources, out var t))
            throw new InvalidOperationException($"{context}: ring full (use TrySubmit or the blocking Submit)");
        return t;
    }

    private ResourceReference[] Prepare(VaContext context, UserDmaBuffer buffer, int dwords, ReadOnlySpan<AllocationHandle> resources, out ulong wait)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.Process != context.Process) throw new ArgumentException("the DMA buffer belongs to another process", nameof(buffer));
        if (dwords < 1 || dwords > buffer.CapacityDwords) throw new ArgumentOutOfRangeException(nameof(dwords), dwords, "outside the DMA buffer");
        if (Options.Privilege == PrivilegeEnforcement.KernelCopy)
        {
            // Option 1: privileged-instruction check only; memory needs none (seed 001 §7.4). This early check refuses a
            // bad buffer before any paging; the authoritative one runs on the kernel copy (VaContext.TryInsert).
            LimitedBufferValidator.Validate(buffer.Dwords[..dwords]);
            if ((uint)dwords > context.CopyCapacityDwords) throw new ArgumentOutOfRangeException(nameof(dwords), dwords, "larger than the kernel copy arena");
        }
        wait = 0;
        int kept = 0;
        foreach (var h in resources)
            if (context.Process.Owns(h) && Residency.IsManaged(h)) kept++;
        var refs = kept == 0 ? Array.Empty<ResourceReference>() : new ResourceReference[kept];
        kept = 0;
        foreach (var h in resources)
            if (context.Process.Owns(h) && Residency.IsManaged(h)) refs[kept++] = VaProcess.Reference(h);
        if (refs.Length == 0) return refs;
        lock (KernelLock)
        {
            _commands.Clear();
            var outcome = MakeResidentProtecting(refs, context, int.MinValue, out _, out _); // never a busy context's memory (Paging.cs)
            if (outcome == ResidencyOutcome.PagingRequired || (outcome != ResidencyOutcome.DoesNotFit && Residency.HasForeignPagingWaits(Paging.Fence.Address)))
                SubmitPaging(context);
            // DoesNotFit: no prefetch — the buffer demand-faults what it really touches.
            if (outcome != ResidencyOutcome.DoesNotFit && Paging.LastSubmitted > Paging.Completed) wait = Paging.LastSubmitted;
            // Invariant (seed 001 §5.6): a context whose ring waits on the paging fence lends its priority to VidMm's
            // context until that value passes — also when the wait is for paging another context caused (its resources
            // were already on their way in). Without the loan a waiting head outranks the paging it waits for, and a
            // two-element run list can hold only waiters: the engine stalls with paging queued.
            if (wait != 0) TrackPaging(context, wait, releases: false);
            if (wait != 0) Log(RunListEventKind.Prefetched, (uint)context.Id, wait);
        }
        return refs;
    }

    private void Arrived(VaContext context, ulong fence)
    {
        lock (KernelLock) Log(RunListEventKind.Submitted, (uint)context.Id, fence);
        Volatile.Write(ref _workArrived, 1);
        _bus.Kick(); // threaded mode: wakes a parked device thread, which services the new work (Machine.RunLists.cs)
    }

    /// <summary>
    /// Called by the host's loop: when work arrived since the last call, reconsiders the run list. Returns true when it
    /// did anything.
    /// </summary>
    public bool Poll()
    {
        if (Interlocked.Exchange(ref _workArrived, 0) == 0) return false;
        lock (KernelLock)
        {
            // A kernel-path context's signal granted a wait of ours since the last interrupt batch (RunListScheduler.Sync.cs).
            if (Volatile.Read(ref _heldBackReleased) != 0) DrainReleased();
            Reschedule();
        }
        return true;
    }

    /// <summary>
    /// Kernel-only: queues privileged commands on <paramref name="context"/> (seed 001 §7.3 — privileged fences, flips,
    /// no-context-switch regions, register writes) the way the enforcement option says: straight into the ring (options
    /// 1 and 2) or in a kernel-built DMA buffer mapped P = 1 and named with INDIRECT bit 0 (option 3). Never reachable
    /// from a user buffer. Returns false when the ring is full.
    /// </summary>
    /// <exception cref="ArgumentException">The packets are malformed or contain an INDIRECT.</exception>
    public bool TrySubmitKernelCommands(VaContext context, ReadOnlySpan<uint> packets, out VaTicket ticket)
    {
        ArgumentNullException.ThrowIfNull(context);
        for (int at = 0; at < packets.Length;)
        {
            if (!Coproc.Fast.Device.Packets.PacketDecoder.TryDecode(packets, at, out var p, out var err))
                throw new ArgumentException($"kernel packet at dword {at} is malformed ({err})", nameof(packets));
            if (p.Opcode == Coproc.Fast.Device.Packets.Opcode.Indirect) throw new ArgumentException("kernel commands may not redirect", nameof(packets));
            at += p.LengthDwords;
        }
        if (packets.IsEmpty) throw new ArgumentException("no packets", nameof(packets));
        KernelBuffer? kb = null;
        if (Options.Privilege == PrivilegeEnforcement.IndirectBit)
        {
            lock (KernelLock)
            {
                ulong bytes = ((ulong)packets.Length * 4 + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
                var h = VidMm.Allocate(bytes, VideoMemoryManager.PageSize, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(packets).CopyTo(_memory.GetSpan(VidMm.PhysicalAddressOf(h, 0), packets.Length * 4));
                kb = new KernelBuffer(h, context.Process.Space.MapAllocation(h, GpuMappingFlags.Privileged));
            }
        }
        bool ok = context.TryInsertKernel(packets, kb, Options.Privilege, out ulong fence);
        if (!ok && kb is not null) lock (KernelLock) FreeKernelBuffer(context, kb);
        ticket = new VaTicket(context, fence);
        if (ok) Arrived(context, fence);
        return ok;
    }

    private void FreeKernelBuffer(VaContext context, KernelBuffer kb)
    {
        context.Process.Space.UnmapAllocation(kb.Va);
        VidMm.Free(kb.Handle);
    }

    // Frees option-3 kernel buffers whose submissions retired (under the kernel lock).
    private void FreeRetiredKernelBuffers(VaContext context)
    {
        lock (context.RingLock)
        {
            foreach (var kb in context.RetiredKernelBuffers) FreeKernelBuffer(context, kb);
            context.RetiredKernelBuffers.Clear();
        }
    }
}
