using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Device.Display;

namespace Coproc.Fast.Driver.Display;

/// <summary>
/// The kernel present path (seed 001 §9): a mode set through the display registers, primary surfaces
/// (contiguous local memory, <see cref="AllocationFlags.PrimarySurface"/>, plain VidMm allocations the residency
/// manager never evicts — pinned while they may be scanned out), and flips submitted by a context: the KMD writes a
/// kernel DMA buffer holding the privileged FLIP (optionally after WAIT_FOR_FLIP) and a privileged fence with
/// interrupt into that context's queue, behind its earlier work. Completion is decided from the interrupt stream in
/// device order: the flip fence says the FLIP executed (immediate: visible now; vsync: latched, replacing any latched
/// one), the vsync interrupt carries the surface actually displayed (CURRENT_SURFACE) — a vsync flip is acknowledged
/// only when that is its surface (§9.2). n-buffering (§9.3): at most n − 1 flips queued per context; DMA buffers
/// submitted after flip n − 1 wait in the context's virtual ring until queued flips ≤ n − 2.
/// </summary>
/// <remarks>
/// Every decision runs under the kernel lock shared with the schedulers. Simplifications: one display; a vsync flip
/// is matched to the vsync by its fence interrupt's place in the information queue, so the queue must not overflow
/// between a flip and the next vsync; with a zero vsync period latched flips never become visible (the manager then
/// counts as idle so runs end).
/// </remarks>
public sealed partial class PresentManager
{
    private const int MaxChains = (int)(VideoMemoryManager.PageSize / 8);
    private const uint WidthReg = MmioMap.DisplayBase + DisplayRegisters.Width, HeightReg = MmioMap.DisplayBase + DisplayRegisters.Height;
    private const uint PitchReg = MmioMap.DisplayBase + DisplayRegisters.Pitch, FormatReg = MmioMap.DisplayBase + DisplayRegisters.Format;
    private const uint ScanoutBaseReg = MmioMap.DisplayBase + DisplayRegisters.ScanoutBase;

    private readonly Kmd _kmd;
    private readonly VideoMemoryManager _vidmm;
    private readonly IDeviceBus _bus;
    private readonly object _lock;
    private readonly Dictionary<AllocationHandle, ulong> _primaries = new();
    private readonly Dictionary<ulong, (FlipPresenter Context, FlipChain Chain)> _byFence = new();
    private readonly List<(FlipPresenter Context, FlipChain Chain)> _chains = new();
    private readonly Dictionary<int, RunListFlipPresenter> _runListPresenters = new(); // by context id (a save-state keeps buckets: no identity-hashed keys)
    private readonly PhysicalAddress _fencePage;
    private readonly uint[] _packets = new uint[16];
    private readonly Stack<PendingFlip> _flipPool = new(); // flip records are reused: a steady flip rate allocates nothing

    internal PresentManager(Kmd kmd, VideoMemoryManager vidmm, IDeviceBus bus, object kernelLock, uint vsyncPeriod, ISchedulerHost? host)
    {
        _kmd = kmd;
        _vidmm = vidmm;
        _bus = bus;
        _lock = kernelLock;
        VsyncPeriod = vsyncPeriod;
        _host = host;
        lock (_lock)
        {
            var page = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly,
                flags: AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
            _fencePage = vidmm.PhysicalAddressOf(page, 0);
            bus.Memory.GetSpan(_fencePage, (int)VideoMemoryManager.PageSize).Clear();
        }
    }

    /// <summary>The vsync period in device cycles (0 = no vsync) the display was configured with.</summary>
    public uint VsyncPeriod { get; }

    /// <summary>The mode set, or null.</summary>
    public DisplayMode? Mode { get; private set; }

    /// <summary>Called (under the kernel lock) for every flip presented, dropped or failed; keep it short.</summary>
    public Action<FlipNotice>? FlipCompleted { get; set; }

    /// <summary>
    /// Sets the display mode through the display registers (WIDTH, HEIGHT, PITCH = width × 4, FORMAT = BGRA8888).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is 0 or above 16384.</exception>
    public DisplayMode SetMode(uint width, uint height)
    {
        if (width is 0 or > 16384) throw new ArgumentOutOfRangeException(nameof(width));
        if (height is 0 or > 16384) throw new ArgumentOutOfRangeException(nameof(height));
        var mode = new DisplayMode(width, height, width * 4);
        lock (_lock)
        {
            _bus.WriteRegister32(WidthReg, width);
            _bus.WriteRegister32(HeightReg, height);
            _bus.WriteRegister32(PitchReg, mode.PitchBytes);
            _bus.WriteRegister32(FormatReg, 0);
            Mode = mode;
        }
        return mode;
    }

    /// <summary>
    /// Allocates a primary surface for <paramref name="processId"/> sized for the current mode: contiguous local
    /// memory (the CRTC reads it by physical address, §9.1), never evicted, owned by the process (it may render into
    /// it with work packets).
    /// </summary>
    /// <exception cref="InvalidOperationException">No mode is set.</exception>
    /// <exception cref="VidMmException">No contiguous local room.</exception>
    public AllocationHandle CreatePrimarySurface(uint processId)
    {
        var mode = Mode ?? throw new InvalidOperationException("set a display mode first");
        ulong bytes = (mode.SurfaceBytes + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
        AllocationHandle h;
        lock (_lock)
        {
            h = _vidmm.Allocate(bytes, VideoMemoryManager.PageSize, PlacementHint.LocalOnly, AllocationFlags.PrimarySurface);
            _primaries.Add(h, _vidmm.PhysicalAddressOf(h, 0).Encoded);
        }
        _kmd.Process(processId).Own(h, bytes);
        return h;
    }

    /// <summary>The encoded physical address the display would scan for <paramref name="surface"/>, or 0 when it is not a primary surface.</summary>
    public ulong ScanoutAddressOf(AllocationHandle surface)
    {
        lock (_lock) return _primaries.GetValueOrDefault(surface);
    }

    /// <summary>Mode-set scan-out (SCANOUT_BASE, immediate, not in any stream): shows <paramref name="surface"/> at once.</summary>
    /// <exception cref="FlipRejectedException">Not a primary surface.</exception>
    public void Show(AllocationHandle surface)
    {
        lock (_lock)
        {
            if (!_primaries.TryGetValue(surface, out ulong pa))
                throw new FlipRejectedException(FlipRejection.NotPrimarySurface, $"{surface}");
            _bus.WriteRegister(ScanoutBaseReg, pa);
            OnScanout(); // the device drops a latched flip on an immediate change (native-layout.md §12)
        }
    }

    /// <summary>
    /// Gives <paramref name="context"/> a flip chain of <paramref name="bufferCount"/> surfaces (n-buffering, §9.3). A
    /// kernel-path context queues its flips behind its earlier work through the KMD; a run-list context's flips are
    /// decided exactly as a kernel-path context's (the fence after the FLIP, the vsync's CURRENT_SURFACE), and
    /// n-buffering holds its submissions back by refusing them (<see cref="FlipChain.HoldsSubmissions"/>). A user queue
    /// presents through a kernel-path context of its process (the display owner's), so it has no chain of its own.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">n below 2.</exception>
    /// <exception cref="ArgumentException">The context is a user queue.</exception>
    /// <exception cref="InvalidOperationException">The context already has one, too many chains exist, or a run-list context's machine has no run-list back end.</exception>
    public FlipChain CreateFlipChain(GpuContext context, int bufferCount)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferCount, 2);
        switch (context)
        {
            case VidSchContext k:
                lock (_lock)
                {
                    if (k.FlipChain is not null) throw new InvalidOperationException($"context {k.Id} already has a flip chain");
                    return k.FlipChain = AddChain(new KernelFlipPresenter(k, _kmd), bufferCount);
                }
            case VaContext v:
            {
                var scheduler = RunLists ?? throw new InvalidOperationException("the machine has no run-list back end (SchedulingModel.Advanced)");
                lock (_lock)
                {
                    if (v.FlipChain is not null) throw new InvalidOperationException($"context {v.Id} already has a flip chain");
                    var presenter = new RunListFlipPresenter(v, scheduler);
                    var chain = AddChain(presenter, bufferCount);
                    _runListPresenters.Add(v.Id, presenter);
                    return v.FlipChain = chain;
                }
            }
            default:
                throw new ArgumentException($"{context} presents through a kernel-path context of its process, not a flip chain of its own", nameof(context));
        }
    }

    /// <summary>The advanced model's run-list back end, when the machine has one (set by the machine).</summary>
    internal RunListScheduler? RunLists { get; set; }

    private FlipChain AddChain(FlipPresenter presenter, int bufferCount)
    {
        if (_chains.Count == MaxChains) throw new InvalidOperationException($"at most {MaxChains} flip chains");
        var chain = new FlipChain(bufferCount, _chains.Count);
        _chains.Add((presenter, chain));
        _byFence.Add(FenceAddress(chain).Encoded, (presenter, chain));
        return chain;
    }

    /// <summary>
    /// Queues a flip of <paramref name="context"/> to <paramref name="surface"/> behind the context's earlier work
    /// (one ring-0 entry). Returns false — queuing nothing — when n − 1 flips are already queued: the n-th flip
    /// blocks (§9.3); retry once one is presented. <paramref name="waitForPreviousFlip"/> puts WAIT_FOR_FLIP first
    /// (§9.4): the engine stalls while another vsync flip is latched, so no flip replaces another.
    /// </summary>
    /// <exception cref="FlipRejectedException">Bad context or surface; nothing queued.</exception>
    public bool TryFlip(uint processId, VidSchContext context, AllocationHandle surface, FlipKind kind, out long flipId,
        bool waitForPreviousFlip = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        return TryFlip(processId, context, context.Id, surface, kind, waitForPreviousFlip, out flipId);
    }

    /// <summary>
    /// Queues a flip of run-list context <paramref name="context"/> (advanced model) to <paramref name="surface"/> as
    /// privileged kernel commands behind its earlier work (one ring-0 entry; seed 001 §7.3). Returns false — queuing
    /// nothing — when n − 1 flips are already queued (§9.3), its ring has no room now, or (enforcement option 3) there is
    /// no local memory for the kernel's privileged buffer.
    /// </summary>
    /// <exception cref="FlipRejectedException">No chain, or a surface that is not a primary surface of the context's process; nothing queued.</exception>
    public bool TryFlip(VaContext context, AllocationHandle surface, FlipKind kind, out long flipId, bool waitForPreviousFlip = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        return TryFlip(context.ProcessId, context, context.Id, surface, kind, waitForPreviousFlip, out flipId);
    }

    // Under the kernel lock: the context the copied-in id `k` names, checked against the caller's, its chain and the
    // size of `target` as the caller's process holds it.
    private (FlipPresenter Presenter, FlipChain Chain, ulong Size) Resolve(uint processId, GpuContext context, int k, AllocationHandle target)
    {
        if (context is VidSchContext c)
        {
            if (k != c.Id || c.ProcessId != processId || c.Scheduler?.KernelLock != _lock)
                throw new FlipRejectedException(FlipRejection.UnknownContext, $"context {k} is not process {processId}'s");
            var chain = c.FlipChain ?? throw new FlipRejectedException(FlipRejection.NoFlipChain, $"context {c.Id}");
            if (!_kmd.Process(processId).TryGetSize(target, out ulong size))
                throw new FlipRejectedException(FlipRejection.NotOwned, $"{target} is not process {processId}'s");
            return (_chains[chain.Slot].Context, chain, size);
        }
        var v = (VaContext)context;
        if (k != v.Id) throw new FlipRejectedException(FlipRejection.UnknownContext, $"context {k} is not process {processId}'s");
        if (!_runListPresenters.TryGetValue(v.Id, out var presenter) || !ReferenceEquals(presenter.Context, v)) throw new FlipRejectedException(FlipRejection.NoFlipChain, $"context {v.Id}");
        if (!v.Process.Owns(target))
            throw new FlipRejectedException(FlipRejection.NotOwned, $"{target} is not mapped into process {v.Process.Id}");
        return (presenter, v.FlipChain!, _vidmm.SizeOf(target));
    }

    // The shared body: arguments copied in through the gate, the context resolved and checked by Resolve (under the
    // kernel lock), then the FLIP and its fence queued behind the context's work.
    private bool TryFlip(uint processId, GpuContext context, int contextId, AllocationHandle surface, FlipKind kind, bool waitForPreviousFlip, out long flipId)
    {
        // Ring 3 → ring 0: the call's arguments cross the gate (copied in) like a submission's.
        Span<byte> args = stackalloc byte[16];
        var a = MemoryMarshal.Cast<byte, int>(args);
        a[0] = contextId; a[1] = surface.Index; a[2] = (int)surface.Generation; a[3] = (int)kind | (waitForPreviousFlip ? 0x100 : 0);
        using var call = _kmd.Gate.Enter(processId, args);
        var k = MemoryMarshal.Cast<byte, int>(call.Arguments[..16]);
        var target = new AllocationHandle(k[1], (uint)k[2]);
        var flipKind = (FlipKind)(k[3] & 0xFF);
        bool wait = (k[3] & 0x100) != 0;
        lock (_lock)
        {
            var (presenter, chain, size) = Resolve(processId, context, k[0], target);
            if (!_primaries.TryGetValue(target, out ulong pa))
                throw new FlipRejectedException(FlipRejection.NotPrimarySurface, $"{target}");
            var mode = Mode ?? throw new FlipRejectedException(FlipRejection.NoMode, "no display mode");
            if (size < mode.SurfaceBytes)
                throw new FlipRejectedException(FlipRejection.SurfaceTooSmall, $"{size} bytes < {mode.SurfaceBytes}");
            if (chain.Pending.Count >= chain.BufferCount - 1)
            {
                flipId = 0;
                return false;
            }
            ulong sequence = chain.SequenceIssued + 1;
            var w = new PacketWriter(_packets);
            if (wait) w.WaitForFlip();
            w.Flip(pa, flipKind == FlipKind.Vsync);
            // seed 001 §9.2: the fence + interrupt right after the FLIP says it executed (immediate: it is visible).
            w.PrivilegedFence(FenceAddress(chain).Encoded, sequence, interrupt: true);
            if (!presenter.TryQueue(w.WrittenSpan, out flipId)) return false;
            chain.SequenceIssued = sequence;
            var p = _flipPool.TryPop(out var pooled) ? pooled : new PendingFlip();
            p.Id = flipId;
            p.Sequence = sequence;
            p.Surface = pa;
            p.Kind = flipKind;
            p.Status = FlipStatus.Queued;
            chain.Pending.Add(p);
            return true;
        }
    }

    /// <summary>The status of flip <paramref name="flipId"/> of <paramref name="context"/> (any context with a flip chain).</summary>
    public FlipStatus StatusOf(GpuContext context, long flipId)
    {
        ArgumentNullException.ThrowIfNull(context);
        return StatusOf(context.FlipChain, flipId);
    }

    private FlipStatus StatusOf(FlipChain? chain, long flipId)
    {
        lock (_lock)
        {
            if (chain is null) return FlipStatus.Unknown;
            foreach (var p in chain.Pending) if (p.Id == flipId) return p.Status;
            return chain.Decided.GetValueOrDefault(flipId);
        }
    }

    private PhysicalAddress FenceAddress(FlipChain chain) => _fencePage.Add((ulong)chain.Slot * 8);
}
