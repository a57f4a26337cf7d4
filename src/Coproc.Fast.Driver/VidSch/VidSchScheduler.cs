using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// The basic-model scheduler (seed 000; seed 001 §3, §5.5, §13, §19.3–19.4): per-context software queues, a
/// priority-ordered ready queue, the three stages running / being prepared / ready, a preparation worker that makes
/// resources resident, splits and builds paging buffers, patching, quanta with mid-buffer preemption through
/// CONTEXT_SWITCH, fence-driven retirement, and timeout detection and recovery.
/// </summary>
/// <remarks>
/// Design: every decision runs under one kernel lock (<see cref="KernelLock"/>), taken by submitters, the
/// interrupt handler, timers and the preparation worker — never by the device, which it reaches only through
/// <see cref="IDeviceBus"/> (MMIO writes, memory) and interrupt records. Invariants that keep memory coherent:
/// (1) MakeResident calls happen in preparation order and every request includes the resources of every chunk
/// already handed to the hardware or prepared ("pinned"), so VidMm never evicts what a started or preempted buffer
/// still uses — a preempted buffer resumes at the same addresses (seed 001 §16 "interrupted-buffer resume") — except
/// the chunks of a context the device confirmed off its engine to lend its memory to higher-priority work, which
/// is not loaded again until that memory is back (VidSchScheduler.Lending.cs, invariant L);
/// (2) every paging buffer goes to the machine's one paging queue when its moves are recorded, so paging buffers run
/// in the order their moves were recorded, and a chunk starts with a WAIT_FENCE on the queue's paging fence for the
/// paging it depends on (VidSchScheduler.PagingContext.cs).
/// </remarks>
public sealed partial class VidSchScheduler
{
    private readonly VidSchOptions _o;
    private readonly IDeviceBus _bus;
    private readonly IResidencyManager _rm;
    private readonly VideoMemoryManager _vidmm;
    private readonly List<VidSchContext> _contexts = new();
    private readonly Dictionary<ulong, VidSchContext> _bySaveArea = new();
    private readonly ReadyQueue _ready = new();
    private readonly uint _engineBase;

    // Shared with the other engines' schedulers (SchedulerGroup): lock, the paging queue and its recorded footprints,
    // pinned chunks.
    private readonly SchedulerGroup _group;
    private long _retirementsSeen;

    // Contexts per engine: the engine's id range (Machine.ContextIdsPerEngine) less its last id, which the kernel paging
    // context of each engine once took — kept, so the limit a caller sees does not change.
    private const int MaxContexts = 0xFFF;

    private long _sequence;
    private ulong _currentRound;
    private int _inFlightCount;
    private int _parkedCount;

    /// <summary>
    /// Creates the scheduler over VidMm, the residency manager and the device bus, alone: with a device paging queue of
    /// its own (<see cref="Paging"/>), whose kernel context it runs on its engine.
    /// </summary>
    public VidSchScheduler(VidSchOptions options, IDeviceBus bus, VideoMemoryManager vidmm, IResidencyManager residency)
        : this(options, bus, vidmm, residency, null)
    {
    }

    /// <summary>A member of <paramref name="group"/> (one scheduler per engine sharing lock, the paging queue and pins,
    /// the group's queue created before its first member); null: alone, with a queue of its own run on its engine.</summary>
    internal VidSchScheduler(VidSchOptions options, IDeviceBus bus, VideoMemoryManager vidmm, IResidencyManager residency, SchedulerGroup? group)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _o = options;
        _bus = bus;
        _vidmm = vidmm;
        _rm = residency;
        _engineBase = EngineRegisters.At(options.Engine, 0);
        bool alone = group is null;
        if (group is null)
        {
            group = new SchedulerGroup();
            group.CreatePaging(vidmm, residency);
        }
        _group = group;
        _group.Members.Add(this);
        _scratchRing = new uint[96 + 5 * (options.MaxResourceId + 1)];
        _slotHandles = new AllocationHandle[options.MaxResourceId + 1];
        _slotOffsets = new uint[options.MaxResourceId + 1];
        _splits = new uint[options.MaxReferences + 1];
        if (alone) _group.SetPagingMember(this); // a machine chooses its paging engine itself (Machine.Engines.cs)
    }

    /// <summary>The configuration.</summary>
    public VidSchOptions Options => _o;

    /// <summary>The lock every kernel decision (and every VidMm call made for the scheduler) runs under.</summary>
    public object KernelLock => _group.Lock;

    /// <summary>Who runs preparation jobs and timers; set by the composition root before use.</summary>
    public ISchedulerHost? Host { get; set; }

    /// <summary>Scheduling events go here (none by default).</summary>
    public IScheduleObserver? Observer { get; set; }

    /// <summary>Contexts created.</summary>
    public IReadOnlyList<VidSchContext> Contexts => _contexts;

    /// <summary>Buffers in the ready queue (including those parked behind their context's full ring, see <see cref="VidSchOptions.MaxInFlight"/>).</summary>
    public int ReadyCount { get { lock (KernelLock) return _ready.Count + _parkedCount; } }

    /// <summary>Paging buffers built so far.</summary>
    public long PagingBuffersBuilt { get; private set; }

    /// <summary>Buffers split into more than one chunk so far.</summary>
    public long Splits { get; private set; }

    /// <summary>Mid-buffer preemptions requested so far.</summary>
    public long PreemptionCount { get; private set; }

    /// <summary>True when nothing is queued, being prepared, prepared or in the hardware.</summary>
    public bool IsIdle
    {
        get
        {
            lock (KernelLock) return IsIdleUnlocked;
        }
    }

    /// <summary>
    /// <see cref="IsIdle"/> without taking the kernel lock: for a caller that holds it, or for a deterministic machine,
    /// whose kernel state only its one stepping thread changes (the machine's per-step idle test).
    /// </summary>
    /// <summary>Set by the machine for an engine the advanced model's run lists drive: no kernel-path context is made here.</summary>
    internal bool DrivenByRunLists { get; set; }

    /// <summary>True when nothing is queued, parked, prepared or in flight (read without the kernel lock).</summary>
    internal bool IsIdleUnlocked =>
        _ready.Count == 0 && _parkedCount == 0 && _parkedChunkCount == 0 && _preparing is null && _prepared is null && _inFlightCount == 0
        && !PagingHasWork && !AnyResetting();

    /// <summary>
    /// Creates a context of <paramref name="processId"/> at <paramref name="priority"/>: save area and ring
    /// descriptor in a local page, the ring in local memory, the scheduler fence and binding table in a system page
    /// (seed 001 §19.1 "Context"). Its address space is the residency manager's kernel view (basic model: one common
    /// address space, patched addresses, §16).
    /// </summary>
    /// <exception cref="InvalidOperationException">The engine is driven by run lists (advanced model): a kernel-path context
    /// there would take the engine from every process's run-list work.</exception>
    public VidSchContext CreateContext(uint processId, int priority = 0)
    {
        // Invariant: no kernel-path context exists on an engine the run lists drive (Machine.CreateContext checks the same).
        if (DrivenByRunLists)
            throw new InvalidOperationException($"engine {_o.Engine} is driven by run lists in the advanced model: create a process and a context on RunListScheduler");
        lock (KernelLock)
        {
            if (_contexts.Count >= MaxContexts)
                throw new InvalidOperationException($"at most {MaxContexts} contexts per engine (the engine's context-id range)");
            var ctx = new VidSchContext(_o.FirstContextId + _contexts.Count, processId, priority, _o.Engine) { Scheduler = this };
            (_rm as ResidencyManager)?.SetContextPriority(ctx.Id, priority); // eviction prefers lower priorities (seed 001 §5.5)
            ctx.LocalPage = _vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
            try
            {
                ctx.RingAllocation = _vidmm.Allocate(_o.RingBytes, _o.RingBytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
                try
                {
                    ctx.SystemPage = _vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly,
                        flags: AllocationFlags.CommandBuffer | AllocationFlags.Contiguous);
                }
                catch
                {
                    _vidmm.Free(ctx.RingAllocation);
                    throw;
                }
            }
            catch
            {
                _vidmm.Free(ctx.LocalPage); // a refused context leaves no memory behind (the caller may try again)
                throw;
            }
            var local = _vidmm.PhysicalAddressOf(ctx.LocalPage, 0);
            ctx.SaveArea = local;
            ctx.RingDescriptor = local.Add(ContextSaveArea.SizeInBytes);
            ctx.Ring = _vidmm.PhysicalAddressOf(ctx.RingAllocation, 0);
            ctx.RingBytes = _o.RingBytes;
            var sys = _vidmm.PhysicalAddressOf(ctx.SystemPage, 0);
            ctx.Fence = sys;
            ctx.BindingTable = sys.Add(64);
            ctx.BindingTableKernelAddress = _rm.PatchAddress(ctx.SystemPage, 64);
            var mem = _bus.Memory;
            mem.GetSpan(local, (int)VideoMemoryManager.PageSize).Clear();
            mem.GetSpan(sys, (int)VideoMemoryManager.PageSize).Clear();
            mem.Local.Ref<RingDescriptor>(ctx.RingDescriptor.Offset) = new RingDescriptor
            {
                Base = ctx.Ring.Encoded, SizeBytes = _o.RingBytes, ContextId = (uint)ctx.Id,
            };
            mem.Local.Ref<ContextSaveArea>(ctx.SaveArea.Offset) = new ContextSaveArea
            {
                RingDescriptor = ctx.RingDescriptor.Encoded, ContextId = (uint)ctx.Id, AddressSpace = _rm.KernelView,
                // The device arbitrates this context against user queues on the same 0..15 scale (native-layout.md §13.7).
                SchedulingPriority = ContextSaveArea.PriorityWord(priority),
            };
            _contexts.Add(ctx);
            _bySaveArea.Add(ctx.SaveArea.Encoded, ctx);
            return ctx;
        }
    }

    /// <summary>
    /// Queues a validated DMA buffer on its context (seed 001 §3.1 step 9, §3.3): into the software queue and the
    /// priority-ordered ready queue. Returns the submission id.
    /// </summary>
    internal long Enqueue(DmaBuffer buffer, VidSchContext ctx)
    {
        lock (KernelLock)
        {
            buffer.SubmissionId = ++ctx.Submitted;
            if (Auditor is not null) Diagnostics.SchedulingAuditor.OnSubmitted(AuditorState!, ctx, _bus.Cycle);
            // seed 001 §9.3: after flip n−1 the context's buffers wait in its virtual ring (VidSchScheduler.VirtualRing.cs).
            if (HoldInVirtualRing(buffer, ctx)) return buffer.SubmissionId;
            Admit(buffer, ctx);
            return buffer.SubmissionId;
        }
    }

    // Into the software queue and the ready queue (a buffer straight from the KMD, or one leaving the virtual ring).
    private void Admit(DmaBuffer buffer, VidSchContext ctx)
    {
        buffer.Priority = ctx.Priority;
        buffer.Owner = ctx;
        buffer.Sequence = ++_sequence;
        if (SyncHoldBack(ctx, buffer)) return; // seed 001 §10.1: behind an unsatisfied wait (VidSchScheduler.Sync.cs)
        // Fig. 2: each context's next outstanding buffer goes one round later; a context returning from idle
        // joins the current round instead of jumping ahead of the others (§5.5 fairness among equals).
        buffer.Round = Math.Max(ctx.LastRound + 1, _currentRound);
        ctx.LastRound = buffer.Round;
        buffer.Status = DmaBufferStatus.Ready;
        ctx.Queued++;
        _ready.Insert(buffer);
        Emit(ScheduleEventKind.BufferSubmitted, ctx.Id, buffer.SubmissionId, (ulong)buffer.Priority, (ulong)buffer.DwordCount * 4);
        // Only the ready queue changed: wake the worker if it is idle; the rest of a pass has nothing new to do.
        StartPreparation();
    }

    /// <summary>Timer callback (quantum end, timeout check).</summary>
    public void OnTimer()
    {
        lock (KernelLock)
        {
            _timerArmedAt = ulong.MaxValue;
            Pump();
        }
    }

    /// <summary>Interrupt handler: a batch of information-queue entries read by the interrupt service routine.</summary>
    public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        lock (KernelLock)
        {
            foreach (var r in records) Handle(r);
            Pump();
        }
    }

    /// <summary>The buffer (if any) in each stage, for tests and tools: (being prepared, prepared).</summary>
    public (long PreparingContext, long PreparingSubmission, long PreparedContext, long PreparedSubmission) Stages
    {
        get
        {
            lock (KernelLock)
            {
                var p = _preparing;
                var q = _prepared;
                return (p is null ? 0 : ((VidSchContext)p.Owner!).Id, p?.SubmissionId ?? 0,
                    q is null ? 0 : q.Context.Id, q?.Chunk.Buffer?.SubmissionId ?? 0);
            }
        }
    }

    private bool AnyResetting()
    {
        foreach (var c in _contexts) if (c.Resetting) return true;
        return false;
    }

    private void Emit(ScheduleEventKind kind, int context, long submission, ulong value = 0, ulong extra = 0, ulong bytes = 0)
    {
        Diagnostics.CoprocMetrics.OnScheduleEvent(kind, bytes); // the library's counters (docs/observability.md)
        var o = Observer;
        if (o is not null) o.OnEvent(new ScheduleEvent(kind, _bus.Cycle, context, submission, value, extra, bytes));
    }

    private VidSchContext? ContextById(uint id)
    {
        long index = (long)id - _o.FirstContextId;
        return index >= 0 && index < _contexts.Count ? _contexts[(int)index] : null;
    }

    /// <summary>True when <paramref name="context"/> is one this scheduler created (not its paging context).</summary>
    internal bool Owns(VidSchContext context) => context.Id >= 0 && ReferenceEquals(FindContext(context.Id), context);

    /// <summary>The context with id <paramref name="id"/>, or null.</summary>
    public VidSchContext? FindContext(int id)
    {
        lock (KernelLock) return id < 0 ? null : ContextById((uint)id);
    }
}
