using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch;

public sealed partial class VidSchScheduler
{
    private const uint ContextSwitchRegister = 0x00; // native-layout.md §10.1
    private const uint NextContextRegister = 0x10;

    private readonly uint[] _scratchRing;
    private VidSchContext? _loaded;       // what the engine runs, as its CONTEXT_SWITCH interrupts report
    private bool _switchPending;
    private ulong _switchTarget;
    private ulong _nextRegister;
    private ulong _timerArmedAt = ulong.MaxValue;
    private ulong _loadTicket;            // round robin among equal-priority in-flight contexts
    private readonly List<DmaBuffer> _removed = new();
    private int _parkedCount;             // contexts with a parked chunk (TryLaunch remarks)

    /// <summary>
    /// One scheduling pass (seed 001 §19.4 "interrupt handler"): retire by scheduler fences, finish resets, hand the
    /// prepared chunk to the hardware, start the next preparation, check timeouts, pick what the engine runs, arm the
    /// timer.
    /// </summary>
    private void Pump()
    {
        FlushAllSyncOperations(); // waits/signals a full ring or a reset held up (VidSchScheduler.Sync.cs)
        if (Retire()) _group.Retirements++;
        // Pinned chunks retired (on any engine): the deferred one may fit now.
        if (_group.Retirements != _retirementsSeen && _preparationDeferred) _retryDeferred = true;
        _retirementsSeen = _group.Retirements;
        FinishResets();
        bool launched = TryLaunch();
        StartPreparation();
        if (launched) TryLaunch();
        CheckTimeouts();
        DriveEngine();
        ArmTimer();
    }

    private void Handle(in InterruptRecord r)
    {
        // Only this model's engine: other engines (VidMm's paging context on the copy engine, user queues) raise
        // their own switch and fault interrupts, which are not ours to interpret.
        if (r.Engine != (byte)_o.Engine) return;
        switch (r.Source)
        {
            case InterruptRecord.ContextSwitch:
            {
                var reason = (SwitchReason)r.Data0;
                var left = r.ContextId == (uint)_pagingContext.Id ? _pagingContext : ContextById(r.ContextId);
                if (reason == SwitchReason.Empty && r.Data1 == 0) break; // stayed loaded, empty
                // Recovery's proof that the engine left a resetting context (VidSchScheduler.Recovery.cs): only this
                // driver requests a switch to idle, and each such write yields exactly one Requested→0 report.
                if (reason == SwitchReason.Requested && r.Data1 == 0) _idleSwitchesConfirmed++;
                if (left is not null && ReferenceEquals(left, _loaded)) Unload(left, r.Cycle);
                var to = r.Data1 == 0 ? null : _bySaveArea.GetValueOrDefault(r.Data1);
                _loaded = to;
                if (to is not null)
                {
                    to.Loaded = true;
                    to.LoadedAt = r.Cycle;
                    to.LoadOrder = ++_loadTicket;
                    Emit(ScheduleEventKind.ContextSwitched, to.Id, 0, (ulong)reason, left is null ? 0 : (ulong)left.Id);
                }
                if (reason == SwitchReason.Yielded && left is not null) _nextRegister = left.SaveArea.Encoded;
                else if (reason == SwitchReason.Empty) _nextRegister = 0;
                if (_switchPending && r.Data1 == _switchTarget) _switchPending = false;
                break;
            }
            case InterruptRecord.PageFault:
            case InterruptRecord.ProtectionFault:
            case InterruptRecord.InvalidCommand:
                if (ContextById(r.ContextId) is { } faulted)
                {
                    Emit(ScheduleEventKind.ContextFault, faulted.Id, faulted.InFlight.Count > 0 ? faulted.InFlight[0].Buffer?.SubmissionId ?? 0 : 0, r.Source, r.Data0);
                    BeginReset(faulted, SubmissionStatus.FailedFault);
                }
                break;
        }
    }

    private void Unload(VidSchContext c, ulong cycle)
    {
        c.Loaded = false;
        if (cycle > c.LoadedAt) c.ActiveCycles += cycle - c.LoadedAt; // timeout detection counts engine time only
        // §5.5 compensation: time not used out of the slice is owed, time overdrawn (a non-interruptible paging
        // buffer held the engine) is taken from the next slice; bounded to one quantum either way.
        long used = (long)(cycle - c.LoadedAt);
        long q = (long)_o.QuantumCycles;
        c.QuantumCredit = Math.Clamp(c.QuantumCredit + q - used, -q / 2, q);
        if (c.InFlight.Count == 0) c.QuantumCredit = 0; // nothing left to compensate
    }

    private bool Retire()
    {
        var mem = _bus.Memory;
        _pagingCompleted = Volatile.Read(ref mem.System.Ref<ulong>(_pagingFence.Offset));
        RetirePaging();
        bool any = false;
        foreach (var c in _contexts)
        {
            if (c.InFlight.Count == 0) continue;
            ulong done = Volatile.Read(ref mem.System.Ref<ulong>(c.Fence.Offset));
            while (c.InFlight.Count > 0 && (long)(done - c.InFlight[0].Fence) >= 0)
            {
                var f = c.InFlight[0];
                c.InFlight.RemoveAt(0);
                _inFlightCount--;
                any = true;
                c.ProgressMark = ActiveTime(c); // progress: the timeout counts from here
                if (f.Last && f.Buffer is { } b)
                {
                    c.Finish(b.SubmissionId, SubmissionStatus.Completed);
                    Emit(ScheduleEventKind.BufferCompleted, c.Id, b.SubmissionId, f.Fence);
                }
                ReturnChunk(f);
            }
            // Seed 001 §11: the event history is walked against the fence read from memory (the DMA-buffer-end event
            // returns the buffer to its pool).
            WalkEventHistory(c, done);
        }
        return any;
    }

    /// <summary>Writes the prepared chunk into its context's ring once the paging order allows (class remarks, invariant 2).</summary>
    /// <remarks>
    /// Head-of-line invariant: the single preparation slot is never held by a chunk whose own context keeps it out of
    /// the ring. A prepared chunk refused by the in-flight bound (its context already has work in the hardware — a hung
    /// or slow context fills the bound) is parked on its context and the slot serves the next buffer; the context's
    /// later buffers are not prepared until its parked chunk is launched (StartPreparation), so its chunks stay in order.
    /// </remarks>
    private bool TryLaunch()
    {
        bool launched = _parkedCount > 0 && TryLaunchParked();
        if (_prepared is not { } p) return launched;
        var ctx = p.Context;
        var chunk = p.Chunk;
        // §3.6: the paging buffer goes to the engine's kernel paging context (VidSchScheduler.PagingContext.cs) as
        // soon as the paging order allows — not behind the submitting context's own unfinished work (nor its reset).
        if (chunk.Paging is not null && !TryIssuePaging(chunk)) return launched;
        if (ctx.Resetting) return launched;
        if (chunk.PagingOnly)
        {
            _prepared = null;
            ReturnChunk(chunk);
            return true;
        }
        // The in-flight bound (running + next) never keeps a context with nothing in the hardware out: chunks of a
        // context stuck on a WAIT (or a long buffer) would otherwise hold every slot until its reset.
        if (_inFlightCount >= _o.MaxInFlight && ctx.InFlight.Count > 0)
        {
            ctx.Parked = chunk; // head-of-line invariant (remarks): the slot moves on
            _parkedCount++;
            _prepared = null;
            return true;
        }
        if (!LaunchChunk(ctx, chunk)) return launched;
        _prepared = null;
        return true;
    }

    private bool TryLaunchParked()
    {
        bool any = false;
        foreach (var c in _contexts)
        {
            if (c.Parked is not { } chunk || c.Resetting) continue;
            if (_inFlightCount >= _o.MaxInFlight && c.InFlight.Count > 0) continue;
            if (!LaunchChunk(c, chunk)) continue;
            c.Parked = null;
            _parkedCount--;
            any = true;
        }
        return any;
    }

    // Writes one prepared chunk (its paging buffer already issued) into its context's ring.
    private bool LaunchChunk(VidSchContext ctx, InFlightChunk chunk)
    {
        var b = chunk.Buffer;
        if (b is not null && SyncBlocksLaunch(ctx, b)) return false; // a wait/signal issued before it goes first
        ulong fence = ctx.FenceIssued + 1;
        chunk.Fence = fence;
        var w = new PacketWriter(_scratchRing);
        // The chunk's addresses were computed after every earlier move was recorded: it waits on the device for the
        // paging fence (its own paging buffer's last value, or the gate when it has none) unless already passed.
        WriteWaitForPaging(ref w, chunk);
        if (b is not null)
        {
            // §3.4: a later chunk first reprograms the resources bound at its start, at their current addresses.
            Span<uint> pair = stackalloc uint[2];
            foreach (var s in chunk.Setup)
            {
                ulong address = _rm.PatchAddress(s.Handle, 0);
                pair[0] = (uint)address;
                pair[1] = (uint)(address >> 32);
                w.WriteData(ctx.BindingTableKernelAddress + (ulong)s.ResourceId * 8, pair);
            }
            w.Indirect(b.KernelAddress + (ulong)chunk.Start * 4, (uint)(chunk.End - chunk.Start), privileged: true);
        }
        w.PrivilegedFence(ctx.Fence.Encoded, fence, interrupt: true);
        if (!TryWriteRing(ctx, w.WrittenSpan)) return false;
        if (ctx.InFlight.Count == 0) ctx.ProgressMark = ActiveTime(ctx); // idle time before this work is no hang
        ctx.FenceIssued = fence;
        ctx.InFlight.Add(chunk);
        _inFlightCount++;
        SyncOnLaunched(ctx, chunk);
        if (b is not null)
        {
            if (chunk.Last) b.Status = DmaBufferStatus.Running;
            Emit(ScheduleEventKind.BufferStarted, ctx.Id, b.SubmissionId, chunk.Fence, (ulong)chunk.Start * 4);
        }
        _bus.Kick();
        return true;
    }

    private bool TryWriteRing(VidSchContext ctx, ReadOnlySpan<uint> packets)
    {
        var mem = _bus.Memory;
        ulong wp = ctx.RingWrite;
        if (!KernelRingWriter.TryAppend(mem, ctx.Ring, ctx.RingBytes, ref mem.Local.Ref<RingDescriptor>(ctx.RingDescriptor.Offset),
                ref wp, packets))
            return false; // ring full: retry after a retire
        ctx.RingWrite = wp;
        return true;
    }

    /// <summary>
    /// Chooses what the engine runs (seed 001 §5.5, §13): keep the loaded context while it has work unless its
    /// quantum (plus compensation) is spent and another context of equal or higher priority has work in the
    /// hardware — then preempt it mid-buffer with CONTEXT_SWITCH (the device saves it; it resumes exactly there
    /// later). NEXT_CONTEXT names the best other context so the engine moves on by itself when the ring runs empty.
    /// </summary>
    private void DriveEngine()
    {
        if (_switchPending) return;
        var cur = _loaded;
        if (PagingHasWork)
        {
            // §3.6: paging buffers are kernel work that later chunks wait on — the paging context runs now (a
            // running context is switched out mid-buffer and resumes exactly there) and, non-interruptible, to the end.
            if (!ReferenceEquals(cur, _pagingContext)) SwitchTo(_pagingContext);
            else SetNext(Best(exclude: null));
            return;
        }
        bool curHasWork = cur is not null && cur.InFlight.Count > 0 && !cur.Resetting;
        var other = Best(exclude: cur);
        if (curHasWork)
        {
            var c = cur!;
            if (other is not null && other.Priority >= c.Priority && QuantumSpent(c))
            {
                c.Preemptions++;
                PreemptionCount++;
                Emit(ScheduleEventKind.ContextPreempted, c.Id, c.InFlight[0].Buffer?.SubmissionId ?? 0, (ulong)other.Id);
                SwitchTo(other);
                return;
            }
            SetNext(other);
            return;
        }
        if (other is not null) SwitchTo(other);
        else if (cur is not null && cur.Resetting) SwitchTo(null);
    }

    private bool QuantumSpent(VidSchContext c) =>
        (long)(_bus.Cycle - c.LoadedAt) >= (long)_o.QuantumCycles + c.QuantumCredit;

    private VidSchContext? Best(VidSchContext? exclude)
    {
        VidSchContext? best = null;
        foreach (var c in _contexts)
        {
            if (ReferenceEquals(c, exclude) || c.InFlight.Count == 0 || c.Resetting) continue;
            if (best is null || c.Priority > best.Priority || (c.Priority == best.Priority && c.LoadOrder < best.LoadOrder)) best = c;
        }
        return best;
    }

    private void SwitchTo(VidSchContext? target)
    {
        ulong value = target?.SaveArea.Encoded ?? 0;
        if (target is not null && _nextRegister == value) SetNext(null);
        if (value == 0) _idleSwitchesIssued++; // each is confirmed by one Requested→0 report (Handle)
        _switchPending = true;
        _switchTarget = value;
        _bus.WriteRegister(_engineBase + ContextSwitchRegister, value);
    }

    private void SetNext(VidSchContext? target)
    {
        ulong value = target?.SaveArea.Encoded ?? 0;
        if (value == _nextRegister) return;
        _nextRegister = value;
        _bus.WriteRegister(_engineBase + NextContextRegister, value);
    }

    private void ArmTimer()
    {
        ulong now = _bus.Cycle;
        ulong at = ulong.MaxValue;
        // Quantum end: only while it lies ahead. Once spent with nobody of equal or higher priority waiting, the next
        // launch or interrupt re-runs the decision (no timer spinning every cycle).
        if (_loaded is { } l && l.InFlight.Count > 0)
        {
            ulong end = l.LoadedAt + (ulong)Math.Max(1, (long)_o.QuantumCycles + l.QuantumCredit);
            if (end > now) at = end;
        }
        at = Math.Min(at, TimeoutTimerCycle(now));
        if (at == ulong.MaxValue) return;
        if (_timerArmedAt <= at && _timerArmedAt > now) return;
        _timerArmedAt = at;
        Host?.RequestTimer(at);
    }

}
