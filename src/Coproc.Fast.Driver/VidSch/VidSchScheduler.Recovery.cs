using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch;

// Timeout detection and recovery (issue 4 §3; seed 001 §19.3 "Running → invalid command → Error"): a context whose
// chunk neither retires nor leaves within the timeout, or that faults, is reset without touching any other context.
public sealed partial class VidSchScheduler
{
    /// <summary>Timeout detection (TDR): a chunk that started and has not retired within the timeout resets its context.</summary>
    private void CheckTimeouts()
    {
        if (_loaded is { } l && l.InFlight.Count > 0 && !l.Resetting) MarkStarted(l);
        ulong now = _bus.Cycle;
        foreach (var c in _contexts)
        {
            if (c.Resetting || c.InFlight.Count == 0) continue;
            var f = c.InFlight[0];
            if (f.Started && now - f.StartedAt >= _o.TimeoutCycles) BeginReset(c, SubmissionStatus.FailedTimeout);
        }
    }

    /// <summary>Starts recovery of <paramref name="c"/>: queued buffers fail now; the rest once the engine left it.</summary>
    private void BeginReset(VidSchContext c, SubmissionStatus reason)
    {
        if (c.Resetting) return;
        Auditor?.OnReset(AuditorState!, c, reason, _bus.Cycle);
        c.Resetting = true;
        c.ResetReason = reason;
        _removed.Clear();
        _ready.RemoveOwnedBy(c, _removed);
        while (c.Parked.TryDequeue(out var parked))
        {
            _parkedCount--;
            _removed.Add(parked);
        }
        foreach (var b in _removed)
        {
            // A buffer whose earlier chunk is in flight, prepared or being prepared fails in FinishResets, once the
            // engine no longer reads it; the others were never seen by the hardware and go back to the pool now.
            if (IsInFlight(c, b) || ReferenceEquals(_preparing, b) || ReferenceEquals(_prepared?.Chunk.Buffer, b))
            {
                b.Status = DmaBufferStatus.Running;
                continue;
            }
            c.Finish(b.SubmissionId, reason);
            SyncOnDropped(c, b);
            b.Process.ReturnDmaBuffer(b);
        }
        SyncOnResetBegin(c, reason);
        if (ReferenceEquals(_loaded, c) && !_switchPending) SwitchTo(Best(exclude: c));
        if (_nextRegister == c.SaveArea.Encoded) SetNext(null);
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

    /// <summary>
    /// Completes recovery once the engine no longer runs the context: its in-flight buffers fail with the reset
    /// status and its save area restarts at the ring's write pointer (nothing queued is run). Its paging buffers are
    /// not in its ring but in the engine's kernel paging context (VidSchScheduler.PagingContext.cs), so the moves VidMm
    /// recorded for it still run, in order. Other contexts are untouched.
    /// </summary>
    private void FinishResets()
    {
        foreach (var c in _contexts)
        {
            if (!c.Resetting || ReferenceEquals(_loaded, c) || (_switchPending && _switchTarget == c.SaveArea.Encoded)) continue;
            if (ReferenceEquals(_loaded, c) && _switchPending) continue;
            var mem = _bus.Memory;
            int failed = 0;
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
            // Queued work in the two software stages fails too. A chunk already prepared keeps only its paging buffer:
            // VidMm recorded those moves, so they must still run (in order) for memory to stay coherent.
            if (_preparing is { } pr && ReferenceEquals(pr.Owner, c))
            {
                if (pr.Status != DmaBufferStatus.Free) { c.Finish(pr.SubmissionId, c.ResetReason); SyncOnDropped(c, pr); pr.Process.ReturnDmaBuffer(pr); failed++; }
                _preparing = null;
                _preparationDeferred = false;
            }
            if (_prepared is { } pp && ReferenceEquals(pp.Context, c) && pp.Chunk.Buffer is { } pb2)
            {
                if (pb2.Status != DmaBufferStatus.Free) { c.Finish(pb2.SubmissionId, c.ResetReason); SyncOnDropped(c, pb2); pb2.Process.ReturnDmaBuffer(pb2); failed++; }
                pp.Chunk.Buffer = null;
                pp.Chunk.PagingOnly = true;
            }
            ref var desc = ref mem.Local.Ref<RingDescriptor>(c.RingDescriptor.Offset);
            ref var save = ref mem.Local.Ref<ContextSaveArea>(c.SaveArea.Offset);
            var fresh = new ContextSaveArea
            {
                RingDescriptor = save.RingDescriptor, ContextId = save.ContextId, AddressSpace = save.AddressSpace,
                RingPosition = c.RingWrite, CyclesRun = save.CyclesRun, LoadCount = save.LoadCount, LastSwitchReason = save.LastSwitchReason,
            };
            save = fresh;
            Volatile.Write(ref desc.ReadPtr, c.RingWrite);
            Volatile.Write(ref desc.WritePtr, c.RingWrite);
            // The scheduler fence jumps to the last issued value: nothing of the reset context is outstanding.
            Volatile.Write(ref mem.System.Ref<ulong>(c.Fence.Offset), c.FenceIssued);
            c.Resetting = false;
            // What it had queued failed above or in BeginReset; buffers admitted since (while it was resetting) remain.
            c.Queued = QueuedOf(c);
            UnparkIfRoom(c);
            c.Resets++;
            c.QuantumCredit = 0;
            SyncOnResetFinish(c); // seed 001 §11: walk the history against the fence the reset set
            Emit(ScheduleEventKind.ContextReset, c.Id, 0, (ulong)failed, (ulong)c.ResetReason);
        }
    }
}
