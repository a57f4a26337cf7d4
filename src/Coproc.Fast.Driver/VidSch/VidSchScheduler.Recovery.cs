using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch;

// Timeout detection and recovery (seed 001 §19.3 "Running → invalid command → Error"; docs/containment.md): a context
// that holds the engine without progress for the timeout, or that faults, is reset without touching any other context.
//
// Invariants (each kept by the code below, broken by the tests in tests/Coproc.Fast.Tests/Containment):
// (R1) Hung means "holds the engine and makes no progress": only cycles the context spends loaded on the engine count
//      (from the device's CONTEXT_SWITCH reports), and a retired chunk resets the count. Waiting for a turn is never a
//      hang, and the count never runs past what the device has reported (ObservedThrough, threaded mode) nor starts
//      before the device cycle at which the scheduler saw the progress (MarkProgress, invariant R1a).
// (R2) A context is reset only after the device has confirmed that it is off the engine and cannot come back by
//      itself: the reset writes NEXT_CONTEXT = 0 and then CONTEXT_SWITCH = 0 (which also drops a run list and a
//      kernel context set aside for user queues, native-layout.md §10.1, §13.7), and waits for that idle switch's
//      report. From then on the engine can load the context only if this driver names it, which it never does while
//      the context is resetting. Before the report the save area is left alone: the engine may still hold a working
//      copy that it would save over a rewritten one.
// (R3) A DMA buffer returns to its pool only when no ring or save area can reach it: never launched, its trailing
//      fence reached, or its context reset under (R2) (ring and save area then restart at the write pointer).
public sealed partial class VidSchScheduler
{
    // Idle-switch requests written (SwitchTo(null)) and their reports seen; reports arrive in write order.
    private ulong _idleSwitchesIssued, _idleSwitchesConfirmed;
    private ulong _observedThrough = ulong.MaxValue;

    /// <summary>
    /// Threaded mode: the device cycle up to which every interrupt record has been delivered to this scheduler. Active
    /// time is never counted past it, so a scheduler thread that lags the free-running device clock cannot see a
    /// context that already yielded as still holding the engine (invariant R1). Deterministic mode leaves it unset.
    /// </summary>
    internal void ObserveThrough(ulong cycle) => Volatile.Write(ref _observedThrough, cycle);

    // The device cycle the scheduler's picture of the engine is complete up to.
    private ulong Horizon
    {
        get
        {
            ulong now = _bus.Cycle, seen = Volatile.Read(ref _observedThrough);
            return seen < now ? seen : now;
        }
    }

    /// <summary>
    /// Engine cycles <paramref name="c"/> has held the engine since its last progress (invariant R1): its closed load
    /// periods, and the open one up to the horizon, each counted only from the progress cycle on.
    /// </summary>
    private ulong StalledFor(VidSchContext c)
    {
        ulong t = c.StallCycles;
        if (c.Loaded && ReferenceEquals(_loaded, c))
        {
            ulong from = Math.Max(c.LoadedAt, c.ProgressAt), h = Horizon;
            if (h > from) t += h - from;
        }
        return t;
    }

    /// <summary>
    /// <paramref name="c"/> made progress (a chunk retired, work arrived while it had none, a reset finished): the
    /// timeout counts again from the device's current cycle (invariant R1).
    /// </summary>
    /// <remarks>
    /// Invariant R1a (threaded mode): progress is stamped with the device cycle now, which is at or after the cycle it
    /// happened on (to within the device step being run), never with the horizon. The scheduler learns of progress
    /// from memory (a fence) at once but of switches only when their records arrive, and the free-running device can be
    /// any distance ahead of the horizon: a stamp at the horizon charged the stretch from the horizon to the progress —
    /// cycles the context spent running the work that retired, or sitting loaded with an empty ring before its next
    /// buffer arrived — as time without progress, and reset healthy contexts whenever the scheduler thread fell more
    /// than the timeout behind. Switch reports that arrive later are counted only from the stamp on (Unload), so a
    /// late report of a load that began before the progress cannot charge it either.
    /// </remarks>
    private void MarkProgress(VidSchContext c)
    {
        c.StallCycles = 0;
        c.ProgressAt = _bus.Cycle;
    }

    /// <summary>Timeout detection (TDR) on active time without progress (invariant R1).</summary>
    private void CheckTimeouts()
    {
        if (_loaded is { } l && l.InFlight.Count > 0 && !l.Resetting && StalledFor(l) >= _o.TimeoutCycles)
            BeginReset(l, SubmissionStatus.FailedTimeout);
        IssueResetFence();
    }

    /// <summary>The cycle the next timeout check is due (the loaded context's deadline, or a reset fence's re-issue).</summary>
    private ulong TimeoutTimerCycle(ulong now)
    {
        ulong at = ulong.MaxValue;
        if (_loaded is { } l && l.InFlight.Count > 0 && !l.Resetting)
        {
            ulong used = StalledFor(l);
            at = now + Math.Max(1, used >= _o.TimeoutCycles ? 1 : _o.TimeoutCycles - used);
        }
        // A reset waiting to issue its idle switch (another switch outstanding) re-checks every 10,000 cycles; one
        // whose idle switch is issued completes on that switch's interrupt.
        foreach (var c in _contexts)
            if (c.Resetting && c.ResetTicket == 0) at = Math.Min(at, now + 10_000);
        return at;
    }

    /// <summary>Starts recovery of <paramref name="c"/>: queued buffers fail now; the rest once the engine left it.</summary>
    private void BeginReset(VidSchContext c, SubmissionStatus reason)
    {
        if (c.Resetting) return;
        Auditor?.OnReset(AuditorState!, c, reason, _bus.Cycle);
        c.Resetting = true;
        c.ResetReason = reason;
        c.ResetTicket = 0;
        _removed.Clear();
        _ready.RemoveOwnedBy(c, _removed);
        while (c.Parked.TryDequeue(out var parked))
        {
            _parkedCount--;
            _removed.Add(parked);
        }
        c.ParkedForOwnRetirement = false;
        foreach (var b in _removed)
        {
            // A buffer whose earlier chunk is in flight, prepared or being prepared fails in FinishResets, once the
            // engine no longer reads it; the others were never seen by the hardware and go back to the pool now (R3).
            if (IsInFlight(c, b) || ReferenceEquals(_preparing, b) || ReferenceEquals(_prepared?.Chunk.Buffer, b) || ReferenceEquals(c.ParkedChunk?.Buffer, b))
            {
                b.Status = DmaBufferStatus.Running;
                continue;
            }
            c.Finish(b.SubmissionId, reason);
            SyncOnDropped(c, b);
            b.Process.ReturnDmaBuffer(b);
        }
        SyncOnResetBegin(c, reason);
        IssueResetFence();
    }

    /// <summary>
    /// Invariant R2: NEXT_CONTEXT = 0, then CONTEXT_SWITCH = 0, for every resetting context without a ticket, once no
    /// other switch is outstanding. Posted writes reach the device in order, so once the idle switch is reported
    /// NEXT_CONTEXT no longer names a resetting context. Only when no switch is outstanding: a CONTEXT_SWITCH written
    /// over one the device deferred (a disable-context-switch region) would replace it and leave one report for two
    /// writes, and the count of reports would never catch up.
    /// </summary>
    private void IssueResetFence()
    {
        if (_switchPending) return;
        ulong now = _bus.Cycle;
        bool need = false;
        foreach (var c in _contexts)
            if (c.Resetting && c.ResetTicket == 0) need = true;
        if (!need) return;
        _nextRegister = 0;
        _bus.WriteRegister(_engineBase + NextContextRegister, 0); // always written: the device may have set it on a yield
        SwitchTo(null);
        foreach (var c in _contexts)
        {
            if (!c.Resetting || c.ResetTicket != 0) continue;
            c.ResetTicket = _idleSwitchesIssued;
            c.ResetIssuedAt = now;
        }
    }

    // Buffers of c in the ready queue, parked, being prepared or prepared (a reset is rare: a scan is fine).
    private int QueuedOf(VidSchContext c)
    {
        int n = c.Parked.Count;
        for (int i = 0; i < _ready.Count; i++) if (ReferenceEquals(_ready[i].Owner, c)) n++;
        if (_preparing is { } p && ReferenceEquals(p.Owner, c)) n++;
        if (_prepared is { } q && ReferenceEquals(q.Context, c) && q.Chunk.Buffer is not null) n++;
        return n;
    }

    private static bool IsInFlight(VidSchContext c, DmaBuffer b)
    {
        foreach (var f in c.InFlight) if (ReferenceEquals(f.Buffer, b)) return true;
        return false;
    }

    private bool EngineLeft(VidSchContext c)
    {
        uint status = _bus.ReadRegister32(_engineBase + Coproc.Fast.Device.Engines.EngineRegisters.Status);
        return (status & Coproc.Fast.Device.Engines.EngineRegisters.StatusSwitchDeferred) == 0
            && _bus.ReadRegister(_engineBase + CurrentContextRegister) != c.SaveArea.Encoded;
    }

    /// <summary>
    /// Completes recovery once the device confirmed the engine left the context (invariant R2): its in-flight buffers fail with the reset
    /// status and its save area restarts at the ring's write pointer (nothing queued is run). Its paging buffers are
    /// not in its ring but in the machine's paging queue (VidSchScheduler.PagingContext.cs), so the moves VidMm
    /// recorded for it still run, in order. Other contexts are untouched.
    /// </summary>
    private void FinishResets()
    {
        foreach (var c in _contexts)
        {
            // Invariant R2: only once the device reported the idle switch written after the reset began.
            if (!c.Resetting || c.ResetTicket == 0 || _idleSwitchesConfirmed < c.ResetTicket || ReferenceEquals(_loaded, c)) continue;
            // And the engine's registers agree (read only while a reset waits): no switch deferred, c not current. A report
            // applied after a rebuild from lost interrupt reports had already counted it (threaded mode,
            // docs/containment.md "An interrupt flood") can otherwise confirm an idle switch that has not happened.
            if (!EngineLeft(c)) continue;
            var mem = _bus.Memory;
            int failed = 0;
            // Decided before any buffer goes back to its pool: returning the in-flight chunks' buffer clears its owner,
            // and a split buffer whose rest is being prepared is that same buffer — the slot must still be freed (R3:
            // a pooled buffer is never also the one being prepared).
            bool preparingOurs = _preparing is { } p0 && ReferenceEquals(p0.Owner, c);
            foreach (var f in c.InFlight)
            {
                _inFlightCount--;
                if (f.Buffer is { } b && b.Status != DmaBufferStatus.Free)
                {
                    c.Finish(b.SubmissionId, c.ResetReason);
                    b.Process.ReturnDmaBuffer(b);
                    failed++;
                }
            }
            foreach (var f in c.InFlight) ReturnChunk(f);
            // Its pinned chunks are released like retired ones: a preparation deferred behind them retries now
            // (otherwise it would wait for a retirement that may never come, the engine idle with work queued).
            if (c.InFlight.Count > 0) _group.Retirements++;
            c.InFlight.Clear();
            if (c.ParkedChunk is { } parked)
            {
                // Never in the ring (its paging buffer already issued): its buffer fails unless an in-flight chunk did.
                if (parked.Buffer is { } pb && pb.Status != DmaBufferStatus.Free)
                {
                    c.Finish(pb.SubmissionId, c.ResetReason);
                    SyncOnDropped(c, pb);
                    pb.Process.ReturnDmaBuffer(pb);
                    failed++;
                }
                ReturnChunk(parked);
                c.ParkedChunk = null;
                _parkedChunkCount--;
            }
            // Queued work in the two software stages fails too. A chunk already prepared has its paging buffer in the
            // paging queue: VidMm recorded those moves, and they still run (in order) for memory to stay coherent.
            if (preparingOurs && _preparing is { } pr)
            {
                if (pr.Status != DmaBufferStatus.Free) { c.Finish(pr.SubmissionId, c.ResetReason); SyncOnDropped(c, pr); pr.Process.ReturnDmaBuffer(pr); failed++; }
                _preparing = null;
                _preparationDeferred = false;
            }
            if (_prepared is { } pp && ReferenceEquals(pp.Context, c) && pp.Chunk.Buffer is { } pb2)
            {
                if (pb2.Status != DmaBufferStatus.Free) { c.Finish(pb2.SubmissionId, c.ResetReason); SyncOnDropped(c, pb2); pb2.Process.ReturnDmaBuffer(pb2); failed++; }
                ReturnChunk(pp.Chunk);
                _prepared = null;
            }
            ref var desc = ref mem.Local.Ref<RingDescriptor>(c.RingDescriptor.Offset);
            ref var save = ref mem.Local.Ref<ContextSaveArea>(c.SaveArea.Offset);
            var fresh = new ContextSaveArea
            {
                RingDescriptor = save.RingDescriptor, ContextId = save.ContextId, AddressSpace = save.AddressSpace,
                RingPosition = c.RingWrite, CyclesRun = save.CyclesRun, LoadCount = save.LoadCount, LastSwitchReason = save.LastSwitchReason,
                SchedulingPriority = save.SchedulingPriority, // its rank against user queues (native-layout.md §13.7)
            };
            save = fresh;
            Volatile.Write(ref desc.ReadPtr, c.RingWrite);
            Volatile.Write(ref desc.WritePtr, c.RingWrite);
            // The scheduler fence jumps to the last issued value: nothing of the reset context is outstanding.
            Volatile.Write(ref mem.System.Ref<ulong>(c.Fence.Offset), c.FenceIssued);
            c.Resetting = false;
            if (c.Lending != LendState.None) _lendingCount--;
            c.Lending = LendState.None; // nothing of it is left to return (invariant L)
            c.LendNeedsSwitch = false;
            c.LendsToReturnOf = null;
            c.HoldsMemory = false; // its chunks are gone: its turn with the memory ends (invariant E)
            // What it had queued failed above or in BeginReset; buffers admitted since (while it was resetting) remain.
            c.Queued = QueuedOf(c);
            c.ParkedForOwnRetirement = false; // its pinned chunks are released
            UnparkIfRoom(c);
            c.ResetTicket = 0;
            MarkProgress(c);
            c.Resets++;
            c.QuantumCredit = 0;
            SyncOnResetFinish(c); // seed 001 §11: walk the history against the fence the reset set
            Emit(ScheduleEventKind.ContextReset, c.Id, 0, (ulong)failed, (ulong)c.ResetReason);
        }
    }
}
