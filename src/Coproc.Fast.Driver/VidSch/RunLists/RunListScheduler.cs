using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// The advanced scheduling model (seed 001 §4–§7): per-process GPU address spaces with invariant VAs, user-written DMA
/// buffers submitted as is, surface- or page-level demand faulting with a paging list, a paging thread and VidMm's own
/// context, hardware run lists driven with a current and a pending list (two-element rules or the history buffer), and
/// the three limited-vs-privileged enforcement options. Talks to the device through MMIO, memory and the interrupt
/// records only. Kernel state is guarded by <see cref="KernelLock"/>; ring insertion by each context's own lock.
/// </summary>
public sealed partial class RunListScheduler
{
    private readonly IDeviceBus _bus;
    private readonly DeviceMemory _memory;
    private readonly Dictionary<ulong, VaContext> _bySaveArea = new();
    private readonly Dictionary<uint, VaContext> _byId = new();
    private readonly Dictionary<ulong, VaContext> _byFence = new();
    private readonly List<VaContext> _contexts = new();
    private readonly List<VaProcess> _processes = new();
    private readonly List<RunListEvent> _log = new();
    private readonly List<PagingOperation> _commands = new();
    private uint _nextContextId;
    private uint _nextProcessId = 1;
    private int _workArrived;

    /// <summary>
    /// Creates the run-list back end over VidMm, the residency manager and the device bus, sharing
    /// <paramref name="kernelLock"/> and the device paging queue <paramref name="paging"/> with the machine's other
    /// schedulers; programs the run-list mode. Built by <see cref="Machine"/> when <see cref="MachineOptions.Model"/> is
    /// <see cref="SchedulingModel.Advanced"/>.
    /// </summary>
    internal RunListScheduler(RunListOptions options, VideoMemoryManager vidmm, ResidencyManager residency, IDeviceBus bus, object kernelLock,
        DevicePagingQueue paging)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        VidMm = vidmm ?? throw new ArgumentNullException(nameof(vidmm));
        Residency = residency ?? throw new ArgumentNullException(nameof(residency));
        _bus = bus ?? throw new ArgumentNullException(nameof(bus));
        KernelLock = kernelLock ?? throw new ArgumentNullException(nameof(kernelLock));
        Clock = () => _bus.Cycle;
        if (options.RunListLength is < 2 or > RunListRegisters.MaxEntriesValue)
            throw new ArgumentOutOfRangeException(nameof(options), options.RunListLength, "run-list length must be 2 … 16");
        // Spans of cycles: deadlines are now + span, the paging protection 16 quanta (MachineOptions.MaxCycleSpan).
        MachineOptions.CheckSpan(options.QuantumCycles, nameof(options.QuantumCycles), min: 1);
        MachineOptions.CheckSpan(options.TimeoutCycles, nameof(options.TimeoutCycles), min: 1);
        MachineOptions.CheckSpan(options.PagingBoostPeriodCycles, nameof(options.PagingBoostPeriodCycles), min: 1);
        MachineOptions.CheckSpan(options.PagingServiceCycles, nameof(options.PagingServiceCycles));
        _memory = vidmm.Memory;
        // Demand faulting: an evicted allocation's VA must fault, not reach its backing store (seed 001 §5.3 step 4).
        residency.InvalidateEvictedMappings = true;
        // Context ids are GpuContext.Id (an int): the range must start below 2^31 (CreateContext refuses the id past it).
        if (options.FirstContextId is 0 or > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(options), options.FirstContextId, "the first run-list context id must be 1 … 2^31 − 1");
        _nextContextId = options.FirstContextId;
        // VidMm's context of the advanced model is the machine's seed 004 device paging queue (every paging buffer of the
        // machine runs there), run in this back end's lists on the first engine at the paging list's priority (seed 001
        // §5.6, behaviour 17): Reschedule lists it while it has work.
        Paging = paging ?? throw new ArgumentNullException(nameof(paging));
        PagingList = new PagingList(options.PagingBoostPeriodCycles);
        var engines = options.Engines ?? [options.Engine];
        if (engines.Count == 0 || !engines.Contains(options.Engine) || engines.Distinct().Count() != engines.Count
            || engines.Any(e => (uint)e >= Coproc.Fast.Device.Engines.Engines.Count))
            throw new ArgumentException($"run-list engines must be distinct engines including {options.Engine} (VidMm's paging context runs there)", nameof(options));
        // One page holds every engine's list array (16 entries × 8 bytes each).
        var listArray = vidmm.Allocate(VideoMemoryManager.PageSize, VideoMemoryManager.PageSize, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        if (options.Mechanism == RunListMechanism.History)
        {
            // One history buffer per device, system memory, 4 KiB aligned, ≥ 2 × the run-list length (seed 001 §6.5).
            var hb = vidmm.Allocate(VideoMemoryManager.PageSize, VideoMemoryManager.PageSize, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
            HistoryPa = vidmm.PhysicalAddressOf(hb, 0);
            uint records = (uint)Math.Max(2 * options.RunListLength, 16);
            History = HistoryBufferReader.Enable(_bus, HistoryPa, records * HistoryRecord.SizeInBytes);
        }
        else HistoryBufferReader.UseTwoElementLists(_bus);
        // The primary engine (VidMm's paging context) first.
        var ordered = engines.OrderBy(e => e == options.Engine ? 0 : 1).ToArray();
        _lanes = new Lane[ordered.Length];
        for (int i = 0; i < ordered.Length; i++)
        {
            // The idle stand-in a list names to take a stopped context off the engine (RunList.cs): on the first engine
            // VidMm's paging context, which runs there anyway; on every other engine a kernel context of its own whose
            // ring stays empty — never the paging context, which two engines would then run at once once it has work.
            ulong idle = i == 0 ? Paging.Context.SaveArea.Encoded
                : new KernelContext(vidmm, residency.KernelView, IdleContextIdBase + (uint)i, 4096).SaveArea.Encoded;
            _lanes[i] = new Lane(ordered[i], new RunListSubmitter(_bus, ordered[i],
                vidmm.PhysicalAddressOf(listArray, (ulong)i * RunListRegisters.MaxEntriesValue * 8)), idle);
        }
        RunLists = _lanes[0].Submitter;
    }

    // One engine's run lists (seed 001 §6: per engine, a current and a pending list).
    private sealed class Lane(EngineKind engine, RunListSubmitter submitter, ulong idleSaveArea)
    {
        public readonly EngineKind Engine = engine;
        public readonly RunListSubmitter Submitter = submitter;
        public readonly ulong IdleSaveArea = idleSaveArea; // the stand-in that takes a stopped context off (empty ring)
        public bool Dirty;               // a list change waits for the pending list's confirmation (§6.2)
        public ulong LastTickRunning;    // the running context at the last quantum tick
        public ulong LastTickCycle;
    }

    private readonly Lane[] _lanes;

    // Context ids of the idle stand-ins of the second and later run-list engines (+ lane index).
    private const uint IdleContextIdBase = 0xFFFF_FD00;

    private Lane? LaneOf(EngineKind engine)
    {
        foreach (var l in _lanes) if (l.Engine == engine) return l;
        return null;
    }

    /// <summary>The engines this back end drives (<see cref="RunListOptions.Engines"/>), the paging context's first.</summary>
    public IReadOnlyList<EngineKind> Engines => Array.ConvertAll(_lanes, l => l.Engine);

    /// <summary>True when <paramref name="engine"/> is driven by this back end.</summary>
    public bool Drives(EngineKind engine) => LaneOf(engine) is not null;

    /// <summary>The run-list register layer of <paramref name="engine"/>.</summary>
    /// <exception cref="ArgumentException">The back end does not drive that engine.</exception>
    public RunListSubmitter RunListsFor(EngineKind engine) =>
        LaneOf(engine)?.Submitter ?? throw new ArgumentException($"engine {engine} is not driven by run lists", nameof(engine));

    /// <summary>Configuration.</summary>
    public RunListOptions Options { get; }

    /// <summary>VidMm.</summary>
    public VideoMemoryManager VidMm { get; }

    /// <summary>The residency manager (evicted VAs invalidated).</summary>
    public ResidencyManager Residency { get; }

    /// <summary>The virtual clock (device cycle).</summary>
    public Func<ulong> Clock { get; }

    /// <summary>
    /// The machine's event loop (deterministic) or threads (threaded): the paging thread runs as the back end's
    /// deferred work (<see cref="ISchedulerHost.RequestPreparation"/>), the quantum as its timer. Null: nothing
    /// deferred is scheduled.
    /// </summary>
    internal ISchedulerHost? Host { get; set; }

    /// <summary>Guards every kernel structure except ring insertion (which has per-context locks); the machine's kernel lock.</summary>
    public object KernelLock { get; }

    /// <summary>VidMm's paging channel: the machine's device paging queue (seed 004, <see cref="Machine.Paging"/>), whose
    /// kernel context this back end runs in its first engine's lists as VidMm's context (seed 001 §5.6).</summary>
    public DevicePagingQueue Paging { get; }

    /// <summary>
    /// A kernel-path scheduler (VidSch, on an engine these lists do not drive) put paging in the queue: the next
    /// <see cref="Poll"/> reschedules, listing the queue's context. This back end's own paging reschedules by itself.
    /// </summary>
    internal void PagingQueued()
    {
        Volatile.Write(ref _workArrived, 1);
        _bus.Kick();
    }

    /// <summary>The paging list.</summary>
    public PagingList PagingList { get; }

    /// <summary>The run-list register layer (current and pending lists) of <see cref="RunListOptions.Engine"/>.</summary>
    public RunListSubmitter RunLists { get; }

    /// <summary>History mode: the history-buffer reader.</summary>
    public HistoryBufferReader? History { get; }

    /// <summary>History mode: the history buffer's PA (kernel memory, never mapped into a process).</summary>
    public PhysicalAddress HistoryPa { get; }

    /// <summary>The contexts.</summary>
    public IReadOnlyList<VaContext> Contexts => _contexts;

    /// <summary>The event log (a copy).</summary>
    public RunListEvent[] Events { get { lock (KernelLock) return _log.ToArray(); } }

    /// <summary>Empty reports the saved-context query showed to be races (behaviour 19).</summary>
    public long EmptyRaceRequeues { get; private set; }

    /// <summary>True when no context has outstanding work except ones in error or stopped on a wait nothing will satisfy.</summary>
    public bool IsIdle
    {
        get
        {
            lock (KernelLock) return IsIdleUnlocked;
        }
    }

    /// <summary>
    /// <see cref="IsIdle"/> without taking the kernel lock: for a caller that holds it, or for a deterministic machine,
    /// whose kernel state changes only on the thread that asks.
    /// </summary>
    internal bool IsIdleUnlocked
    {
        get
        {
            if (PagingList.Count != 0 || _awaiting.Count != 0 || Paging.HasWork) return false;
            foreach (var c in _contexts)
                if (c.State != VaContextState.Error && (c.HasWork || c.HasReleasedWork)) return false;
            return true;
        }
    }

    /// <summary>
    /// Creates a process: its own GPU address space (invalid VAs fault; page tables in <see cref="RunListOptions.PageTables"/>'s
    /// format) with VidMm's paging fence mapped read-only.
    /// </summary>
    public VaProcess CreateProcess() => CreateProcess(Options.PageTables);

    /// <summary>Creates a process whose GPU address space uses <paramref name="pageTables"/> (flat or multi-level, seed 001 §5.4).</summary>
    public VaProcess CreateProcess(Coproc.Fast.Device.Mmu.PageTableFormat pageTables)
    {
        lock (KernelLock)
        {
            while (_processes.Exists(p => p.Id == _nextProcessId)) _nextProcessId++;
            return CreateProcessLocked(_nextProcessId++, pageTables);
        }
    }

    /// <summary>
    /// Creates the GPU address space of process <paramref name="processId"/> — the id the kernel path knows it by
    /// (<see cref="Kernel.Kmd.Process"/>, synchronization-object access): one process may have contexts on both back
    /// ends and share objects across them.
    /// </summary>
    /// <exception cref="ArgumentException">The process already has an address space here.</exception>
    public VaProcess CreateProcess(uint processId, Coproc.Fast.Device.Mmu.PageTableFormat pageTables)
    {
        lock (KernelLock)
        {
            if (_processes.Exists(p => p.Id == processId))
                throw new ArgumentException($"process {processId} already has an address space", nameof(processId));
            return CreateProcessLocked(processId, pageTables);
        }
    }

    private VaProcess CreateProcessLocked(uint processId, Coproc.Fast.Device.Mmu.PageTableFormat pageTables)
    {
        // A flat table is sized once (FlatVaBytes) and never grows: contexts keep its root and limit in their save areas.
        var space = VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions
        {
            FaultOnInvalid = true, Format = pageTables, FlatMaxBytes = Options.FlatVaBytes, FlatFixedSize = true,
        });
        ulong fenceVa = Paging.MapPagingFence(space);
        space.ClaimFor(processId, nameof(processId));
        var p = new VaProcess(this, processId, space, fenceVa);
        _processes.Add(p);
        return p;
    }

    /// <summary>
    /// Creates a context of <paramref name="process"/> at <paramref name="priority"/>: save area and ring (pinned, kernel
    /// only), scheduler fence (kernel only), and the kernel-owned buffers its enforcement option needs. When their only
    /// room in local memory is memory in transit (docs/memory.md), it waits for that paging and tries again, as
    /// <see cref="Machine.CreateContext(uint, int)"/> does — from the host's thread, outside the kernel lock; there
    /// (or on a machine thread) the typed refusal stands.
    /// </summary>
    /// <exception cref="VidMmException">No room for the context's kernel objects; nothing stays allocated.</exception>
    public VaContext CreateContext(VaProcess process, int priority = 0) => CreateContext(process, priority, Options.Engine);

    /// <summary>
    /// <see cref="CreateContext(VaProcess, int)"/> on <paramref name="engine"/>, one of <see cref="Engines"/>: its buffers
    /// run on that engine's run lists.
    /// </summary>
    /// <exception cref="ArgumentException">The back end does not drive <paramref name="engine"/>.</exception>
    /// <exception cref="VidMmException">No room for the context's kernel objects; nothing stays allocated.</exception>
    public VaContext CreateContext(VaProcess process, int priority, EngineKind engine)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (LaneOf(engine) is null) throw new ArgumentException($"engine {engine} is not driven by run lists ({nameof(RunListOptions)}.{nameof(RunListOptions.Engines)})", nameof(engine));
        // Ordering, not refusal (VidMm/Residency/ResidencyManager.InTransit.cs). Decided before the call: an exception
        // filter runs before the call's lock is released.
        bool mayWait = InTransitWait is { MayWait: true };
        try { return CreateContextOnce(process, priority, engine); }
        catch (VidMmException e) when (mayWait && e.Error == VidMmError.OutOfLocalMemory)
        {
            if (!InTransitWait!.WaitAndRetire()) throw;
            return CreateContextOnce(process, priority, engine);
        }
    }

    /// <summary>Set by <see cref="Machine"/>: <see cref="CreateContext(VaProcess, int, EngineKind)"/> waits for memory in transit instead of refusing.</summary>
    internal InTransitWait? InTransitWait { get; init; }

    private VaContext CreateContextOnce(VaProcess process, int priority, EngineKind engine)
    {
        lock (KernelLock)
        {
            uint id = _nextContextId;
            if (id > int.MaxValue) throw new InvalidOperationException("the run-list context ids are used up (GpuContext.Id is below 2^31)");
            var hw = new KernelContext(VidMm, process.Space.Descriptor, id, Options.RingBytes); // frees its pages if it fails
            AllocationHandle fencePage = default, priv = default;
            try
            {
                fencePage = VidMm.Allocate(VideoMemoryManager.PageSize, VideoMemoryManager.PageSize, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
                if (Options.Privilege == PrivilegeEnforcement.IndirectBit)
                    priv = VidMm.Allocate(Options.RingBytes, VideoMemoryManager.PageSize, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
            }
            catch
            {
                // A failure leaves nothing allocated (the caller may wait for memory in transit and try again).
                if (!fencePage.IsNull) VidMm.Free(fencePage);
                VidMm.Free(hw.RingAllocation);
                VidMm.Free(hw.ControlPage);
                throw;
            }
            _nextContextId++;
            var fencePa = VidMm.PhysicalAddressOf(fencePage, 0);
            _memory.GetSpan(fencePa, (int)VideoMemoryManager.PageSize).Clear();
            PhysicalAddress privPa = default, copyPa = default;
            ulong privVa = 0, copyVa = 0;
            int slots = 0;
            uint copyDwords = 0;
            if (Options.Privilege == PrivilegeEnforcement.IndirectBit)
            {
                // Option 3: privileged DMA buffers in kernel memory, mapped P = 1 read-only — a limited buffer touching them faults.
                privPa = VidMm.PhysicalAddressOf(priv, 0);
                privVa = process.Space.MapAllocation(priv, GpuMappingFlags.Privileged);
                process.Add(new GpuAllocation(priv, privVa, Options.RingBytes, false));
                slots = (int)(Options.RingBytes / (VaContext.PrivilegedSlotDwords * 4));
            }
            else if (Options.Privilege == PrivilegeEnforcement.KernelCopy)
            {
                // Option 1: the kernel copy of each validated buffer, read-only to the GPU and never mapped for the CPU.
                var copy = VidMm.Allocate(Options.KernelCopyBytes, VideoMemoryManager.PageSize, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
                copyPa = VidMm.PhysicalAddressOf(copy, 0);
                copyVa = process.Space.MapAllocation(copy, GpuMappingFlags.ReadOnly);
                process.Add(new GpuAllocation(copy, copyVa, Options.KernelCopyBytes, false));
                copyDwords = Options.KernelCopyBytes / 4;
            }
            var ctx = new VaContext(process, id, priority, hw, _memory, fencePa, privPa, privVa, slots, copyPa, copyVa, copyDwords, engine);
            ctx.Sync = new VaSyncState(ctx, this); // its event history and its part in the machine's sync objects
            _contexts.Add(ctx);
            Residency.SetContextPriority((int)id, priority); // eviction prefers lower priorities (seed 001 §5.5)
            _byId.Add(id, ctx);
            _bySaveArea.Add(ctx.SaveArea, ctx);
            _byFence.Add(fencePa.Encoded, ctx);
            return ctx;
        }
    }

    internal GpuAllocation AllocateSurface(VaProcess p, ulong bytes)
    {
        lock (KernelLock)
        {
            var h = Residency.CreateAllocation(bytes, 0);
            ulong va = p.Space.MapAllocation(h, GpuMappingFlags.Writable);
            // Not resident yet: its first use faults (or a prefetch pages it in) — never reaches the backing store.
            p.Space.InvalidateMappingNow(va);
            var a = new GpuAllocation(h, va, bytes, true);
            p.Add(a);
            return a;
        }
    }

    internal GpuAllocation AllocatePinned(VaProcess p, ulong bytes, GpuMappingFlags flags, PlacementHint placement = PlacementHint.LocalOnly)
    {
        lock (KernelLock)
        {
            var h = VidMm.Allocate(bytes, VideoMemoryManager.PageSize, placement, AllocationFlags.Contiguous);
            _memory.GetSpan(VidMm.PhysicalAddressOf(h, 0), checked((int)bytes)).Clear();
            ulong va = p.Space.MapAllocation(h, flags);
            var a = new GpuAllocation(h, va, bytes, false);
            p.Add(a);
            return a;
        }
    }

    /// <summary>
    /// Maps an allocation the kernel made elsewhere (e.g. a primary surface of the present path, pinned in local
    /// memory) into <paramref name="process"/>'s address space, writable, and records it as the process's (pinned: never
    /// evicted, so never faulted on).
    /// </summary>
    public GpuAllocation MapPinnedAllocation(VaProcess process, AllocationHandle handle, ulong bytes)
    {
        ArgumentNullException.ThrowIfNull(process);
        lock (KernelLock)
        {
            ulong va = process.Space.MapAllocation(handle, GpuMappingFlags.Writable);
            var a = new GpuAllocation(handle, va, bytes, false);
            process.Add(a);
            return a;
        }
    }

    /// <summary>
    /// Undoes a mapping of an allocation into <paramref name="process"/>'s space (<see cref="MapPinnedAllocation"/>,
    /// <c>MapShared</c>): the process's record of it goes and its PTEs are cleared, with the TLB invalidation through MMIO
    /// (<see cref="GpuAddressSpace.Unmap"/>).
    /// </summary>
    internal void UnmapProcessAllocation(VaProcess process, ulong va)
    {
        lock (KernelLock)
        {
            process.Remove(va);
            process.Space.Unmap(va);
        }
    }

    internal UserDmaBuffer CreateDmaBuffer(VaProcess p, int dwords)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dwords, 1);
        lock (KernelLock)
        {
            ulong bytes = ((ulong)dwords * 4 + VideoMemoryManager.PageSize - 1) & ~(VideoMemoryManager.PageSize - 1);
            var h = VidMm.Allocate(bytes, VideoMemoryManager.PageSize, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
            var pa = VidMm.PhysicalAddressOf(h, 0);
            _memory.GetSpan(pa, (int)bytes).Clear();
            // Read-only for the GPU: a limited buffer cannot rewrite its own (or a queued) DMA buffer.
            ulong va = p.Space.MapAllocation(h, GpuMappingFlags.ReadOnly);
            p.Add(new GpuAllocation(h, va, bytes, false));
            return new UserDmaBuffer(p, _memory, h, pa, va, (int)(bytes / 4));
        }
    }

    private void Log(RunListEventKind kind, uint contextId, ulong detail)
    {
        if (_log.Count < Options.EventLogCapacity) _log.Add(new RunListEvent(Clock(), kind, contextId, detail));
        else EventsDropped++;
    }

    /// <summary>Events not stored because the log reached <see cref="RunListOptions.EventLogCapacity"/>.</summary>
    public long EventsDropped { get; private set; }

    /// <summary>
    /// The driver's query on a context that is not running (seed 001 §4.1): the reason it last switched away, the cycles
    /// it ran, the fault address (valid after a fault) and the resources in use — those its outstanding buffers listed
    /// plus those it faulted on. Read from the saved context in memory and the scheduler's own records.
    /// </summary>
    public SavedContextInfo QuerySavedContext(VaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var save = SavedContextQuery.Read(_memory, context.Hw.SaveArea);
        var inUse = new List<AllocationHandle>();
        lock (context.RingLock)
        {
            foreach (var s in context.Outstanding)
                foreach (var r in s.Resources)
                    if (!inUse.Contains(r.Handle)) inUse.Add(r.Handle);
            foreach (var h in context.FaultSet)
                if (!inUse.Contains(h)) inUse.Add(h);
        }
        bool faulted = (save.Flags & Coproc.Fast.Device.Contexts.ContextFlags.Faulted) != 0;
        return new SavedContextInfo(save.LastSwitchReason, save.CyclesRun, faulted ? save.Fault.Address : 0, faulted,
            SavedContextQuery.HasQueuedWork(_memory, context.Hw.SaveArea), inUse.ToArray());
    }

    /// <summary>The context whose save area is <paramref name="saveArea"/>, if it is one of this scheduler's.</summary>
    public VaContext? ContextBySaveArea(ulong saveArea) => _bySaveArea.GetValueOrDefault(saveArea);
}
