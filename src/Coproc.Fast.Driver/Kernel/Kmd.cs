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
    private readonly Func<KmdProcess, DmaBuffer> _createDmaBuffer;

    /// <summary>Creates the KMD.</summary>
    public Kmd(Ring0Gate gate, VideoMemoryManager vidmm, IResidencyManager residency, VidSchScheduler scheduler)
    {
        _gate = gate;
        _vidmm = vidmm;
        _rm = residency;
        _scheduler = scheduler;
        _createDmaBuffer = CreateDmaBuffer; // cached: a method group would allocate a delegate per submission
    }

    /// <summary>The gate every submission crosses.</summary>
    public Ring0Gate Gate => _gate;

    /// <summary>The process record of <paramref name="processId"/> (created on first use).</summary>
    public KmdProcess Process(uint processId)
    {
        lock (_processes)
        {
            if (!_processes.TryGetValue(processId, out var p)) _processes.Add(processId, p = new KmdProcess(processId));
            return p;
        }
    }

    /// <summary>Allocates video memory for <paramref name="processId"/> and records it as that process's (seed 001 §5.1).</summary>
    public AllocationHandle Allocate(uint processId, ulong bytes, PlacementHint placement = PlacementHint.PreferLocal,
        AllocationFlags flags = AllocationFlags.None)
    {
        AllocationHandle h;
        lock (_scheduler.KernelLock) h = _vidmm.Allocate(bytes, VideoMemoryManager.PageSize, placement, flags);
        Process(processId).Own(h, bytes);
        return h;
    }

    /// <summary>
    /// Submits a command buffer and its resource list on <paramref name="context"/> for <paramref name="processId"/>:
    /// one ring-0 entry, one copy-in of both straight into a kernel-only DMA buffer, validation of that copy, queueing. Returns the
    /// submission id (see <see cref="VidSchContext.StatusOf"/>). <paramref name="completion"/>, if given, is signalled
    /// once the buffer's trailing scheduler fence is reached and its interrupt serviced (seed 001 §10.4).
    /// </summary>
    /// <exception cref="CommandBufferRejectedException">Invalid buffer; nothing was queued.</exception>
    public long Submit(uint processId, VidSchContext context, ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources,
        VidSch.Sync.UserModeCompletionEvent? completion = null)
    {
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

        DmaBuffer buffer;
        // Steady state: a pooled buffer under the process's own lock; creating one allocates from VidMm (kernel lock).
        if (!process.TryRentPooled(out buffer))
            lock (_scheduler.KernelLock) buffer = process.RentDmaBuffer(_createDmaBuffer);
        try
        {
            // The copy-in: from here on only the kernel's copies are read (the application may rewrite its arrays).
            var kCommands = buffer.Dwords(_vidmm.Memory)[..nCmd];
            commands.CopyTo(kCommands);
            var kResources = buffer.References.AsSpan(0, nRef);
            resources.CopyTo(kResources);
            KmdValidator.Validate(kCommands, kResources, process, o.MaxResourceId, buffer.Sites, context.Engine);
        }
        catch
        {
            process.ReturnDmaBuffer(buffer); // rejected: the buffer goes back unused, nothing queued
            throw;
        }
        buffer.DwordCount = nCmd;
        buffer.ReferenceCount = nRef;
        buffer.CompletionEvent = completion; // seed 001 §10.4: signalled after the buffer's trailing fence + interrupt
        return scheduler.Enqueue(buffer, context);
    }

    /// <summary>A sink that submits a UMD builder's flushes on one context.</summary>
    public ICommandBufferSink SinkFor(uint processId, VidSchContext context) => new ContextSink(this, processId, context);

    private DmaBuffer CreateDmaBuffer(KmdProcess process)
    {
        var o = _scheduler.Options;
        ulong bytes = ((ulong)o.DmaBufferDwords * 4 + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
        // Kernel-only: system memory the application never maps (seed 001 §3.7), contiguous so one INDIRECT covers it.
        var h = _vidmm.Allocate(bytes, placement: PlacementHint.SystemOnly, flags: AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
        return new DmaBuffer(process, h, _vidmm.PhysicalAddressOf(h, 0), _rm.PatchAddress(h, 0), (int)(bytes / 4), o.MaxReferences);
    }

    private sealed class ContextSink(Kmd kmd, uint processId, VidSchContext context) : ICommandBufferSink
    {
        public void Submit(ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources) =>
            kmd.Submit(processId, context, commands, resources);
    }
}
