using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>What the runner asks of any scenario context, whatever its submission path.</summary>
internal interface IScenarioContext
{
    /// <summary>The scenario's context.</summary>
    ContextSpec Spec { get; }

    /// <summary>Index in scenario order.</summary>
    int Index { get; }

    /// <summary>The observer handle.</summary>
    int Handle { get; }

    /// <summary>The status of submission <paramref name="id"/> (an id <see cref="IScenarioContext"/>'s submit returned).</summary>
    SubmissionStatus StatusOf(long id);
}

/// <summary>
/// One context of a scenario in the advanced model (seed 001 §4–§8) on a run-list engine: the process's own GPU
/// address space (<see cref="VaProcess"/>) with its allocations created evictable and not resident (their first use
/// faults, or a listed resource is prefetched), user-built DMA buffers written with VAs (<see cref="PacketMixEncoder"/>)
/// and submitted as they are with the process's allocations as the resource list, run by the run-list back end.
/// Each submission is bracketed by TIMESTAMP packets (native-layout.md §8.2), so its start and end are exact device
/// cycles; completion is the scheduler fence of its <see cref="VaTicket"/>. The display owner flips its primary surfaces
/// through the machine's present path like a kernel-path owner (<see cref="Driver.Display.PresentManager.TryFlip(VaContext, AllocationHandle, Driver.Display.FlipKind, out long, bool)"/>:
/// privileged kernel commands, seed 001 §7.3; n-buffered, §9.3 — while n − 1 flips are queued its next frame waits, and
/// is not submitted). A compositor display owner composes the other
/// processes' windows as the kernel path's does (<see cref="DesktopComposer"/>, seed 001 §9.3): their surfaces, shared
/// with its process, are mapped into its own address space (<see cref="VaProcess.MapShared"/>), and each frame's
/// DRAW_RECTS name them by those VAs and list them as resources (prefetched; a source evicted meanwhile faults in).
/// </summary>
internal sealed class VaContextDriver : IScenarioContext
{
    private const int TimestampSlots = 64;
    private const int BufferSlots = 16; // DMA buffers reused round robin (at most this many in flight)
    private readonly Machine _machine;
    private readonly RunListScheduler _scheduler;
    private readonly SchedulingObserver _observer;
    private readonly VaContext _context;
    private readonly SubmissionTargets _targets;
    private readonly GpuAllocation _page;
    private readonly GpuAllocation[] _surfaces;
    private readonly GpuAllocation _scratch;
    private AllocationHandle[] _listed = new AllocationHandle[2];
    private readonly VaProcess _process;
    private readonly Dictionary<AllocationHandle, GpuAllocation> _shared = [];
    private DesktopComposer? _composer;
    private readonly int _composeDwords;
    // The composed desktop replaces the mix's DRAW_RECTS: the mix without them, and the work budget of what is left
    // (the kernel path splits the budget over every work packet, DRAW_RECTS included).
    private PacketMix? _composedMix;
    private ulong _composedWorkCycles;
    private int _lastCompletedIndex = -1;
    private readonly UserDmaBuffer[] _buffers;
    private readonly (GpuAllocation Surface, ulong ScanoutPa)[] _primaries;
    private readonly List<(long Id, int Index, int Slot, VaTicket Ticket)> _inFlight = [];
    // Submissions made so far: picks the DMA buffer and the TIMESTAMP slot of the next one. Buffers retire in order and
    // at most BufferSlots are in flight, so the next buffer (and slot: TimestampSlots ≥ BufferSlots) is never in use —
    // which a plan index would not guarantee (indices skipped while the in-flight bound held submissions back).
    private long _cursor;

    /// <summary>Frames not submitted because its flip chain held submissions (n − 1 flips queued, seed 001 §9.3).</summary>
    public int HeldByFlips { get; private set; }
    private readonly Dictionary<long, SubmissionStatus> _done = [];
    private long _nextId;
    private bool _headStarted;
    private int _faultsSeen;
    private long _bytesPagedSeen;

    // composeDwords: DMA buffer room for a composed desktop (DesktopComposer.MaxDwordsFor; 0: none).
    public VaContextDriver(Machine machine, VaProcess process, ScenarioProcess scenarioProcess, ContextSpec spec, int index,
        SchedulingObserver observer, MachineObserver adapter, IReadOnlyList<(AllocationHandle Handle, ulong Bytes)>? primaries, int composeDwords = 0)
    {
        _machine = machine;
        _process = process;
        _scheduler = machine.RunListScheduler;
        _observer = observer;
        Spec = spec;
        Index = index;
        _context = _scheduler.CreateContext(process, spec.Priority, spec.Engine);
        Handle = adapter.Register(_context, scenarioProcess.Spec.Name, spec.Name); // demand-paged: its page faults are not errors
        var specs = scenarioProcess.Spec.Allocations.Count > 0 ? scenarioProcess.Spec.Allocations : [new AllocationSpec("default", 1UL << 20, 1, "local")];
        var allocations = new List<GpuAllocation>();
        _primaries = primaries is null ? [] : primaries.Select(p => (_scheduler.MapPinnedAllocation(process, p.Handle, p.Bytes),
            machine.Display.ScanoutAddressOf(p.Handle))).ToArray();
        for (int s = _primaries.Length > 0 ? 1 : 0; s < specs.Count; s++)
        {
            try
            {
                // "preferred": "system" — read where it is, as on the kernel path (ScenarioProcess): never paged in.
                for (int i = 0; i < specs[s].Count; i++)
                    allocations.Add(specs[s].Preferred == "system"
                        ? process.AllocateInSystemMemory(ScenarioProcess.RoundToPage(specs[s].Bytes))
                        : process.AllocateSurface(ScenarioProcess.RoundToPage(specs[s].Bytes)));
            }
            catch (VidMmException e) when (scenarioProcess.Spec.Allocations.Count > 0)
            {
                throw ScenarioSetupException.Allocation(scenarioProcess, s, e);
            }
        }
        // Fence and WRITE_DATA slot (0, 8), an unsignalled counter (64), TIMESTAMP pairs (128 …): pinned, never faulted on.
        _page = process.AllocatePinned(VideoMemoryManager.PageSize);
        ulong unmapped = process.Space.Reserve(VideoMemoryManager.PageSize); // reserved, never mapped: a page fault that stays one
        // Surfaces: the swap chain (primaries) or the first allocation spec's allocations, drawn into in turn; scratch: the
        // last allocation (FILL, COPY and DISPATCH operands), as the kernel path's rotation of targets and resources.
        int firstSpecCount = _primaries.Length > 0 ? 0 : specs[0].Count;
        _surfaces = _primaries.Length > 0 ? _primaries.Select(p => p.Surface).ToArray() : allocations.Take(Math.Max(1, firstSpecCount)).ToArray();
        _scratch = allocations.Count > firstSpecCount ? allocations[^1] : _surfaces[^1];
        var surface = _surfaces[0];
        _targets = new SubmissionTargets(SurfaceGeometry.For(surface.Bytes).At(surface.Va), _scratch.Va, _scratch.Bytes, _page.Va,
            ComputeAVa: _scratch.Va, ComputeBVa: _scratch.Va + _scratch.Bytes / 2, ComputeElements: (uint)Math.Min(_scratch.Bytes / 8, int.MaxValue),
            CounterVa: _page.Va + 64, UnmappedVa: unmapped);
        int dwords = PacketMixEncoder.SizeInDwords(spec.Submission.Packets) + PacketMixEncoder.MisbehaviourDwords + 32 + composeDwords;
        _composeDwords = composeDwords;
        _buffers = Enumerable.Range(0, BufferSlots).Select(_ => process.CreateDmaBuffer(dwords)).ToArray();
    }

    /// <inheritdoc />
    public ContextSpec Spec { get; }

    /// <inheritdoc />
    public int Index { get; }

    /// <inheritdoc />
    public int Handle { get; }

    /// <summary>The run-list back end's context.</summary>
    public VaContext Context => _context;

    /// <summary>The surfaces its frames draw into, in turn (submission i draws into surface i mod count).</summary>
    public IReadOnlyList<GpuAllocation> Surfaces => _surfaces;

    /// <summary>Submissions completed.</summary>
    public long Completed { get; private set; }

    /// <summary>The surface of the last completed submission (the first surface before any completed).</summary>
    public GpuAllocation LastFinishedSurface => _surfaces[Math.Max(0, _lastCompletedIndex) % _surfaces.Length];

    /// <summary>True once the context stopped on an error or the kernel rejected one of its buffers.</summary>
    public bool HasFailed => _context.State == VaContextState.Error || Rejections > 0;

    /// <summary>Buffers the kernel's validation rejected (enforcement option 1).</summary>
    public int Rejections { get; private set; }

    /// <summary>The composer of its frames (null: it draws bands).</summary>
    public DesktopComposer? Composer => _composer;

    /// <summary>
    /// Makes this context's frames compose the desktop (the display owner as a compositor): maps each of
    /// <paramref name="sources"/> — shared with its process through the kernel's record — into its address space.
    /// </summary>
    /// <exception cref="AllocationNotSharedException">A source is not shared with the process.</exception>
    /// <exception cref="InvalidOperationException">The composed frame does not fit the room reserved at construction.</exception>
    public void Compose(DesktopComposer composer, IEnumerable<AllocationHandle> sources)
    {
        ArgumentNullException.ThrowIfNull(composer);
        ArgumentNullException.ThrowIfNull(sources);
        if (composer.MaxDwords > _composeDwords)
            throw new InvalidOperationException($"a composed frame needs {composer.MaxDwords} dwords; {_composeDwords} were reserved");
        foreach (var h in sources) _shared.TryAdd(h, _process.MapShared(h));
        _listed = new AllocationHandle[2 + _shared.Count];
        var mix = Spec.Submission.Packets;
        int work = mix.DrawRects + mix.Dispatch + mix.Fill + mix.Copy; // PacketMixEncoder's work packets
        _composedMix = mix with { DrawRects = 0 };
        _composedWorkCycles = work == 0 ? 0 : Spec.Submission.WorkCycles / (ulong)work * (ulong)(work - mix.DrawRects);
        _composer = composer;
    }

    /// <summary>Submissions queued and not yet retired or failed.</summary>
    public int Outstanding => _inFlight.Count;

    /// <summary>Device cycle of its last completion, or of its first submission after it had none outstanding.</summary>
    public ulong ProgressSince { get; private set; }

    /// <summary>Submissions that did not fit the context's ring (dropped).</summary>
    public int RingFull { get; private set; }

    /// <summary>True while n − 1 of its flips are queued: its next frame waits for one to be shown (§9.3).</summary>
    public bool WaitsForFlip => _context.FlipChain is { } chain && chain.QueuedFlips >= chain.BufferCount - 1;

    /// <summary>
    /// Writes the <paramref name="index"/>-th submission into a DMA buffer of the process and submits it with the
    /// process's allocations as its resource list. Returns its id, or 0 when nothing was queued.
    /// </summary>
    public long Submit(int index, MisbehaviourKind? misbehaviour, ulong cycle)
    {
        if (_inFlight.Count >= BufferSlots || _context.State == VaContextState.Error) return 0;
        if (_context.FlipChain is { } chain && chain.QueuedFlips >= chain.BufferCount - 1)
        {
            HeldByFlips++; // §9.3: the next frame waits for a queued flip to be shown (RunListScheduler.TrySubmit would refuse it)
            return 0;
        }
        var buffer = _buffers[(int)(_cursor % BufferSlots)];
        var dwords = buffer.Dwords;
        int slotIndex = (int)(_cursor % TimestampSlots);
        var slot = (ulong)slotIndex * 16;
        _machine.Device.Memory.GetSpan(_machine.VidMm.PhysicalAddressOf(_page.Handle, 128 + slot), 16).Clear();
        var w = new PacketWriter(dwords);
        w.Timestamp(_page.Va + 128 + slot);
        int n = w.Written;
        var costs = _machine.Device.Options;
        var surface = _surfaces[index % _surfaces.Length];
        var targets = surface.Va == _surfaces[0].Va ? _targets : _targets with { RenderTarget = SurfaceGeometry.For(surface.Bytes).At(surface.Va) };
        // The resource list names what the buffer touches (its render target, scratch and composed sources): VidMm
        // prefetches those; anything else it touches faults in (seed 001 §5.6).
        int listed = 0;
        if (surface.Managed) _listed[listed++] = surface.Handle;
        if (_scratch.Managed && _scratch.Handle != surface.Handle) _listed[listed++] = _scratch.Handle;
        var mix = Spec.Submission.Packets;
        ulong workCycles = Spec.Submission.WorkCycles;
        if (misbehaviour is null && mix.DrawRects > 0 && _composer is not null)
        {
            // The composed desktop replaces the mix's DRAW_RECTS (as on the kernel path).
            n += EncodeComposition(dwords[n..], surface, index, ref listed);
            (mix, workCycles) = (_composedMix!, _composedWorkCycles);
        }
        n += misbehaviour is { } m
            ? PacketMixEncoder.EncodeMisbehaviour(dwords[n..], m, targets)
            : PacketMixEncoder.Encode(dwords[n..], mix, workCycles, targets, (uint)index, (ulong)index + 1,
                costs.PacketCosts, costs.WorkCosts).Dwords;
        var tail = new PacketWriter(dwords[n..]);
        tail.Timestamp(_page.Va + 128 + slot + 8);
        n += tail.Written;
        // The submission is a kernel call (seed 001 §5.1 UMD → KMD → scheduler): it crosses the ring-0 gate (copied-in
        // arguments: context, buffer, length), which charges its modeled cost like a kernel-path submission's.
        Span<byte> args = stackalloc byte[12];
        BitConverter.TryWriteBytes(args, _context.Id);
        BitConverter.TryWriteBytes(args[4..], buffer.Handle.Index);
        BitConverter.TryWriteBytes(args[8..], n);
        using (_machine.Gate.Enter(_context.Process.Id, args)) { }
        VaTicket ticket;
        try
        {
            if (!_scheduler.TrySubmit(_context, buffer, n, _listed.AsSpan(0, listed), out ticket))
            {
                RingFull++;
                return 0;
            }
        }
        catch (LimitedBufferRejectedException e)
        {
            // Enforcement option 1 refuses a privileged packet before it runs: a fault of this application only.
            Rejections++;
            _observer.Faulted(Handle, cycle, $"rejected by the kernel: {e.Message}");
            return 0;
        }
        long id = ++_nextId;
        if (_inFlight.Count == 0) ProgressSince = cycle;
        _inFlight.Add((id, index, slotIndex, ticket));
        _cursor++;
        _observer.Submitted(Handle, cycle, (ulong)id, ring0: true);
        return id;
    }

    /// <inheritdoc />
    public SubmissionStatus StatusOf(long id)
    {
        if (id <= 0 || id > _nextId) return SubmissionStatus.Unknown;
        if (_done.TryGetValue(id, out var s)) return s;
        foreach (var f in _inFlight)
            if (f.Id == id) return Status(f.Ticket) ?? SubmissionStatus.Pending;
        return SubmissionStatus.Completed;
    }

    // The composer's plan as packets of this process: the back buffer and every source named by its VA here (sources
    // mapped by Compose), each source listed once. Returns the dwords written.
    private int EncodeComposition(Span<uint> dwords, GpuAllocation target, int frame, ref int listed)
    {
        var g = SurfaceGeometry.For(target.Bytes);
        var targetSurface = g.At(target.Va);
        var w = new PacketWriter(dwords);
        foreach (ref readonly var d in _composer!.Plan(g, frame))
        {
            Surface source = default;
            if (!d.Source.IsNull)
            {
                if (!_shared.TryGetValue(d.Source, out var mapped)) continue; // never shared with this process: no window content
                source = d.SourceSurface with { Va = mapped.Va + d.SourceSurface.Va };
                if (mapped.Managed && Array.IndexOf(_listed, mapped.Handle, 0, listed) < 0) _listed[listed++] = mapped.Handle;
            }
            var rects = _composer.Primitives(d);
            var span = w.GetSpan(DrawRectsPacket.SizeInDwords(rects.Length));
            w.Advance(DrawRectsPacket.Encode(span, targetSurface, source, rects));
        }
        return w.Written;
    }

    private static SubmissionStatus? Status(VaTicket ticket)
    {
        if (ticket.HasFailed) return SubmissionStatus.FailedFault;
        if (ticket.IsComplete) return SubmissionStatus.Completed;
        return null;
    }

    /// <summary>Observes starts, completions, failures and page faults (exact device cycles from the TIMESTAMP slots).</summary>
    public void Poll(ulong cycle)
    {
        var memory = _machine.Device.Memory;
        for (; _faultsSeen < _context.PageFaults; _faultsSeen++) _observer.PageFaulted(Handle, cycle);
        long paged = _context.BytesPaged;
        if (paged > _bytesPagedSeen)
        {
            // VidMm's context ran the paging on this engine; its COPYs at the device's cost (an estimate of when).
            long bytes = paged - _bytesPagedSeen;
            _bytesPagedSeen = paged;
            ulong cycles = (ulong)bytes / (ulong)Math.Max(1, _machine.Device.Options.PacketCosts.CopyBytesPerCycle);
            _observer.Paged(Handle, Spec.Engine, cycle, cycles, bytes, evict: false);
        }
        while (_inFlight.Count > 0)
        {
            var (id, index, slotIndex, ticket) = _inFlight[0];
            var slot = _machine.VidMm.PhysicalAddressOf(_page.Handle, 128 + (ulong)slotIndex * 16);
            ulong started = memory.Read64(slot);
            if (!_headStarted && started != 0)
            {
                _observer.Started(Handle, started);
                _headStarted = true;
            }
            var status = Status(ticket);
            if (status is null) break;
            if (status == SubmissionStatus.Completed)
            {
                ulong ended = memory.Read64(slot.Add(8));
                if (!_headStarted) _observer.Started(Handle, started != 0 ? started : cycle);
                _observer.Completed(Handle, ended != 0 ? ended : cycle);
                Completed++;
                _lastCompletedIndex = index;
            }
            else if (_done.Count == 0 || !_done.ContainsValue(SubmissionStatus.FailedFault))
                _observer.Faulted(Handle, cycle, _context.ErrorReason ?? "context stopped", _context.ErrorAddress, discardPending: true);
            _done[id] = status.Value;
            _inFlight.RemoveAt(0);
            _headStarted = false;
            ProgressSince = Math.Max(ProgressSince, cycle);
        }
    }
}
