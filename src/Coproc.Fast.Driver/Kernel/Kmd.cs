using System.Runtime.InteropServices;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The kernel-mode driver's submission path of the basic model (seed 001 §3.1 steps 5–9, §3.7): every call enters
/// through the <see cref="Ring0Gate"/>, the command buffer and resource list are copied in once, straight into a
/// kernel-only <see cref="DmaBuffer"/> from the process's pool, validated there (<see cref="KmdValidator"/>) against
/// the caller's allocations, and queued on the scheduler. Invalid input throws
/// <see cref="CommandBufferRejectedException"/> with nothing queued.
/// </summary>
public sealed partial class Kmd
{
    private const int HeaderBytes = 16; // the scalar arguments (context, lengths), counted as copied-in bytes

    private readonly Ring0Gate _gate;
    private readonly VideoMemoryManager _vidmm;
    private readonly IResidencyManager _rm;
    private readonly VidSchScheduler _scheduler;
    private readonly Dictionary<uint, KmdProcess> _processes = new();
    private readonly KmdQuotas _quotas;
    private readonly int _classes;          // DMA-buffer size classes: 4 KiB << class, the last capped at _maxBufferBytes
    private readonly ulong _maxBufferBytes; // the largest DMA buffer, page-rounded

    /// <summary>Creates the KMD with default <see cref="KmdQuotas"/>.</summary>
    public Kmd(Ring0Gate gate, VideoMemoryManager vidmm, IResidencyManager residency, VidSchScheduler scheduler)
        : this(gate, vidmm, residency, scheduler, null)
    {
    }

    /// <summary>Creates the KMD with per-process <paramref name="quotas"/> (null: the defaults).</summary>
    public Kmd(Ring0Gate gate, VideoMemoryManager vidmm, IResidencyManager residency, VidSchScheduler scheduler, KmdQuotas? quotas)
    {
        _gate = gate;
        _vidmm = vidmm;
        _rm = residency;
        _scheduler = scheduler;
        _quotas = quotas ?? new KmdQuotas();
        _quotas.Validate();
        _maxBufferBytes = ((ulong)scheduler.Options.DmaBufferDwords * 4 + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
        int classes = 1;
        while (((ulong)KmdProcess.MinClassBytes << (classes - 1)) < _maxBufferBytes) classes++;
        _classes = classes;
    }

    /// <summary>The per-process limits.</summary>
    public KmdQuotas Quotas => _quotas;

    /// <summary>The gate every submission crosses.</summary>
    public Ring0Gate Gate => _gate;

    /// <summary>The process record of <paramref name="processId"/> (created on first use).</summary>
    public KmdProcess Process(uint processId)
    {
        lock (_processes)
        {
            if (!_processes.TryGetValue(processId, out var p))
                _processes.Add(processId, p = new KmdProcess(processId, _classes) { Disowned = (pid, h) => AllocationDisowned?.Invoke(pid, h) });
            return p;
        }
    }

    /// <summary>
    /// Set by <c>Machine</c>: told when a process's record stops naming an allocation (<see cref="KmdProcess.Disown"/>),
    /// so the GPU mappings made on the process's behalf go with it (Machine.Submission.cs).
    /// </summary>
    internal Action<uint, AllocationHandle>? AllocationDisowned { get; set; }

    /// <summary>
    /// Allocates video memory for <paramref name="processId"/> and records it as that process's (seed 001 §5.1). The
    /// memory reads as zeros: a process never sees a former owner's bytes. When the only room in local memory is memory
    /// a recorded eviction has not finished reading (memory in transit, docs/memory.md), a machine's KMD waits for that
    /// paging and tries again — deterministic mode runs the machine meanwhile — unless called under the kernel lock or
    /// on a machine thread, where the typed refusal stands.
    /// </summary>
    /// <exception cref="VidMmException">Bad size or placement, or no room (after that wait, where allowed); nothing changes.</exception>
    public AllocationHandle Allocate(uint processId, ulong bytes, PlacementHint placement = PlacementHint.PreferLocal,
        AllocationFlags flags = AllocationFlags.None)
    {
        // Decided before the call: an exception filter runs before the lock below is released.
        bool mayWait = placement != PlacementHint.SystemOnly && InTransitWait is { MayWait: true };
        AllocationHandle h;
        try
        {
            lock (_scheduler.KernelLock) h = _vidmm.AllocateForProcess(bytes, VideoMemoryManager.PageSize, placement, flags);
        }
        catch (VidMmException e) when (mayWait && e.Error is VidMmError.OutOfLocalMemory or VidMmError.OutOfSystemMemory or VidMmError.TooFragmented)
        {
            if (!InTransitWait!.WaitAndRetire()) throw;
            lock (_scheduler.KernelLock) h = _vidmm.AllocateForProcess(bytes, VideoMemoryManager.PageSize, placement, flags);
        }
        Process(processId).Own(h, bytes);
        return h;
    }

    /// <summary>Set by <c>Machine</c>: <see cref="Allocate"/> waits for memory in transit instead of refusing.</summary>
    internal InTransitWait? InTransitWait { get; init; }

    /// <summary>
    /// Submits a command buffer and its resource list on <paramref name="context"/> for <paramref name="processId"/>:
    /// one ring-0 entry, one copy-in of both straight into a kernel-only DMA buffer, validation of that copy, queueing. Returns the
    /// submission id (see <see cref="VidSchContext.StatusOf"/>). <paramref name="completion"/>, if given, is signalled
    /// once the buffer's trailing scheduler fence is reached and its interrupt serviced (seed 001 §10.4).
    /// </summary>
    /// <exception cref="CommandBufferRejectedException">Invalid buffer; nothing was queued.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="context"/> is null; nothing was queued.</exception>
    public long Submit(uint processId, VidSchContext context, ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources,
        VidSch.Sync.UserModeCompletionEvent? completion = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        int cmdBytes = commands.Length * 4;
        int refBytes = resources.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<ResourceReference>();
        // One ring-0 entry. The scalar arguments (context, lengths) travel by value, like a system call's registers;
        // the two arrays are copied in exactly once below, straight into the kernel-only DMA buffer and its resource
        // list, and validated there (seed 001 §3.7: no TOCTOU window, and no second kernel copy — docs/performance.md goal 2).
        _gate.EnterForDirectCopy(processId, HeaderBytes + cmdBytes + refBytes);
        int nCmd = commands.Length, nRef = resources.Length;
        // The context's own engine scheduler, which must belong to this KMD's device (one kernel lock per device).
        var scheduler = context.Scheduler;
        // Contexts are created only by a scheduler (internal constructor) and never destroyed, so a context whose
        // scheduler shares this KMD's kernel lock is one of this device's: no lookup under the lock is needed.
        if (context.ProcessId != processId || scheduler is null || scheduler.KernelLock != _scheduler.KernelLock)
            throw new CommandBufferRejectedException(CommandBufferRejection.UnknownContext, -1, $"context {context.Id} is not process {processId}'s");
        var o = _scheduler.Options;
        if (nCmd > o.DmaBufferDwords)
            throw new CommandBufferRejectedException(CommandBufferRejection.TooLarge, -1, $"{nCmd} dwords, a DMA buffer holds {o.DmaBufferDwords}");
        if (nCmd == 0) throw new CommandBufferRejectedException(CommandBufferRejection.Empty, -1, "no packets");
        if (nRef > o.MaxReferences)
            throw new CommandBufferRejectedException(CommandBufferRejection.TooLarge, -1, $"{nRef} resource-list entries, at most {o.MaxReferences}");
        var process = Process(processId);
        // Sized to its content (a size class), within the process's quotas: a refusal is typed, never a VidMm error.
        var buffer = Rent(process, nCmd, _quotas);
        Span<uint> kCommands;
        try
        {
            // The copy-in: from here on only the kernel's copies are read (the application may rewrite its arrays).
            kCommands = buffer.Dwords(_vidmm.Memory)[..nCmd];
            commands.CopyTo(kCommands);
            var kResources = buffer.References.AsSpan(0, nRef);
            resources.CopyTo(kResources);
            KmdValidator.Validate(kCommands, kResources, process, o.MaxResourceId, buffer.Sites, context.Engine);
        }
        catch
        {
            Scrub(buffer, nCmd); // rejected: the buffer goes back scrubbed and unused, nothing queued
            throw;
        }
        buffer.DwordCount = nCmd;
        buffer.ReferenceCount = nRef;
        buffer.CompletionEvent = completion; // seed 001 §10.4: signalled after the buffer's trailing fence + interrupt
        lock (_scheduler.KernelLock)
        {
            // The ownership table names handles the process was given; a handle freed since (VidMm.Free,
            // ResidencyManager.DestroyAllocation) is stale and refused here, where VidMm is stable, so every buffer the
            // KMD accepts can be prepared (docs/containment.md).
            int stale = FirstStaleReference(buffer.References.AsSpan(0, nRef));
            if (stale >= 0)
            {
                var handle = buffer.References[stale].Handle;
                long at = buffer.References[stale].BufferOffset;
                Scrub(buffer, nCmd);
                throw new CommandBufferRejectedException(CommandBufferRejection.HandleNotOwned, at, $"{handle} was freed (stale handle)");
            }
            return scheduler.Enqueue(buffer, context);
        }
    }

    // Invariant: rejected bytes are never device-visible. A rented buffer is reachable by no ring or save area
    // (VidSchScheduler.Recovery.cs, R3), and on rejection its copied-in dwords are cleared before it returns to the pool,
    // so even a stale redirection could never run them. Zero dwords decode as no valid packet (an InvalidCommand fault of
    // the context that ran them).
    private void Scrub(DmaBuffer buffer, int dwords)
    {
        buffer.Dwords(_vidmm.Memory)[..dwords].Clear();
        buffer.Process.ReturnDmaBuffer(buffer);
    }

    private int FirstStaleReference(ReadOnlySpan<ResourceReference> refs)
    {
        for (int i = 0; i < refs.Length; i++)
        {
            if (i > 0 && refs[i].Handle == refs[i - 1].Handle) continue;
            if (!_vidmm.IsLive(refs[i].Handle)) return i;
        }
        return -1;
    }

    /// <summary>Rents a DMA buffer of at least <paramref name="dwords"/> for <paramref name="process"/> (quotas null: the kernel's own).</summary>
    /// <exception cref="CommandBufferRejectedException"><see cref="CommandBufferRejection.QuotaExceeded"/> or <see cref="CommandBufferRejection.OutOfKernelMemory"/>.</exception>
    private DmaBuffer Rent(KmdProcess process, int dwords, KmdQuotas? quotas)
    {
        int cls = 0;
        while (cls < _classes - 1 && ((ulong)KmdProcess.MinClassBytes << cls) < (ulong)dwords * 4) cls++;
        ulong bytes = Math.Min((ulong)KmdProcess.MinClassBytes << cls, _maxBufferBytes);
        List<DmaBuffer>? trimmed = null;
        var outcome = process.TryRent(cls, bytes, quotas, out var buffer, ref trimmed);
        if (trimmed is not null)
            lock (_scheduler.KernelLock)
                foreach (var idle in trimmed) _vidmm.Free(idle.Allocation);
        switch (outcome)
        {
            case KmdProcess.RentOutcome.Rented:
                return buffer;
            case KmdProcess.RentOutcome.OutstandingQuota:
                throw new CommandBufferRejectedException(CommandBufferRejection.QuotaExceeded, -1,
                    $"process {process.ProcessId} has {quotas!.MaxOutstandingSubmissions} submissions outstanding (KmdQuotas.MaxOutstandingSubmissions)");
            case KmdProcess.RentOutcome.MemoryQuota:
                throw new CommandBufferRejectedException(CommandBufferRejection.QuotaExceeded, -1,
                    $"process {process.ProcessId} holds its {quotas!.MaxKernelMemoryBytes} bytes of DMA buffers (KmdQuotas.MaxKernelMemoryBytes)");
        }
        // Every VidMm and residency-manager call (the kernel view's mapping included) runs under the kernel lock.
        lock (_scheduler.KernelLock)
        {
            AllocationHandle h;
            try
            {
                // Kernel-only: system memory the application never maps (seed 001 §3.7), contiguous so one INDIRECT covers it.
                h = _vidmm.Allocate(bytes, placement: PlacementHint.SystemOnly, flags: AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
            }
            catch (VidMmException e)
            {
                process.CancelCreate(bytes);
                throw new CommandBufferRejectedException(CommandBufferRejection.OutOfKernelMemory, -1, $"no system memory for a {bytes}-byte DMA buffer ({e.Error})");
            }
            return new DmaBuffer(process, h, _vidmm.PhysicalAddressOf(h, 0), _rm.PatchAddress(h, 0), (int)(bytes / 4), _scheduler.Options.MaxReferences, cls);
        }
    }

    /// <summary>A sink that submits a UMD builder's flushes on one context.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="context"/> is null.</exception>
    public ICommandBufferSink SinkFor(uint processId, VidSchContext context) =>
        new ContextSink(this, processId, context ?? throw new ArgumentNullException(nameof(context)));

    private sealed class ContextSink(Kmd kmd, uint processId, VidSchContext context) : ICommandBufferSink
    {
        public void Submit(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources) =>
            kmd.Submit(processId, context, commands, resources);
    }
}
