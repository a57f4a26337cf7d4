using System.Runtime.InteropServices;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The kernel-mode driver's submission path of the basic model (seed 001 §3.1 steps 5–9, §3.7): every call enters
/// through the <see cref="Ring0Gate"/> (arguments copied in), the command buffer is validated
/// (<see cref="KmdValidator"/>) against the caller's allocations, copied into a kernel-only
/// <see cref="DmaBuffer"/> from the process's pool, and queued on the scheduler. Invalid input throws
/// <see cref="CommandBufferRejectedException"/> with nothing queued.
/// </summary>
public sealed partial class Kmd
{
    private const int HeaderBytes = 16;
    [ThreadStatic] private static byte[]? t_arguments;
    [ThreadStatic] private static PatchSite[]? t_sites;

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
    /// one ring-0 entry (the gate copies both in), validation, copy into a DMA buffer, queueing. Returns the
    /// submission id (see <see cref="VidSchContext.StatusOf"/>). <paramref name="completion"/>, if given, is signalled
    /// once the buffer's trailing scheduler fence is reached and its interrupt serviced (seed 001 §10.4).
    /// </summary>
    /// <exception cref="CommandBufferRejectedException">Invalid buffer; nothing was queued.</exception>
    public long Submit(uint processId, VidSchContext context, ReadOnlySpan<uint> commands, ReadOnlySpan<ResourceReference> resources,
        VidSch.Sync.UserModeCompletionEvent? completion = null)
    {
        // Ring 3: marshal the call's arguments into one block (the system call's argument buffer).
        int cmdBytes = commands.Length * 4;
        int refBytes = resources.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<ResourceReference>();
        int total = HeaderBytes + cmdBytes + refBytes;
        var args = t_arguments;
        if (args is null || args.Length < total) t_arguments = args = new byte[Math.Max(total, 4096)];
        var header = MemoryMarshal.Cast<byte, int>(args.AsSpan(0, HeaderBytes));
        header[0] = context.Id;
        header[1] = commands.Length;
        header[2] = resources.Length;
        header[3] = 0;
        MemoryMarshal.AsBytes(commands).CopyTo(args.AsSpan(HeaderBytes));
        MemoryMarshal.AsBytes(resources).CopyTo(args.AsSpan(HeaderBytes + cmdBytes));

        // Ring 0 from here on, on the kernel's copy only (seed 001 §3.7: no TOCTOU window).
        using var call = _gate.Enter(processId, args.AsSpan(0, total));
        var k = call.Arguments;
        var h = MemoryMarshal.Cast<byte, int>(k[..HeaderBytes]);
        int nCmd = h[1], nRef = h[2];
        var kCommands = MemoryMarshal.Cast<byte, uint>(k.Slice(HeaderBytes, nCmd * 4));
        var kResources = MemoryMarshal.Cast<byte, ResourceReference>(k.Slice(HeaderBytes + nCmd * 4, refBytes));
        // The context's own engine scheduler, which must belong to this KMD's device (one kernel lock per device).
        var scheduler = context.Scheduler;
        // Contexts are created only by a scheduler (internal constructor) and never destroyed, so a context whose
        // scheduler shares this KMD's kernel lock is one of this device's: no lookup under the lock is needed.
        if (h[0] != context.Id || context.ProcessId != processId || scheduler is null || scheduler.KernelLock != _scheduler.KernelLock)
            throw new CommandBufferRejectedException(CommandBufferRejection.UnknownContext, -1, $"context {h[0]} is not process {processId}'s");
        var o = _scheduler.Options;
        if (nCmd > o.DmaBufferDwords)
            throw new CommandBufferRejectedException(CommandBufferRejection.TooLarge, -1, $"{nCmd} dwords, a DMA buffer holds {o.DmaBufferDwords}");
        var process = Process(processId);
        var sites = t_sites;
        if (sites is null || sites.Length < o.MaxReferences) t_sites = sites = new PatchSite[o.MaxReferences];
        int nSites = KmdValidator.Validate(kCommands, kResources, process, o.MaxResourceId, sites, context.Engine);

        DmaBuffer buffer;
        // Steady state: a pooled buffer under the process's own lock; creating one allocates from VidMm (kernel lock).
        if (!process.TryRentPooled(out buffer))
            lock (_scheduler.KernelLock) buffer = process.RentDmaBuffer(_createDmaBuffer);
        kCommands.CopyTo(buffer.Dwords(_vidmm.Memory));
        kResources.CopyTo(buffer.References);
        sites.AsSpan(0, nSites).CopyTo(buffer.Sites);
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
