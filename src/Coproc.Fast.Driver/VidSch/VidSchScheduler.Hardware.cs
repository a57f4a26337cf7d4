using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm.Paging;

namespace Coproc.Fast.Driver.VidSch;

public sealed partial class VidSchScheduler
{
    private const uint ContextSwitchRegister = 0x00; // native-layout.md §10.1
    private const uint CurrentContextRegister = 0x08;
    private const uint NextContextRegister = 0x10;

    private readonly uint[] _scratchRing;
    private VidSchContext? _loaded;       // what the engine runs, as its CONTEXT_SWITCH interrupts report
    private bool _switchPending;
    private ulong _switchTarget;
    private ulong _nextRegister;
    private ulong _timerArmedAt = ulong.MaxValue;
    private ulong _loadTicket;            // round robin among equal-priority in-flight contexts
    private readonly List<DmaBuffer> _removed = new();
    private int _parkedChunkCount;        // contexts with a parked chunk (TryLaunch remarks)

    /// <summary>
    /// One scheduling pass (seed 001 §19.4 "interrupt handler"): retire by scheduler fences, finish resets, hand the
    /// prepared chunk to the hardware, start the next preparation, check timeouts, pick what the engine runs, arm the
    /// timer.
    /// </summary>
    private void Pump()
    {
        FlushAllSyncOperations(); // waits/signals a full ring or a reset held up (VidSchScheduler.Sync.cs)
        if (Retire()) _group.Retirements++;
        WakeForPaging(); // VidSchScheduler.Lending.cs
        FinishResets();
        // Pinned chunks retired or released by a reset (on any engine): the deferred one may fit now.
        if (_group.Retirements != _retirementsSeen && _preparationDeferred) _retryDeferred = true;
        _retirementsSeen = _group.Retirements;
        CheckTurnRetry(); // an equal holder's turn ended: its memory may be lent now (Lending.cs, invariant E)
        bool launched = TryLaunch();
        StartPreparation();
        if (launched) TryLaunch();
        CheckTimeouts();
        AdvanceLending(allowReturn: true); // invariant L (VidSchScheduler.Lending.cs)
        DriveEngine();
        ArmTimer();
        if (Auditor is { } auditor) AuditPass(auditor);
    }

    /// <summary>
    /// True when the engine is executing its loaded context's packets — loaded, not stalled on a WAIT, not empty, not
    /// faulted (the engine's STATUS register, native-layout.md §10.1); caller holds the kernel lock.
    /// </summary>
    internal bool LoadedContextExecuting
    {
        get
        {
            uint s = _bus.ReadRegister32(Coproc.Fast.Device.Engines.EngineRegisters.At(_o.Engine, Coproc.Fast.Device.Engines.EngineRegisters.Status));
            return (s & Coproc.Fast.Device.Engines.EngineRegisters.StatusLoaded) != 0
                && (s & (Coproc.Fast.Device.Engines.EngineRegisters.StatusWaiting | Coproc.Fast.Device.Engines.EngineRegisters.StatusEmpty | Coproc.Fast.Device.Engines.EngineRegisters.StatusFaulted)) == 0;
        }
    }

    /// <summary>The auditor watching this scheduler (Diagnostics/SchedulingAuditor.cs), or null: no cost.</summary>
    internal Diagnostics.SchedulingAuditor? Auditor;
    internal Diagnostics.SchedulingAuditor.EngineState? AuditorState;

    private void AuditPass(Diagnostics.SchedulingAuditor auditor)
    {
        var l = _loaded;
        bool paging = l is not null && ReferenceEquals(l, _pagingContext);
        bool busy = paging ? PagingHasWork || l!.InFlight.Count > 0 : l is not null && l.InFlight.Count > 0 && !l.Resetting;
        // A buffer deferred for memory pinned by, or kept for, higher priorities (Prepare): the auditor says why the engine idles.
        auditor.OnPass(AuditorState!, _bus.Cycle, paging ? null : l, busy, _preparing?.Owner as VidSchContext, _preparationDeferred || _waitingForMemory);
    }

    private void Handle(in InterruptRecord r)
    {
        // Only this model's engine: other engines (the paging engine, user queues) raise their own switch and fault
        // interrupts, which are not ours to interpret.
        if (r.Engine != (byte)_o.Engine) return;
        switch (r.Source)
        {
            case InterruptRecord.ContextSwitch:
            {
                var reason = (SwitchReason)r.Data0;
                var left = _pagingContext is not null && r.ContextId == DevicePagingQueue.ContextId ? _pagingContext : ContextById(r.ContextId);
                if (reason == SwitchReason.Empty && r.Data1 == 0) break; // stayed loaded, empty
                if (reason == SwitchReason.UserQueuePreempted)
                {
                    // Set aside for a user queue, reported as its return will be (SetAside).
                    if (left is not null && ReferenceEquals(left, _loaded) && left.Loaded) SetAside(left, r.Cycle);
                    break;
                }
                // Recovery's proof that the engine left a resetting context (VidSchScheduler.Recovery.cs): only this
                // driver requests a switch to idle, and each such write yields exactly one Requested→0 report.
                // Never beyond the idle switches written: a rebuild after lost reports (Resynchronize) may have counted
                // this one already (threaded mode: it can be raised while the rebuild reads the registers).
                if (reason == SwitchReason.Requested && r.Data1 == 0 && _idleSwitchesConfirmed < _idleSwitchesIssued) _idleSwitchesConfirmed++;
                Switched(left, r.Data1 == 0 ? null : _bySaveArea.GetValueOrDefault(r.Data1), reason, r.Cycle);
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

    /// <summary>
    /// The interrupt controller dropped records (its information queue overflowed, native-layout.md §9.1): rebuilds what
    /// this scheduler learns from CONTEXT_SWITCH and fault reports from the engine's registers and the save areas, then
    /// runs a scheduling pass. Without it a dropped report leaves the scheduler waiting for ever — a switch it requested
    /// never confirmed, an idle switch a reset waits for (invariant R2) never counted, a faulted context never reset —
    /// and the engine idles with work queued (docs/containment.md "An interrupt flood").
    /// </summary>
    internal void Resynchronize()
    {
        lock (KernelLock)
        {
            ulong now = _bus.Cycle;
            uint status = _bus.ReadRegister32(_engineBase + Coproc.Fast.Device.Engines.EngineRegisters.Status);
            ulong current = _bus.ReadRegister(_engineBase + CurrentContextRegister);
            // CONTEXT_SWITCH takes effect when written unless a disable-context-switch region defers it (§10.1): with none
            // deferred, every switch this driver wrote has happened, idle switches included, in write order.
            if ((status & Coproc.Fast.Device.Engines.EngineRegisters.StatusSwitchDeferred) == 0)
            {
                _switchPending = false;
                _idleSwitchesConfirmed = _idleSwitchesIssued;
            }
            // The engine changes NEXT_CONTEXT by itself (a yield makes the yielding context NEXT, a fault clears it).
            _nextRegister = _bus.ReadRegister(_engineBase + NextContextRegister);
            // What the engine has loaded. A save area that is none of this scheduler's is a user queue running while the
            // loaded kernel context is set aside (§13.7): that context is still the loaded one from the driver's side.
            if (current == 0 || _bySaveArea.TryGetValue(current, out _))
            {
                var to = current == 0 ? null : _bySaveArea[current];
                if (!ReferenceEquals(to, _loaded))
                    Switched(_loaded, to, (SwitchReason)_bus.ReadRegister32(_engineBase + Coproc.Fast.Device.Engines.EngineRegisters.LastSwitchReason), now);
                else if (to is { Loaded: false })
                {
                    // Back from a set-aside whose return report was lost: its clock runs again (invariant R1).
                    to.Loaded = true;
                    to.LoadedAt = now;
                }
            }
            else if (_loaded is { Loaded: true } setAside)
            {
                // A user queue holds the engine while the loaded context is set aside (§13.7), its UserQueuePreempted report
                // lost: as that report would, the context stays the loaded one but its time off the engine is not charged
                // (invariant R1) — else a healthy context would be reset for a timeout.
                SetAside(setAside, now);
            }
            // Fault reports: a context with work whose engine copy (loaded) or save area (not loaded) says it faulted is
            // reset as its report would have made it. The save area is rewritten without the flag when a reset finishes.
            var mem = _bus.Memory;
            foreach (var c in _contexts)
            {
                if (c.Resetting || c.InFlight.Count == 0) continue;
                bool faulted = current == c.SaveArea.Encoded
                    ? (status & Coproc.Fast.Device.Engines.EngineRegisters.StatusFaulted) != 0
                    : (mem.Local.Ref<ContextSaveArea>(c.SaveArea.Offset).Flags & ContextFlags.Faulted) != 0;
                if (!faulted) continue;
                Emit(ScheduleEventKind.ContextFault, c.Id, c.InFlight[0].Buffer?.SubmissionId ?? 0, 0, 0);
                BeginReset(c, SubmissionStatus.FailedFault);
            }
            Pump();
        }
    }

    // The engine switched from left to `to` (a CONTEXT_SWITCH report, or the rebuild after lost reports): left's time on the
    // engine ends, `to` is what this driver has loaded now.
    private void Switched(VidSchContext? left, VidSchContext? to, SwitchReason reason, ulong cycle)
    {
        if (left is not null && ReferenceEquals(left, _loaded) && left.Loaded) Unload(left, cycle);
        if (Auditor is not null) Diagnostics.SchedulingAuditor.OnSwitch(AuditorState!, left, to, cycle);
        _loaded = to;
        if (to is null) return;
        to.Loaded = true;
        to.LoadedAt = cycle;
        to.LoadOrder = ++_loadTicket;
        if (to.HoldsMemory && to.MemoryArrival == ulong.MaxValue) // its memory arrived (invariant E, Lending.cs)
            to.MemoryArrival = cycle > to.MemorySince ? cycle - to.MemorySince : 0;
        Emit(ScheduleEventKind.ContextSwitched, to.Id, 0, (ulong)reason, left is null ? 0 : (ulong)left.Id);
    }

    // One arbitration (native-layout.md §13.7): a user queue outranks the loaded context (or it is an equal's turn). The
    // engine set it aside and resumes it by itself, so it stays what this driver has loaded, but its time off the engine
    // is not charged (invariant R1).
    private void SetAside(VidSchContext c, ulong cycle)
    {
        if (Auditor is not null) Diagnostics.SchedulingAuditor.OnSwitch(AuditorState!, c, null, cycle);
        Unload(c, cycle);
        c.UserQueuePreemptions++;
        Emit(ScheduleEventKind.ContextPreempted, c.Id, c.InFlight.Count > 0 ? c.InFlight[0].Buffer?.SubmissionId ?? 0 : 0, 0);
    }

    private void Unload(VidSchContext c, ulong cycle)
    {
        c.Loaded = false;
        // Timeout detection counts engine time only, and only after the last progress (invariant R1a, Recovery.cs).
        ulong from = Math.Max(c.LoadedAt, c.ProgressAt);
        if (cycle > from) c.StallCycles += cycle - from;
        // §5.5 compensation: time not used out of the slice is owed, time overdrawn (a non-interruptible paging
        // buffer held the engine) is taken from the next slice; bounded to one quantum either way.
        long used = (long)(cycle - c.LoadedAt);
        if (c.HoldsMemory && cycle > Math.Max(c.LoadedAt, c.MemorySince)) c.MemoryRunCycles += cycle - Math.Max(c.LoadedAt, c.MemorySince);
        long q = (long)_o.QuantumCycles;
        c.QuantumCredit = Math.Clamp(c.QuantumCredit + q - used, -q / 2, q);
        if (c.InFlight.Count == 0) c.QuantumCredit = 0; // nothing left to compensate
    }

    private bool Retire()
    {
        var mem = _bus.Memory;
        // The paging queue's executed buffers and the memory they vacated (SchedulerGroup.RetirePaging).
        _group.RetirePaging();
        bool any = false;
        foreach (var c in _contexts)
        {
            if (c.InFlight.Count == 0) continue;
            ulong done = Volatile.Read(ref mem.System.Ref<ulong>(c.Fence.Offset));
            int before = c.InFlight.Count;
            while (c.InFlight.Count > 0 && (long)(done - c.InFlight[0].Fence) >= 0)
            {
                var f = c.InFlight[0];
                c.InFlight.RemoveAt(0);
                _inFlightCount--;
                any = true;
                MarkProgress(c); // progress: the timeout counts from here
                if (f.Last && f.Buffer is { } b)
                {
                    c.Finish(b.SubmissionId, SubmissionStatus.Completed);
                    Emit(ScheduleEventKind.BufferCompleted, c.Id, b.SubmissionId, f.Fence);
                }
                ReturnChunk(f);
            }
            if (c.InFlight.Count < before) c.ParkedForOwnRetirement = false; // its own pinned memory shrank: retry
            if (c.InFlight.Count == 0 && c.ParkedChunk is null && c.Queued == 0) c.HoldsMemory = false; // its turn ends (invariant E)
            UnparkIfRoom(c);
            // Seed 001 §11: the event history is walked against the fence read from memory (the DMA-buffer-end event
            // returns the buffer to its pool).
            WalkEventHistory(c, done);
        }
        return any;
    }

    /// <summary>Writes the prepared chunk into its context's ring (its paging buffer is in the paging queue already).</summary>
    /// <remarks>
    /// Head-of-line invariant: the single preparation slot is never held by a chunk whose own context keeps it out of
    /// the ring. A prepared chunk refused by the in-flight bound (its context already has work in the hardware — a hung
    /// or slow context fills the bound) is parked on its context and the slot serves the next buffer; the context's
    /// later buffers are not prepared until its parked chunk is launched (StartPreparation), so its chunks stay in order.
    /// </remarks>
    private bool TryLaunch()
    {
        bool launched = _parkedChunkCount > 0 && TryLaunchParked();
        if (_prepared is not { } p) return launched;
        var ctx = p.Context;
        var chunk = p.Chunk;
        if (ctx.Resetting) return launched;
        // The in-flight bound (running + next) is per context: another context's chunks never keep this one out, so
        // a higher level refills its ring while a lower one holds chunks (seed 001 §5.5 strict priority), and a
        // context keeps its next short buffer in its ring for the rest of its quantum (fair share by time). When its
        // own bound keeps the chunk out, it is parked on the context and the slot moves on (head-of-line invariant).
        if (ctx.InFlight.Count >= _o.MaxInFlight || HeldForBufferBoundary(ctx))
        {
            ctx.ParkedChunk = chunk;
            _parkedChunkCount++;
            _prepared = null;
            return true;
        }
        if (!LaunchChunk(ctx, chunk)) return launched;
        _prepared = null;
        return true;
    }

    /// <summary>
    /// Without mid-buffer preemption (<see cref="VidSchOptions.Preemption"/> off) the engine changes context only when
    /// the loaded ring runs empty, so feeding the loaded context more work while a context that should go next (higher
    /// priority, or an equal once the quantum is spent — seed 001 §5.5) waits would keep that ring from ever emptying:
    /// its next chunk waits, parked, until the buffer boundary has handed the engine on.
    /// </summary>
    private bool HeldForBufferBoundary(VidSchContext ctx)
    {
        if (_o.Preemption || !ReferenceEquals(ctx, _loaded) || ctx.InFlight.Count == 0) return false;
        return Best(exclude: ctx) is { } next && (next.Priority > ctx.Priority || (next.Priority == ctx.Priority && QuantumSpent(ctx)));
    }

    private bool TryLaunchParked()
    {
        bool any = false;
        foreach (var c in _contexts)
        {
            if (c.ParkedChunk is not { } chunk || c.Resetting) continue;
            if (c.InFlight.Count >= _o.MaxInFlight || HeldForBufferBoundary(c)) continue;
            if (!LaunchChunk(c, chunk)) continue;
            c.ParkedChunk = null;
            _parkedChunkCount--;
            any = true;
        }
        return any;
    }

    // Writes one prepared chunk (its paging buffer already in the paging queue) into its context's ring.
    private bool LaunchChunk(VidSchContext ctx, InFlightChunk chunk)
    {
        var b = chunk.Buffer;
        if (b is not null && SyncBlocksLaunch(ctx, b)) return false; // a wait/signal issued before it goes first
        ulong fence = ctx.FenceIssued + 1;
        chunk.Fence = fence;
        var w = new PacketWriter(_scratchRing);
        // The chunk's addresses assume the moves recorded before it: it waits on the device for the paging queue's fence
        // value it depends on (its own paging buffer, the last move of what it references, paging still touching the
        // memory it uses; VidSchScheduler.Prepare.cs SetPagingWaits) unless already passed.
        WriteWaitForPaging(ref w, chunk);
        if (b is not null)
        {
            // §3.4: a later chunk first reprograms the resources bound at its start, at their current addresses.
            Span<uint> pair = stackalloc uint[2];
            foreach (var s in chunk.Setup)
            {
                // State, not an operand (VidSchScheduler.Prepare.cs): a binding whose allocation died meanwhile is skipped.
                if (!_vidmm.IsLive(s.Handle)) continue;
                ulong address = _rm.PatchAddress(s.Handle, 0);
                pair[0] = (uint)address;
                pair[1] = (uint)(address >> 32);
                w.WriteData(ctx.BindingTableKernelAddress + (ulong)s.ResourceId * 8, pair);
            }
            w.Indirect(b.KernelAddress + (ulong)chunk.Start * 4, (uint)(chunk.End - chunk.Start), privileged: true);
        }
        w.PrivilegedFence(ctx.Fence.Encoded, fence, interrupt: true);
        if (!TryWriteRing(ctx, w.WrittenSpan)) return false;
        if (ctx.InFlight.Count == 0) MarkProgress(ctx); // idle time before this work is no hang
        if (!ctx.HoldsMemory && !IsLending(ctx)) StartHolding(ctx); // its turn with this memory begins (Lending.cs, invariant E)
        ctx.FenceIssued = fence;
        ctx.InFlight.Add(chunk);
        _inFlightCount++;
        SyncOnLaunched(ctx, chunk);
        if (b is not null)
        {
            if (chunk.Last)
            {
                b.Status = DmaBufferStatus.Running;
                ctx.Queued--;
            }
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
    /// Chooses what the engine runs (seed 001 §5.5, §13; docs/scheduling-policy.md):
    /// strict priority — a context of higher priority with work in its ring preempts the loaded one at once
    /// (mid-buffer, through CONTEXT_SWITCH; the device saves it and it resumes exactly there later); among equals the
    /// loaded context keeps the engine until its quantum (plus compensation) is spent and another equal has work.
    /// NEXT_CONTEXT names where the engine goes by itself when the loaded ring runs empty: never a lower level while
    /// a higher one's buffer is on its way, and not another equal while the loaded context's own next buffer is on
    /// its way within its quantum ("pick the current context again").
    /// </summary>
    private void DriveEngine()
    {
        if (_switchPending) return;
        var cur = _loaded;
        if (PagingHasWork)
        {
            // §3.6, seed 001 behaviour 17: paging buffers are kernel work that later chunks (of every engine) wait on —
            // the paging queue's context runs now (a running context is switched out mid-buffer and resumes exactly
            // there) and, non-interruptible, to the end of its buffers. Only the paging engine has work here.
            if (!ReferenceEquals(cur, _pagingContext)) SwitchTo(_pagingContext);
            else SetNext(Best(exclude: null));
            return;
        }
        bool curHasWork = cur is not null && cur.InFlight.Count > 0 && !cur.Resetting;
        var other = Best(exclude: cur);
        int coming = ComingPriority();
        if (curHasWork)
        {
            var c = cur!;
            // A context the engine set aside for a user queue (not Loaded) is not charged a quantum meanwhile.
            if (_o.Preemption && other is not null && (other.Priority > c.Priority || (other.Priority == c.Priority && c.Loaded && QuantumSpent(c))))
            {
                c.Preemptions++;
                PreemptionCount++;
                Emit(ScheduleEventKind.ContextPreempted, c.Id, c.InFlight[0].Buffer?.SubmissionId ?? 0, (ulong)other.Id);
                SwitchTo(other);
                return;
            }
            SetNext(NextAfter(c, other, coming));
            return;
        }
        // The loaded context has nothing in its ring. Hand the engine on unless a higher level's buffer is being
        // prepared (it takes the engine in a few thousand cycles; a lower context would only be preempted again), or
        // the loaded context's own next buffer is on its way and its quantum is not spent: then an equal does not get
        // the engine for a whole quantum each time a short buffer retires before the next one is prepared (seed 001
        // §5.5: "pick the current context again"; the bad guess of handing it on is what fair share by time forbids).
        // Invariant: the engine waits so only while that buffer is being prepared or queued for preparation (so it
        // reaches the ring without the device running first, or its failed preparation re-runs this decision), and at
        // most until the quantum ends (the quantum timer re-runs this decision, ArmTimer). In threaded mode nothing runs
        // meanwhile, so the device parks and its clock stands still: the host's time between the short buffer's end and
        // the next launch is not charged to the context's quantum (Machine.Threaded.cs; docs/scheduling-policy.md rule 2).
        if (other is not null && other.Priority >= coming)
        {
            if (!KeepForOwnNextBuffer(cur, other)) SwitchTo(other);
        }
        else if (cur is not null && cur.Resetting) SwitchTo(null);
    }

    // The loaded context `cur`, its ring empty, has its next buffer on its way (queued for preparation, being prepared or
    // prepared) and quantum left, and `other` is not of higher priority: keep the engine for it (DriveEngine).
    private bool KeepForOwnNextBuffer(VidSchContext? cur, VidSchContext other) =>
        cur is not null && cur.Loaded && !cur.Resetting && cur.Queued > 0 && !_preparationDeferred
        && other.Priority <= cur.Priority && !QuantumSpent(cur);

    /// <summary>Where the engine may go by itself when <paramref name="c"/>'s ring runs empty (class remarks of DriveEngine).</summary>
    private VidSchContext? NextAfter(VidSchContext c, VidSchContext? other, int coming)
    {
        if (other is null || other.Priority < coming) return null;
        if (c.Queued > 0 && (other.Priority < c.Priority || !QuantumSpent(c))) return null;
        return other;
    }

    /// <summary>
    /// The highest priority of work that will reach a ring without any context running first: the buffer being
    /// prepared and the ready queue's head (when preparation is not deferred behind pinned chunks). Int.MinValue: none.
    /// </summary>
    private int ComingPriority()
    {
        if (_preparationDeferred) return int.MinValue;
        int p = int.MinValue;
        if (_preparing is { } b && !((VidSchContext)b.Owner!).Resetting) p = b.Priority;
        if (_prepared is null && _ready.Count > 0) p = Math.Max(p, _ready[0].Priority);
        return p;
    }

    private bool QuantumSpent(VidSchContext c) =>
        (long)(_bus.Cycle - c.LoadedAt) >= (long)_o.QuantumCycles + c.QuantumCredit;

    private VidSchContext? Best(VidSchContext? exclude)
    {
        VidSchContext? best = null;
        foreach (var c in _contexts)
        {
            // A context lending its memory is never named (VidSchScheduler.Lending.cs, invariant L).
            if (ReferenceEquals(c, exclude) || c.InFlight.Count == 0 || c.Resetting || IsLending(c)) continue;
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
        // Never a context that would only stall on its paging WAIT (WaitsForPaging): a loaded context stalled on a WAIT
        // yields to NEXT_CONTEXT, and two waiting contexts would hand the engine back and forth until the paging ran.
        if (target is not null && WaitsForPaging(target)) target = null;
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
        if (_loaded is { } l && (l.InFlight.Count > 0 || (l.Queued > 0 && !l.Resetting)))
        {
            ulong end = l.LoadedAt + (ulong)Math.Max(1, (long)_o.QuantumCycles + l.QuantumCredit);
            if (end > now) at = end;
        }
        at = Math.Min(at, TimeoutTimerCycle(now));
        if (_turnRetryAt > now) at = Math.Min(at, _turnRetryAt); // an equal holder's turn ends (Lending.cs)
        if (at == ulong.MaxValue) return;
        if (_timerArmedAt <= at && _timerArmedAt > now) return;
        _timerArmedAt = at;
        Host?.RequestTimer(at);
    }

}
