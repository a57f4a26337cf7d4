using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch;

public sealed partial class VidSchScheduler
{
    private DmaBuffer? _preparing;          // stage 2: selected, owned by the worker (§3.3: never displaced)
    private InFlightChunk? _chunkInPreparation; // the chunk Prepare is building (FailPreparation's cleanup)
    private PreparedChunk? _prepared;       // prepared, waiting for the hardware
    private bool _preparationRequested;
    private bool _preparationDeferred;      // did not fit beside the pinned chunks: retry after a retire
    private bool _waitingForMemory;         // deferred because its own chunk cannot be resident beside the pinned ones
    private bool _memoryWaitByPolicy;       // ... and only higher priorities or equals within their turn keep it out
    private bool _retryDeferred;
    private readonly List<PagingOperation> _pagingOps = new();
    private ResourceReference[] _request = new ResourceReference[256];
    private readonly uint[] _splits;
    private readonly AllocationHandle[] _slotHandles;
    private readonly uint[] _slotOffsets;

    private sealed class PreparedChunk
    {
        public VidSchContext Context = null!;
        public InFlightChunk Chunk = null!;
    }

    // Pools: a chunk record per launch, one prepared slot — no allocation per buffer in steady state.
    private readonly Stack<InFlightChunk> _chunkPool = new();
    private readonly PreparedChunk _preparedSlot = new();
    private readonly List<int> _ends = new();

    /// <summary>
    /// Puts <paramref name="c"/>'s parked buffers back into the ready queue (same keys: same places) once its ring has
    /// room — and, for a buffer parked for its own pinned memory, once one of its chunks retired or it was reset.
    /// </summary>
    private void UnparkIfRoom(VidSchContext c)
    {
        // A context lending its memory prepares nothing new until it is back (VidSchScheduler.Lending.cs).
        if (c.Parked.Count == 0 || c.InFlight.Count >= _o.MaxInFlight || c.ParkedForOwnRetirement || IsLending(c)) return;
        while (c.Parked.TryDequeue(out var b))
        {
            _parkedCount--;
            _ready.Insert(b);
        }
    }

    /// <summary>
    /// Sets <paramref name="b"/>, being prepared, aside on <paramref name="ctx"/> until one of ctx's chunks retires or
    /// ctx is reset (head-of-line invariant, see Prepare), and frees the preparation slot. It goes first: the context's
    /// other buffers are still in the ready queue (StartPreparation parks them behind it in their order).
    /// </summary>
    private void ParkForOwnRetirement(DmaBuffer b, VidSchContext ctx)
    {
        ParkFirst(b, ctx);
        ctx.ParkedForOwnRetirement = true;
        _preparing = null;
        _preparationDeferred = false;
        _waitingForMemory = false;
    }

    // Puts b at the head of ctx's parked buffers (it comes before every buffer parked behind it).
    private void ParkFirst(DmaBuffer b, VidSchContext ctx)
    {
        var behind = ctx.Parked.ToArray();
        ctx.Parked.Clear();
        ctx.Parked.Enqueue(b);
        foreach (var x in behind) ctx.Parked.Enqueue(x);
        _parkedCount++;
        b.Status = DmaBufferStatus.Ready;
    }

    /// <summary>
    /// Un-prepares <paramref name="ctx"/>'s chunks that are prepared but not in a ring — in this engine's prepared slot,
    /// or parked beside it — so they pin nothing (invariant U, VidSchScheduler.Lending.cs). True when there was one.
    /// </summary>
    private bool Unprepare(VidSchContext ctx)
    {
        bool any = UnprepareSlotOf(ctx);
        if (ctx.ParkedChunk is not { Buffer: not null } chunk) return any;
        ctx.ParkedChunk = null;
        _parkedChunkCount--;
        // Its paging buffer went to the paging queue when it was prepared: nothing of it is left to run.
        Requeue(chunk, ctx);
        ReturnChunk(chunk);
        return true;
    }

    /// <summary>Un-prepares this engine's prepared-slot chunk when it is <paramref name="ctx"/>'s (invariant U); true when it was.</summary>
    private bool UnprepareSlotOf(VidSchContext ctx)
    {
        if (_prepared is not { Chunk: { Buffer: not null } chunk } p || !ReferenceEquals(p.Context, ctx)) return false;
        Requeue(chunk, ctx);
        // Its paging buffer, if any, is in the paging queue already (recorded moves still run, in order: SchedulerGroup (2)).
        _prepared = null;
        ReturnChunk(chunk);
        StartPreparation(); // the slot serves the next buffer (a lower one defers while the higher waits: Prepare)
        return true;
    }

    // The buffer of un-prepared `chunk` goes back to where it was before that chunk was prepared: its next chunk starts
    // at the chunk's start again, and it waits in its context's order — in the ready queue at its own place (same
    // priority, round and sequence), or first among its context's parked buffers. It is prepared again later, patched
    // with its resources' addresses then.
    private void Requeue(InFlightChunk chunk, VidSchContext ctx)
    {
        var b = chunk.Buffer!;
        Unprepared++;
        b.NextChunkStart = chunk.Start;
        if (!chunk.Last)
        {
            // Finish put the rest back in the ready queue (or the context's parked buffers) already: it restarts here.
            b.ChunkIndex--;
            if (chunk.Start == 0) Splits--; // counted again when it is split again
            return;
        }
        b.Status = DmaBufferStatus.Ready;
        if (ctx.Parked.Count > 0) ParkFirst(b, ctx);
        else _ready.Insert(b);
    }

    private static readonly Func<DmaBuffer, bool> s_noParkedChunk = static b => ((VidSchContext)b.Owner!).ParkedChunk is null;

    private InFlightChunk RentChunk() => _chunkPool.TryPop(out var c) ? c : new InFlightChunk();

    private void ReturnChunk(InFlightChunk c)
    {
        c.Reset();
        _chunkPool.Push(c);
    }

    /// <summary>
    /// The preparation worker's job (seed 001 §3.1 steps 11–16, Fig. 4B, Fig. 6): for the buffer being prepared,
    /// choose the next chunk (split at resource-list offsets when its footprint passes the threshold or does not fit
    /// even after eviction, §3.4), make its resources resident beside the pinned ones (VidMm evicts, current context
    /// first), build the paging buffer from VidMm's command list, patch the chunk's operands with the resources'
    /// kernel-view addresses, and hand it on as prepared.
    /// </summary>
    public void RunPreparation()
    {
        lock (KernelLock)
        {
            _preparationRequested = false;
            // A buffer of a context being reset is not prepared: FinishResets fails it and frees the slot. Preparing it
            // would put the rest of a split buffer back into the ready queue after BeginReset removed it, and
            // FinishResets would then return that buffer to its pool while the queue still held it — a pooled buffer
            // later taken for preparation again (ownerless: a NullReferenceException in Prepare) or handed to two
            // submissions at once (Recovery invariant R3).
            if (_preparing is { } b && _prepared is null && !((VidSchContext)b.Owner!).Resetting)
            {
                // Invariant: preparing one buffer can fail only that buffer. Whatever it throws, the buffer fails with
                // a typed status, the slot is freed and the engine goes on serving every process.
                try { Prepare(b); }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    FailPreparation(b, e);
                }
            }
            Pump();
        }
    }

    // The priority of the ready buffer StartPreparation would take next (int.MinValue: none).
    private int FirstTakeablePriority()
    {
        for (int i = 0; i < _ready.Count; i++)
        {
            var b = _ready[i];
            if (_parkedChunkCount == 0 || s_noParkedChunk(b)) return b.Priority;
        }
        return int.MinValue;
    }

    private void StartPreparation()
    {
        if (_preparationRequested || _prepared is not null) return;
        if (_preparing is { } deferred && _preparationDeferred && !((VidSchContext)deferred.Owner!).Resetting
            && FirstTakeablePriority() > deferred.Priority)
        {
            // Slot invariant (seed 001 §5.5 strict priority; docs/scheduling-policy.md rule 4): a buffer deferred for
            // memory — other engines' chunks pin it, or a higher priority elsewhere waits for it — never keeps a
            // higher-priority buffer of this engine out of preparation. It goes back to the ready queue at its own
            // place (same priority, round and sequence) and is prepared again, from its next chunk, when its turn
            // comes; the engine meanwhile runs the higher buffer, which may fit where the deferred one did not.
            // Not for a context being reset: its buffer in the slot is FinishResets' to fail (Recovery invariant R3;
            // back in the ready queue it would survive the reset, or be pooled while still queued). And only for a
            // buffer the slot can take now (a context with a parked chunk waits its turn), or the deferred one would be
            // taken straight back and prepared again in a loop.
            deferred.Status = DmaBufferStatus.Ready;
            _ready.Insert(deferred);
            _preparing = null;
            _preparationDeferred = false;
            _retryDeferred = false;
            _waitingForMemory = false;
        }
        if (_preparing is null)
        {
            DmaBuffer b;
            while (true)
            {
                // Head-of-line invariant (VidSchScheduler.Hardware.cs TryLaunch): a context with a parked chunk waits its turn.
                if (_parkedChunkCount == 0 ? !_ready.TryTake(out b) : !_ready.TryTakeFirst(s_noParkedChunk, out b)) return;
                var owner = (VidSchContext)b.Owner!;
                // A context whose ring already holds MaxInFlight chunks could not launch this one: park it so it does
                // not block the prepared stage for every other context (it returns on the next retire, in order).
                // Parked buffers keep their order: while any is parked, the context's later ones park behind it.
                // A context lending its memory to higher-priority work prepares nothing new until it is back.
                if (owner.InFlight.Count < _o.MaxInFlight && owner.Parked.Count == 0 && !IsLending(owner)) break;
                owner.Parked.Enqueue(b);
                _parkedCount++;
            }
            _preparing = b;
            _waitingForMemory = false;
            b.Status = DmaBufferStatus.Preparing;
            _currentRound = b.Round;
        }
        else if (!(_preparationDeferred && _retryDeferred)) return;
        _preparationDeferred = false;
        _retryDeferred = false;
        _preparationRequested = true;
        var p = _preparing;
        // Both costs are at most MachineOptions.MaxCycleSpan (Validate); the total is capped there too, whatever the count.
        var cost = (UInt128)_o.PreparePerItemCycles * (ulong)p.ReferenceCount + _o.PrepareBaseCycles;
        Host?.RequestPreparation((ulong)UInt128.Min(cost, MachineOptions.MaxCycleSpan));
    }

    private void Prepare(DmaBuffer b)
    {
        var ctx = (VidSchContext)b.Owner!;
        var refs = new ReadOnlySpan<ResourceReference>(b.References, 0, b.ReferenceCount);
        if (IsLending(ctx))
        {
            // Asked to lend its memory while this buffer waited for the slot (invariant L): it prepares nothing new until
            // its memory is back. The buffer goes first among its parked ones; UnparkIfRoom puts it back then.
            ParkFirst(b, ctx);
            _preparing = null;
            _preparationDeferred = false;
            _waitingForMemory = false;
            return;
        }
        // Memory admission by priority (seed 001 §5.5, docs/memory.md "Eviction order"): while a higher-priority buffer
        // on another engine waits for pinned chunks to retire, a lower-priority context pins no new managed memory —
        // otherwise a back-to-back low-priority job keeps its working set pinned for ever and the higher-priority work
        // never becomes resident (the engine idles with work queued). This buffer retries after the next retirement.
        // A buffer that uses no managed memory pins nothing and goes on (it may be the signal an in-flight chunk waits for).
        if (HigherPriorityWaitsForMemory(ctx.Priority) && _rm.FootprintOf(refs) > 0)
        {
            _preparationDeferred = true;
            _memoryWaitByPolicy = true; // kept for a higher priority: by policy (MemoryBlockedByHigher)
            return;
        }
        int start = b.NextChunkStart;
        int firstRef = RefIndexAt(refs, start);

        // An allocation freed after submission (the KMD refuses stale handles at Submit) cannot be made resident or
        // patched: fail the buffer before anything is recorded for it.
        for (int i = firstRef; i < refs.Length; i++)
        {
            if (i > firstRef && refs[i].Handle == refs[i - 1].Handle) continue;
            if (!_vidmm.IsLive(refs[i].Handle) || b.Sites[i].AllocationOffset >= _vidmm.SizeOf(refs[i].Handle))
            {
                FailPreparation(b, null);
                return;
            }
        }

        // §3.2/§3.4: a chunk after the first re-establishes the resources bound at its start (last handle per slot).
        // Invariant: the setup is state (binding-table writes at launch), never an operand: no packet of the chunk
        // dereferences it, so it is not part of the chunk's residency request (BuildRequest) and a later chunk keeps
        // resident only the allocations its own packets use (docs/memory.md "Split chunks").
        var chunk = RentChunk();
        _chunkInPreparation = chunk;
        var setup = chunk.Setup;
        if (start > 0)
        {
            var seen = _slotOffsets.AsSpan();
            seen.Fill(uint.MaxValue);
            for (int i = firstRef - 1; i >= 0; i--)
            {
                var r = refs[i];
                if (seen[r.ResourceId] != uint.MaxValue) continue;
                seen[r.ResourceId] = 0;
                setup.Add(r with { BufferOffset = (uint)start * 4, Write = true });
            }
            setup.Sort(static (x, y) => x.ResourceId.CompareTo(y.ResourceId));
        }

        // Candidate chunk ends: permitted split points after the start, then the buffer's end.
        int nSplits = SplitPlanner.FindSplitPoints(refs, _splits, _slotHandles, _slotOffsets);
        var ends = _ends;
        ends.Clear();
        for (int i = 0; i < nSplits; i++)
            if (_splits[i] / 4 > start) ends.Add((int)(_splits[i] / 4));
        ends.Add(b.DwordCount);

        // Threshold split (seed 000): the largest chunk whose footprint stays under the threshold.
        int choice = ends.Count - 1;
        if (_o.SplitThresholdBytes != ulong.MaxValue)
        {
            while (choice > 0 && Footprint(refs, firstRef, RefIndexAt(refs, ends[choice])) > _o.SplitThresholdBytes) choice--;
        }

        // seed 001 §5.5 eviction policy: first evict only from this context's own working set, splitting its buffer
        // down to the smallest permitted chunk; only when even that does not fit take memory from other contexts
        // (lower priorities first, ResidencyManager.Lru.cs), from the largest chunk down again.
        bool withinWorkingSet = true;
        int largest = choice;
        while (true)
        {
            int end = ends[choice];
            int endRef = RefIndexAt(refs, end);
            int n = BuildRequest(refs, firstRef, endRef);
            _pagingOps.Clear();
            var outcome = withinWorkingSet
                ? _rm.MakeResidentWithinWorkingSet(_request.AsSpan(0, n), ctx.Id, _pagingOps)
                : _rm.MakeResident(_request.AsSpan(0, n), ctx.Id, _pagingOps);
            if (outcome == ResidencyOutcome.DoesNotFit)
            {
                // §3.5: evicting did not make room — split smaller at the next permitted offset.
                if (choice > 0) { choice--; continue; }
                if (withinWorkingSet)
                {
                    // Its own earlier chunks still pin part of its working set: wait for them to retire rather than
                    // take another context's memory (§5.5: the current context first). This is not a wait for other
                    // contexts' memory, so it does not hold back lower priorities on other engines
                    // (HigherPriorityWaitsForMemory): their chunks pin nothing this buffer is waiting for.
                    //
                    // Head-of-line invariant (VidSchScheduler.Hardware.cs TryLaunch): the single preparation slot is
                    // never held by a buffer whose own context keeps it out. Only this context's retirement (or its
                    // reset) can make room here, and its pinned chunk may be hung until the timeout: the buffer is
                    // parked on its context, first in its Parked queue (StartPreparation parks its later buffers
                    // behind it), and the slot serves the other contexts meanwhile. Retire and FinishResets put it back.
                    if (ctx.InFlight.Count > 0)
                    {
                        ReturnChunk(chunk);
                        _chunkInPreparation = null;
                        ParkForOwnRetirement(b, ctx);
                        return;
                    }
                    withinWorkingSet = false;
                    choice = largest;
                    continue;
                }
                ReturnChunk(chunk);
                _chunkInPreparation = null;
                if (HasPinned())
                {
                    _preparationDeferred = true; // the pinned chunks must retire first — or be lent (invariant L)
                    _waitingForMemory = true;
                    // seed 001 §5.5 strict priority: lower-priority contexts whose pinned chunks keep this one out are
                    // switched off their engines and lend their memory (VidSchScheduler.Lending.cs); the preparation
                    // retries once they are off. Memory pinned by higher priorities, or by equals of other engines within
                    // their turn (invariant E), is waited for: by policy — said to the auditor (HasRunnableWork) when
                    // nothing below or beside it that could give memory up would make the chunk fit.
                    int own = BuildRequest(refs, firstRef, endRef, includePinned: false);
                    _memoryWaitByPolicy = !RequestLending(ctx, own) && !FitsWithoutLowerOrSpentEquals(ctx, own);
                    return;
                }
                FailDoesNotFit(b, ctx);
                return;
            }
            CheckPinnedNotMoved();
            Finish(b, ctx, chunk, start, end, firstRef, endRef);
            return;
        }
    }

    private void Finish(DmaBuffer b, VidSchContext ctx, InFlightChunk chunk, int start, int end, int firstRef, int endRef)
    {
        var setup = chunk.Setup;
        chunk.Buffer = b;
        chunk.Start = start;
        chunk.End = end;
        chunk.FirstRef = firstRef;
        chunk.EndRef = endRef;
        chunk.Last = end >= b.DwordCount;
        if (_pagingOps.Count > 0) BuildChunkPaging(chunk, ctx, b.SubmissionId);
        int n = BuildRequest(new ReadOnlySpan<ResourceReference>(b.References, 0, b.ReferenceCount), firstRef, endRef, includePinned: false);
        SetPagingWaits(chunk, _request.AsSpan(0, n));
        _rm.Touch(_request.AsSpan(0, n), ctx.Id);

        // Seed 000 claim 8 / §3.1 step 16: patch the chunk's operands with the resources' current addresses.
        var dwords = b.Dwords(_bus.Memory);
        for (int i = firstRef; i < endRef; i++)
        {
            var site = b.Sites[i];
            ulong address = _rm.PatchAddress(b.References[i].Handle, site.AllocationOffset);
            dwords[site.FieldDword] = (uint)address;
            dwords[site.FieldDword + 1] = (uint)(address >> 32);
        }

        _preparedSlot.Context = ctx;
        _preparedSlot.Chunk = chunk;
        _prepared = _preparedSlot;
        _preparing = null;
        _waitingForMemory = false;
        _chunkInPreparation = null;
        Emit(ScheduleEventKind.BufferPrepared, ctx.Id, b.SubmissionId, (ulong)b.ChunkIndex, (ulong)(chunk.PagingLast != 0 ? _pagingOps.Count : 0));
        if (!chunk.Last || start > 0) Emit(ScheduleEventKind.BufferSplit, ctx.Id, b.SubmissionId, (ulong)end * 4, (ulong)start * 4);
        if (!chunk.Last)
        {
            if (start == 0) Splits++;
            // The rest keeps its place in the ready queue (same priority, round and sequence): it is prepared next
            // among its context's buffers, after this chunk (§19.3 "Split → several children").
            b.NextChunkStart = end;
            b.ChunkIndex++;
            b.Status = DmaBufferStatus.Ready;
            _ready.Insert(b);
        }
        else b.Status = DmaBufferStatus.Prepared;
    }

    // §3.6: VidMm's command list (_pagingOps) becomes a paging buffer on the machine's paging queue, which runs it
    // before the chunk (the chunk waits for its fence value, SetPagingWaits); the moves are recorded, so it runs whatever
    // becomes of the chunk (un-prepared, failed, its context reset).
    private void BuildChunkPaging(InFlightChunk chunk, VidSchContext ctx, long submissionId)
    {
        var ops = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pagingOps);
        ulong before = _group.Paging.LastSubmitted;
        chunk.PagingLast = SubmitPaging(ops);
        PagingBuffersBuilt++;
        CountPagingBytes(ops); // diagnostics: bytes per paging buffer, split by kind (VidSchScheduler.PagingStats.cs)
        ulong moved = 0;
        foreach (var op in ops) moved += op.Bytes;
        // Fences: the paging-fence values the buffer writes (its operations' merged fences and its end).
        Emit(ScheduleEventKind.PagingBuffer, ctx.Id, submissionId, (ulong)ops.Length, chunk.PagingLast - before, moved);
    }

    /// <summary>
    /// A buffer whose preparation failed (<paramref name="error"/>, or null for a stale allocation found before any
    /// work): it fails with <see cref="SubmissionStatus.FailedPreparation"/>, the slot is freed, and a paging buffer
    /// already built for it still runs (VidMm recorded those moves). Its memory returns to the pool only when no ring can
    /// reach it (Recovery invariant R3): at once when none of its chunks is in the ring, else at the context's last fence.
    /// </summary>
    private void FailPreparation(DmaBuffer b, Exception? error)
    {
        if (!ReferenceEquals(_preparing, b)) return; // already moved on (prepared) before the failure
        var ctx = (VidSchContext)b.Owner!;
        if (_chunkInPreparation is { } chunk)
        {
            // A paging buffer built for it is in the paging queue already: those moves still run, in order.
            _chunkInPreparation = null;
            if (!ReferenceEquals(_prepared?.Chunk, chunk)) ReturnChunk(chunk);
        }
        _preparing = null;
        _preparationDeferred = false;
        ctx.Queued--; // its last chunk never reached the ring (Queued counts it until then)
        PreparationFailures++;
        LastPreparationError = error;
        ctx.Finish(b.SubmissionId, SubmissionStatus.FailedPreparation);
        Emit(ScheduleEventKind.BufferFailed, ctx.Id, b.SubmissionId, (ulong)SubmissionStatus.FailedPreparation);
        SyncOnDropped(ctx, b);
        if (IsInFlight(ctx, b))
        {
            // An earlier chunk is in the ring: the buffer returns once the context's fence passes everything issued.
            b.Status = DmaBufferStatus.Running;
            SyncOf(ctx).History.Enqueue(new Sync.HistoryEvent
            {
                Kind = Sync.SchedulerEventKind.DmaBufferEnd, Fence = ctx.FenceIssued, Buffer = b, SubmissionId = b.SubmissionId,
            });
        }
        else b.Process.ReturnDmaBuffer(b);
    }

    /// <summary>Buffers failed because preparing them threw or named a freed allocation.</summary>
    public long PreparationFailures { get; private set; }

    /// <summary>The exception of the last failed preparation (null: none, or a freed allocation found by the check).</summary>
    public Exception? LastPreparationError { get; private set; }

    private void FailDoesNotFit(DmaBuffer b, VidSchContext ctx)
    {
        _preparing = null;
        _waitingForMemory = false;
        ctx.Queued--;
        ctx.Finish(b.SubmissionId, SubmissionStatus.FailedDoesNotFit);
        Emit(ScheduleEventKind.BufferFailed, ctx.Id, b.SubmissionId, (ulong)SubmissionStatus.FailedDoesNotFit);
        SyncOnDropped(ctx, b);
        b.Process.ReturnDmaBuffer(b);
    }

    private static int RefIndexAt(ReadOnlySpan<ResourceReference> refs, int dword)
    {
        uint o = (uint)dword * 4;
        int lo = 0, hi = refs.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (refs[mid].BufferOffset < o) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private ulong Footprint(ReadOnlySpan<ResourceReference> refs, int firstRef, int endRef)
    {
        int n = BuildRequest(refs, firstRef, endRef, includePinned: false);
        return _rm.FootprintOf(_request.AsSpan(0, n));
    }

    // True when a buffer of higher priority than `priority`, being prepared on another engine, waits for memory.
    private bool HigherPriorityWaitsForMemory(int priority)
    {
        foreach (var s in _group.Members)
        {
            // Waiting lasts from the first deferral to the chunk's preparation, across retries (whose modeled delay
            // would otherwise let a lower priority pin memory again in between).
            if (ReferenceEquals(s, this) || !s._waitingForMemory) continue;
            if (s._preparing?.Owner is VidSchContext waiter && waiter.Priority > priority) return true;
        }
        return false;
    }

    private bool HasPinned()
    {
        foreach (var s in _group.Members)
        {
            if (s._prepared is not null) return true;
            foreach (var c in s._contexts) if (PinsMemory(c) && (c.InFlight.Count > 0 || c.ParkedChunk is not null)) return true;
        }
        return false;
    }

    /// <summary>
    /// Chunk references + (optionally) every pinned chunk's references into <see cref="_request"/>. The chunks' state
    /// setup is not included: it is never dereferenced (see <see cref="Prepare"/>).
    /// </summary>
    private int BuildRequest(ReadOnlySpan<ResourceReference> refs, int firstRef, int endRef, bool includePinned = true)
    {
        int n = 0;
        for (int i = firstRef; i < endRef; i++) Add(ref n, refs[i]);
        return includePinned ? AppendPinned(n) : n;
    }

    // Every engine's pinned chunks (SchedulerGroup invariant 1) after the first n request entries; a context lending its
    // memory pins nothing (VidSchScheduler.Lending.cs, invariant L).
    private int AppendPinned(int n)
    {
        foreach (var s in _group.Members)
        {
            // A lending trial leaves out what it would release (VidSchScheduler.Lending.cs): outside a trial no lending
            // context has a prepared chunk (RequestLending un-prepares it, Prepare parks a lending context's buffer).
            if (s._prepared is { } p && PinsMemory(p.Context) && !p.Context.TrialUnprepared) AddChunk(ref n, p.Chunk);
            foreach (var c in s._contexts)
            {
                if (!PinsMemory(c)) continue;
                if (c.ParkedChunk is { } parked && !c.TrialUnprepared) AddChunk(ref n, parked);
                foreach (var f in c.InFlight) AddChunk(ref n, f);
            }
        }
        return n;
    }

    /// <summary>
    /// Appends the references of every chunk any engine of this scheduler's group has pinned (prepared, parked or in
    /// flight) — what a residency request of another back end must keep resident (SchedulerGroup invariant 1, across
    /// back ends: the advanced model's run-list back end shares VidMm with these schedulers). Under the kernel lock.
    /// </summary>
    internal void AppendGroupPinned(List<ResourceReference> into)
    {
        foreach (var s in _group.Members)
        {
            if (s._prepared is { } p) AppendChunk(into, p.Chunk);
            foreach (var c in s._contexts)
            {
                if (!PinsMemory(c)) continue; // invariant L
                if (c.ParkedChunk is { } parked) AppendChunk(into, parked);
                foreach (var f in c.InFlight) AppendChunk(into, f);
            }
        }
    }

    private static void AppendChunk(List<ResourceReference> into, InFlightChunk f)
    {
        if (f.Buffer is { } fb)
            for (int i = f.FirstRef; i < f.EndRef; i++) into.Add(fb.References[i]);
    }

    private void AddChunk(ref int n, InFlightChunk f)
    {
        if (f.Buffer is { } fb)
            for (int i = f.FirstRef; i < f.EndRef; i++) Add(ref n, fb.References[i]);
    }

    private void Add(ref int n, in ResourceReference r)
    {
        if (n == _request.Length) Array.Resize(ref _request, n * 2);
        _request[n++] = r;
    }

    /// <summary>Invariant (1) of the class remarks: pinned allocations are never moved by a later request.</summary>
    private void CheckPinnedNotMoved()
    {
        foreach (var op in _pagingOps)
        {
            if (op.Kind == PagingOperationKind.PageIn) continue;
            if (IsPinned(op.Handle))
                throw new InvalidOperationException($"residency manager moved {op.Handle} ({op.Kind}) although a started buffer still uses it");
        }
    }

    private bool IsPinned(AllocationHandle h)
    {
        foreach (var s in _group.Members)
        {
            if (s._prepared is { } p && ChunkUses(p.Chunk, h)) return true;
            foreach (var c in s._contexts)
            {
                if (!PinsMemory(c)) continue; // invariant L
                if (c.ParkedChunk is { } parked && ChunkUses(parked, h)) return true;
                foreach (var f in c.InFlight)
                    if (ChunkUses(f, h)) return true;
            }
        }
        return false;
    }

    private static bool ChunkUses(InFlightChunk f, AllocationHandle h)
    {
        if (f.Buffer is { } b)
            for (int i = f.FirstRef; i < f.EndRef; i++) if (b.References[i].Handle == h) return true;
        return false;
    }

    // Invariant (paging dependency, seed 001 §3.6 "in dependency order"): a chunk waits for its own paging buffer and for
    // every recorded, unexecuted paging buffer (of any engine, or of the run-list back end) that moves an allocation it
    // references — the ones it patches and the ones its state setup re-binds — or reads or writes memory such an
    // allocation occupies, and for nothing else. All of them are on the one paging queue, in record order, so that is one
    // WAIT_FENCE for the largest such value. Every move is recorded under the kernel lock before any chunk is patched
    // with its new address, so the value exists when the chunk is prepared; a chunk whose resources no paging buffer is
    // moving starts at once — a compute job on memory that stays put does not idle its engine behind another engine's
    // page-ins. Footprints leave SchedulerGroup.PagingOutstanding when the fence passes them (SchedulerGroup.RetirePaging).
    private void SetPagingWaits(InFlightChunk chunk, ReadOnlySpan<ResourceReference> refs)
    {
        ulong wait = chunk.PagingLast;
        var setup = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(chunk.Setup);
        ulong done = _group.Paging.Completed;
        foreach (var (footprint, last) in _group.PagingOutstanding)
        {
            if ((long)(done - last) >= 0 || last <= wait) continue;
            if (ReferencesTouch(footprint, refs) || ReferencesTouch(footprint, setup)) wait = last;
        }
        // Paging VidMm recorded for these allocations outside this group (the run-list back end's fault service).
        if (_rm is ResidencyManager r)
        {
            foreach (var x in refs) wait = Math.Max(wait, r.PendingPagingValue(x.Handle));
            foreach (var x in setup) wait = Math.Max(wait, r.PendingPagingValue(x.Handle));
        }
        chunk.PagingWait = (long)(done - wait) >= 0 ? 0 : wait;
    }

    // True when the paging buffer moves a referenced allocation or its copies overlap a referenced allocation's memory.
    private bool ReferencesTouch(PagingFootprint pb, ReadOnlySpan<ResourceReference> refs)
    {
        var table = _vidmm.Allocations;
        foreach (var r in refs)
        {
            if (pb.Moved.Contains(r.Handle)) return true;
            if (pb.Ranges.Count == 0 || !_vidmm.IsLive(r.Handle)) continue;
            ref var rec = ref table.Get(r.Handle);
            for (int i = 0; i < rec.ExtentCount; i++)
            {
                var e = rec.Extent(i);
                if (Overlaps(pb.Ranges, e.Address.Encoded, e.Address.Encoded + e.Bytes)) return true;
            }
        }
        return false;
    }

    private static bool Overlaps(List<(ulong Start, ulong End)> ranges, ulong start, ulong end)
    {
        foreach (var (s, e) in ranges)
            if (start < e && s < end) return true;
        return false;
    }

    private static void RecordFootprint(PagingFootprint pb, ReadOnlySpan<PagingOperation> ops)
    {
        foreach (var op in ops)
        {
            pb.Moved.Add(op.Handle);
            if (op.Bytes == 0) continue;
            pb.Ranges.Add((op.From.Encoded, op.From.Encoded + op.Bytes));
            pb.Ranges.Add((op.To.Encoded, op.To.Encoded + op.Bytes));
        }
    }
}
