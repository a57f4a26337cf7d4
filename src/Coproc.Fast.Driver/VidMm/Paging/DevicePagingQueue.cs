using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Sync;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidMm.Paging;

/// <summary>
/// The device paging queue (seed 004): VidMm's asynchronous services — make resident (paging content back in from the
/// backing store), evict, reserve GPU VA, map and unmap GPU VA — run as paging buffers on the queue's own kernel
/// context on the copy engine, in the kernel view. Each operation returns a <b>unique, increasing paging fence
/// value</b> signalled when it completes, or <b>0</b> when it was done immediately. The paging fence is an ordinary
/// <see cref="MonitoredFence"/> written by privileged FENCE packets with interrupt: wait on the CPU with
/// <see cref="Fence"/>, or on the GPU with WAIT_FENCE at the VA <see cref="MapPagingFence"/> returns.
/// Not thread-safe (the kernel lock serialises callers, as for the rest of VidMm).
/// </summary>
// Design: operations change VidMm's bookkeeping at once (a later call sees the new state) while the device sees the
// change only when its paging buffer runs: copies, then UPDATE_PAGE_TABLE + TLB_FLUSH, then the fence. Maps/unmaps
// mark their PTEs with software bits meanwhile (native-layout §15.3) so conflicting requests are refused or ordered
// behind. PagingRingWriter puts the buffers on the ring: INDIRECTs to a fixed PagingBufferArena, a buffer larger than
// the arena in pieces, what does not fit yet in a backlog of driver memory.
// Invariant (no lost operation): every refusal happens before the bookkeeping changes — back-pressure is checked first
// (ring room, backlog below one arena), and PagingQueueFullException then means nothing changed — and once the residency
// manager (or the address space) has recorded an operation, its paging buffer is built at once into driver memory (so
// the memory it vacates is tagged with its own fence value, ResidencyManager.InTransit.cs) and handed to the writer,
// which never refuses: it reaches the ring in order, behind every operation recorded before it.
// Invariant (progress, PagingRingWriter): every recorded operation reaches the ring once the device has passed the
// buffers written before it; it never needs memory that only its own execution frees — nothing after construction is
// allocated from VidMm, so the memory an eviction vacates (held in transit until its last fence) is never waited for.
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "The device paging queue of seed 004, not a collection; a public name used by callers and the docs.")]
public sealed class DevicePagingQueue
{
    /// <summary>Context id of the paging context (in its save area and ring descriptor).</summary>
    public const uint ContextId = 0xFFFF_FF00;

    private readonly ResidencyManager? _rm;      // VidMm's residency manager: the services below that plan need it
    private readonly IResidencyManager _residency; // builds the paging buffers of recorded operations
    private readonly VideoMemoryManager _vidmm;
    private readonly IPagingContextScheduler _scheduler;
    private readonly PagingRingWriter _writer;
    private readonly List<PagingOperation> _ops = new(16);
    private readonly PteWriteList _ptes = new();
    private readonly AllocationHandle _fencePage;
    private uint[] _scratch = new uint[1024];
    private ulong _nextFence = 1;

    /// <summary>
    /// Creates the queue: a pinned fence page (value 0), the kernel context (save area + ring in local memory, kernel
    /// view address space) and a buffer arena of <paramref name="arenaBytes"/> — the only VidMm memory the queue ever
    /// takes. <paramref name="scheduler"/> defaults to <see cref="IdleEngineContextSwitch"/> on the copy engine.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="arenaBytes"/> is less than 4 KiB.</exception>
    public DevicePagingQueue(ResidencyManager residency, IPagingContextScheduler? scheduler = null, uint ringBytes = 64 << 10,
        ulong arenaBytes = 256 << 10)
        : this((residency ?? throw new ArgumentNullException(nameof(residency))).VideoMemory, residency,
            scheduler ?? new IdleEngineContextSwitch(residency.VideoMemory.Bus), ringBytes, arenaBytes, inSystemMemory: false)
    {
    }

    /// <summary>
    /// The machine's queue (Machine.cs): <paramref name="residency"/> may be any residency manager — the basic model's
    /// preparation worker records its moves itself and hands them to <see cref="SubmitRecorded"/>; the services that
    /// plan (<see cref="MakeResident(ReadOnlySpan{ResourceReference}, int)"/>, <see cref="Evict"/>) need VidMm's
    /// <see cref="ResidencyManager"/>. <paramref name="inSystemMemory"/>: fence page, ring and arena in system memory
    /// (only the context's control page is local), so the queue takes almost none of the memory paging manages.
    /// </summary>
    internal DevicePagingQueue(VideoMemoryManager vidmm, IResidencyManager residency, IPagingContextScheduler scheduler,
        uint ringBytes, ulong arenaBytes, bool inSystemMemory)
    {
        var placement = inSystemMemory ? PlacementHint.SystemOnly : PlacementHint.LocalOnly;
        ArgumentOutOfRangeException.ThrowIfLessThan(arenaBytes, PagingBufferArena.MinimumBytes);
        _vidmm = vidmm;
        _residency = residency;
        _rm = residency as ResidencyManager;
        _scheduler = scheduler;
        _fencePage = _vidmm.Allocate(VideoMemoryManager.PageSize, VideoMemoryManager.PageSize, placement, AllocationFlags.Contiguous);
        var fenceAt = _vidmm.PhysicalAddressOf(_fencePage, 0);
        _vidmm.Memory.GetSpan(fenceAt, (int)VideoMemoryManager.PageSize).Clear();
        Fence = new MonitoredFence(_vidmm.Memory, fenceAt);
        // The fence as a WAIT_FENCE in a kernel-view DMA buffer reads it (VidSch's chunks wait on it).
        FenceKernelAddress = residency.PatchAddress(_fencePage, 0);
        Context = new KernelContext(_vidmm, residency.KernelView, ContextId, ringBytes, placement);
        var arena = new PagingBufferArena(_vidmm, arenaBytes, residency, inSystemMemory ? PlacementHint.SystemOnly : PlacementHint.PreferLocal);
        _writer = new PagingRingWriter(Context, arena, _scheduler, fenceAt, Fence.IsSignaled);
    }

    /// <summary>The paging fence's address in the residency manager's kernel view (what a kernel DMA buffer's
    /// WAIT_FENCE names).</summary>
    internal ulong FenceKernelAddress { get; }

    // The services that plan moves themselves: VidMm's residency manager only.
    private ResidencyManager Rm => _rm ?? throw new InvalidOperationException("this paging queue's residency manager is not VidMm's ResidencyManager: only recorded operations can be submitted");

    /// <summary>The device paging fence (the <c>GetDevicePagingFenceObject</c> of seed 004).</summary>
    public MonitoredFence Fence { get; }

    /// <summary>The queue's kernel context (on the engine its <see cref="IPagingContextScheduler"/> runs it on).</summary>
    public KernelContext Context { get; }

    /// <summary>The last fence value handed out (0 before the first asynchronous operation).</summary>
    public ulong LastSubmitted => _nextFence - 1;

    /// <summary>The last fence value the device wrote (read from memory).</summary>
    public ulong Completed => Fence.CurrentValue;

    /// <summary>True while paging work is recorded and not finished: a fence value not reached, packets in the ring, or
    /// a buffer waiting in <see cref="Backlog"/>.</summary>
    public bool HasWork => Completed < LastSubmitted || !Context.IsDrained || Backlog > 0;

    /// <summary>Paging buffers built (one per operation that needed the device).</summary>
    public long BuffersSubmitted { get; private set; }

    /// <summary>Operations whose fence value has not been seen reached yet (including those still waiting in
    /// <see cref="Backlog"/>).</summary>
    public int InFlight => _writer.InFlight;

    /// <summary>Recorded operations whose paging buffer is not completely in the ring yet: waiting for ring room or for
    /// arena room that earlier buffers hold (written there, in order, as the device catches up:
    /// <see cref="NotifyFenceInterrupt"/>, <see cref="Kick"/>, the next operation).</summary>
    public int Backlog => _writer.Backlog;

    /// <summary>
    /// Makes the resource set resident for <paramref name="contextId"/> (evicting others as
    /// <see cref="ResidencyManager.MakeResident"/> decides). Returns the fence value, or 0 when all was resident.
    /// </summary>
    /// <exception cref="VidMmException"><see cref="VidMmError.OutOfLocalMemory"/> when the set cannot fit (nothing changed).</exception>
    /// <exception cref="PagingQueueFullException">The ring is full, or one arena's worth of earlier packets still waits in <see cref="Backlog"/> (nothing changed).</exception>
    public ulong MakeResident(ReadOnlySpan<ResourceReference> resources, int contextId)
    {
        EnsureRingRoom();
        _ops.Clear();
        if (Rm.MakeResident(resources, contextId, _ops) == ResidencyOutcome.DoesNotFit)
            throw new VidMmException(VidMmError.OutOfLocalMemory, $"the resource set ({Rm.FootprintOf(resources)} bytes) cannot be resident at once");
        // Resident, but still being paged by another channel: a buffer of waits gives the caller a fence that says it ran.
        return _ops.Count == 0 && !Rm.HasForeignPagingWaits(Fence.Address) ? 0 : SubmitPaging();
    }

    /// <summary>Makes one allocation resident for <paramref name="contextId"/>; see <see cref="MakeResident(ReadOnlySpan{ResourceReference}, int)"/>.</summary>
    public ulong MakeResident(AllocationHandle allocation, int contextId)
    {
        ReadOnlySpan<ResourceReference> one = [new ResourceReference(allocation, 0, 0, false)];
        return MakeResident(one, contextId);
    }

    /// <summary>Evicts a managed allocation to its backing store. Returns the fence value, or 0 when it was not resident.</summary>
    public ulong Evict(AllocationHandle handle)
    {
        EnsureRingRoom();
        _ops.Clear();
        return Rm.Evict(handle, _ops) ? SubmitPaging() : 0;
    }

    /// <summary>Reserves GPU VA in <paramref name="space"/>: pure bookkeeping, done at once (returns fence value 0).</summary>
    [SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "Public instance API: one of the paging queue's operations, which all return a paging fence value; static would break callers.")]
    public ulong ReserveGpuVa(GpuAddressSpace space, ulong bytes, ulong alignment, out ulong va)
    {
        ArgumentNullException.ThrowIfNull(space);
        va = space.Reserve(bytes, alignment);
        return 0;
    }

    /// <summary>
    /// Reserves a tiled-resource range of <paramref name="bytes"/> in <paramref name="space"/> (seed 004): the VA at once,
    /// and every page set to the dummy page (reads zero, writes discarded; native-layout.md §4.3) by UPDATE_PAGE_TABLE
    /// packets on the paging context — so the range is usable by the GPU only from the returned fence value on (before
    /// it, an access is an invalid VA: a fault in a fault-on-invalid space). A context queues WAIT_FENCE on that value
    /// (<see cref="MapPagingFence"/>) before touching the range. <see cref="MapGpuVa"/> may map tiles into the range at
    /// once (queued behind the reserve); unmapping a tile restores the dummy page. Release the range with
    /// <see cref="GpuAddressSpace.Release"/> once the fence passed and no tile is mapped.
    /// </summary>
    /// <exception cref="PagingQueueFullException">The ring has no room; nothing changed.</exception>
    /// <exception cref="VidMmException">No VA or page-table room; nothing changed.</exception>
    public ulong ReserveTiledGpuVa(GpuAddressSpace space, ulong bytes, ulong alignment, out ulong va)
    {
        ArgumentNullException.ThrowIfNull(space);
        EnsureRingRoom();
        _ptes.Clear();
        va = space.ReserveTiledDeferred(bytes, alignment, _ptes);
        return SubmitPteEdits();
    }

    /// <summary>
    /// Maps [offset, +bytes) of an allocation at <paramref name="va"/> (inside a reservation): the PTEs are written by
    /// UPDATE_PAGE_TABLE packets on the paging context, so the device sees the mapping only once the returned fence
    /// value is reached. A context that must not touch the range earlier waits for it with WAIT_FENCE.
    /// </summary>
    public ulong MapGpuVa(GpuAddressSpace space, ulong va, AllocationHandle allocation, ulong offset, ulong bytes,
        GpuMappingFlags flags = GpuMappingFlags.Writable)
    {
        ArgumentNullException.ThrowIfNull(space);
        EnsureRingRoom();
        _ptes.Clear();
        space.MapDeferred(va, allocation, offset, bytes, flags, _ptes);
        return SubmitPteEdits();
    }

    /// <summary>Unmaps the mapping starting at <paramref name="va"/>; the device keeps translating it until the returned fence value.</summary>
    public ulong UnmapGpuVa(GpuAddressSpace space, ulong va)
    {
        ArgumentNullException.ThrowIfNull(space);
        EnsureRingRoom();
        _ptes.Clear();
        space.UnmapDeferred(va, _ptes);
        return SubmitPteEdits();
    }

    /// <summary>
    /// Maps the paging fence read-only into <paramref name="space"/> (a CPU-side map of fresh PTEs, which needs no TLB
    /// invalidation) and returns the fence's VA there, for WAIT_FENCE. Unmap it with <see cref="GpuAddressSpace.Unmap"/>.
    /// </summary>
    public ulong MapPagingFence(GpuAddressSpace space)
    {
        ArgumentNullException.ThrowIfNull(space);
        return space.MapAllocation(_fencePage, GpuMappingFlags.ReadOnly) + (Fence.Address.Offset & (VideoMemoryManager.PageSize - 1));
    }

    /// <summary>
    /// Call from the Fence interrupt handler (data1 = <see cref="MonitoredFence.Address"/>): wakes CPU waiters, frees
    /// the paging buffers the device has retired and writes what waits in <see cref="Backlog"/>.
    /// </summary>
    public void NotifyFenceInterrupt()
    {
        Fence.NotifySignaled();
        _writer.Retire();
        _rm?.RetireInTransit(); // memory the executed paging vacated (ResidencyManager.InTransit.cs)
        _writer.Flush();
    }

    /// <summary>Writes waiting paging buffers to the ring (<see cref="Backlog"/>) and asks the scheduler hook again to run
    /// the paging context (after it reported the engine busy).</summary>
    public bool Kick()
    {
        _writer.Flush();
        return _scheduler.RequestRun(Context.SaveArea);
    }

    // Before any bookkeeping changes: the refusal that changes nothing.
    private void EnsureRingRoom()
    {
        _writer.Flush();
        if (!_writer.CanAccept) throw new PagingQueueFullException(LastSubmitted, Fence.CurrentValue);
    }

    /// <summary>
    /// Queues the paging buffer of operations the residency manager has already recorded (a caller that plans itself,
    /// e.g. the run-list back end's fault service with its own eviction constraints): never refused — the buffer reaches
    /// the ring in order behind everything recorded before it. Returns its fence value.
    /// </summary>
    internal ulong SubmitRecorded(ReadOnlySpan<PagingOperation> ops) => SubmitPaging(ops);

    private ulong SubmitPaging() => SubmitPaging(CollectionsMarshal.AsSpan(_ops));

    // After the residency manager recorded the operations: nothing here may lose them (the invariant above).
    private ulong SubmitPaging(ReadOnlySpan<PagingOperation> ops)
    {
        BuffersSubmitted++;
        int capacity = _residency.MeasurePagingBuffer(ops) + PacketFormat.FenceDwords;
        if (_scratch.Length < capacity) _scratch = new uint[Math.Max(capacity, _scratch.Length * 2)];
        // Built at once, in kernel memory the driver owns: the packets name only the kernel view's VAs and the fence,
        // never their own place, so they run the same from wherever the arena puts them. The buffer is its own
        // non-interruptible region (DISABLE_CONTEXT_SWITCH … ENABLE, IResidencyManager.BuildPagingBuffer).
        int written = _residency.BuildPagingBuffer(ops, _scratch, Fence.Address, _nextFence, out int fences);
        if (fences == 0)
        {
            // No operation asked for CPU post-processing: still signal completion (seed 004: every operation gets a value).
            var w = new PacketWriter(_scratch.AsSpan(written));
            w.PrivilegedFence(Fence.Address.Encoded, _nextFence, interrupt: true);
            written += w.Written;
            fences = 1;
        }
        ulong value = _nextFence + (ulong)fences - 1;
        return Submit(_scratch.AsSpan(0, written), value);
    }

    private ulong SubmitPteEdits()
    {
        int capacity = 0;
        for (int i = 0; i < _ptes.RunCount; i++) capacity += PacketFormat.UpdatePageTableFixedDwords + 2 * _ptes.Run(i).Count;
        capacity += _ptes.FlushCount * PacketFormat.TlbFlushDwords + PacketFormat.FenceDwords;
        if (_scratch.Length < capacity) _scratch = new uint[Math.Max(capacity, _scratch.Length * 2)];
        var w = new PacketWriter(_scratch);
        ResidencyManager.WritePteEdits(ref w, _ptes);
        w.PrivilegedFence(Fence.Address.Encoded, _nextFence, interrupt: true);
        return Submit(_scratch.AsSpan(0, w.Written), _nextFence);
    }

    // The fence value is handed out whatever happens next: the writer takes the buffer and never refuses.
    private ulong Submit(Span<uint> packets, ulong lastFence)
    {
        _nextFence = lastFence + 1;
        _writer.Submit(packets, lastFence);
        return lastFence;
    }
}
