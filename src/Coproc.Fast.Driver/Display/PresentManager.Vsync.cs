using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Display;

public sealed partial class PresentManager
{
    private const byte VsyncSource = 6; // native-layout.md §9: source 6, data0 = VSYNC_COUNT, data1 = CURRENT_SURFACE

    private readonly ISchedulerHost? _host;
    private (FlipPresenter Context, FlipChain Chain, PendingFlip Flip)? _latched; // the one vsync flip the display holds
    private ulong _timerAt;
    private volatile bool _waitingForVsync;

    /// <summary>
    /// True while a latched flip or held buffers wait for a vsync: read without the lock by a threaded machine's device
    /// thread, which then keeps its clock running to the vsync even with no engine busy.
    /// </summary>
    public bool WaitingForVsync => _waitingForVsync;

    /// <summary>Vsync interrupts seen.</summary>
    public long Vsyncs { get; private set; }

    /// <summary>
    /// True when nothing waits for a vsync: no latched flip and no held buffer (with a zero vsync period nothing ever
    /// will, so it is idle too).
    /// </summary>
    public bool IsIdle
    {
        get
        {
            lock (_lock) return IsIdleUnlocked;
        }
    }

    /// <summary>
    /// <see cref="IsIdle"/> without taking the kernel lock: for a caller that holds it, or for a deterministic machine,
    /// whose kernel state only its one stepping thread changes.
    /// </summary>
    internal bool IsIdleUnlocked
    {
        get
        {
            if (VsyncPeriod == 0) return true;
            if (_latched is not null) return false;
            foreach (var (_, chain) in _chains) if (chain.VirtualRing.Count > 0) return false;
            return true;
        }
    }

    /// <summary>
    /// The interrupt batch after the schedulers have seen it (machine's interrupt service), in raise order: a flip
    /// fence means that flip's FLIP executed, a vsync shows which surface is actually displayed. Then failed flips
    /// (context reset), the virtual rings (queued flips ≤ n − 2 releases them), and a timer for the next vsync.
    /// </summary>
    internal void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
    {
        lock (_lock)
        {
            foreach (var r in records)
            {
                if (r.Source == InterruptRecord.Fence && _byFence.TryGetValue(r.Data1, out var e)) Executed(e.Context, e.Chain, r.Data0, r.Cycle);
                else if (r.Source == VsyncSource) OnVsync(r.Data1, r.Cycle);
            }
            AfterBatch();
        }
    }

    /// <summary>Timer at a vsync: nothing to decide (the vsync interrupt does), but time had to reach it; re-arms.</summary>
    internal void OnTimer()
    {
        lock (_lock)
        {
            _timerAt = 0;
            ArmVsyncTimer();
        }
    }

    private void Executed(FlipPresenter ctx, FlipChain chain, ulong sequence, ulong cycle)
    {
        // Flips up to `sequence` executed, oldest first (a chain's flips execute in its order). Each decision may remove
        // entries, so the scan restarts; the handled flip is no longer Queued.
        for (int i = 0; i < chain.Pending.Count;)
        {
            var p = chain.Pending[i];
            if (p.Status != FlipStatus.Queued || (long)(sequence - p.Sequence) < 0) { i++; continue; }
            // Whatever the display had latched is replaced: by this vsync flip (§9.1 "only the last one"), or
            // dropped by this immediate flip (native-layout.md §12).
            if (_latched is { } old)
            {
                _latched = null;
                // Replaced by a vsync flip: the screen still shows what it showed, so the replaced flip stays counted
                // as queued (§9.3: the buffers behind it must not touch that surface yet) until the vsync that shows
                // its replacement decides it. Replaced by an immediate flip: the screen changed now.
                if (p.Kind == FlipKind.Vsync) old.Flip.Status = FlipStatus.Dropped;
                else Decide(old.Context, old.Chain, old.Flip, FlipStatus.Dropped, cycle);
            }
            if (p.Kind == FlipKind.Immediate)
            {
                DecideReplaced(cycle);
                Decide(ctx, chain, p, FlipStatus.Presented, cycle);
            }
            else
            {
                p.Status = FlipStatus.Latched;
                _latched = (ctx, chain, p);
            }
            i = 0;
        }
    }

    private void OnVsync(ulong displayed, ulong cycle)
    {
        Vsyncs++;
        FlipChain? shown = null;
        DecideReplaced(cycle);
        // §9.2: acknowledged only when CURRENT_SURFACE (carried by the vsync) is the flip's surface.
        if (_latched is { } l)
        {
            _latched = null;
            // Its fence came before this vsync in the queue, so it was latched in time: the display shows it unless a
            // later immediate change (a mode-set scan-out) replaced it — then it was never visible.
            if (l.Flip.Surface == displayed)
            {
                shown = l.Chain;
                Decide(l.Context, l.Chain, l.Flip, FlipStatus.Presented, cycle);
            }
            else Decide(l.Context, l.Chain, l.Flip, FlipStatus.Dropped, cycle);
        }
        // A frame not ready by its vsync: the context had a flip submitted whose FLIP had not executed, and none of
        // its flips became visible at this vsync.
        foreach (var (_, chain) in _chains)
        {
            if (ReferenceEquals(chain, shown)) continue;
            foreach (var p in chain.Pending)
                if (p.Status == FlipStatus.Queued) { chain.MissedVsyncs++; break; }
        }
    }

    /// <summary>A mode-set scan-out (SCANOUT_BASE) changed the screen: the latched and replaced flips were never shown.</summary>
    private void OnScanout()
    {
        ulong cycle = _bus.Cycle;
        if (_latched is { } l)
        {
            _latched = null;
            Decide(l.Context, l.Chain, l.Flip, FlipStatus.Dropped, cycle);
        }
        DecideReplaced(cycle);
        AfterBatch();
    }

    // Replaced vsync flips are decided once the screen changes (a vsync or an immediate flip).
    private void DecideReplaced(ulong cycle)
    {
        foreach (var (ctx, chain) in _chains)
            for (int i = 0; i < chain.Pending.Count;)
            {
                if (chain.Pending[i].Status == FlipStatus.Dropped) Decide(ctx, chain, chain.Pending[i], FlipStatus.Dropped, cycle);
                else i++;
            }
    }

    private void AfterBatch()
    {
        foreach (var (ctx, chain) in _chains)
        {
            // A reset context's flips never execute; the buffers held behind them fail with them (queued work).
            SubmissionStatus failed = SubmissionStatus.Unknown;
            for (int i = 0; i < chain.Pending.Count; i++)
            {
                var p = chain.Pending[i];
                if (p.Status != FlipStatus.Queued) continue;
                if (ctx.Failed(p.Id, out var s))
                {
                    failed = s;
                    Decide(ctx, chain, p, FlipStatus.Failed, _bus.Cycle);
                    i--;
                }
            }
            if (failed != SubmissionStatus.Unknown) ctx.FailHeld(failed);
            // §9.3: the virtual ring drains into the real ring once queued flips ≤ n − 2.
            if (chain.VirtualRing.Count > 0 && chain.Pending.Count <= chain.BufferCount - 2) ctx.ReleaseHeld();
        }
        ArmVsyncTimer();
    }

    private void Decide(FlipPresenter ctx, FlipChain chain, PendingFlip p, FlipStatus status, ulong cycle)
    {
        chain.Pending.Remove(p);
        switch (status)
        {
            case FlipStatus.Presented: chain.Presented++; break;
            case FlipStatus.Dropped: chain.Dropped++; break;
            case FlipStatus.Failed: chain.Failed++; break;
        }
        chain.Decide(p.Id, status);
        FlipCompleted?.Invoke(new FlipNotice(ctx.ContextId, p.Id, status, p.Surface, cycle));
        _flipPool.Push(p);
    }

    // Time must reach the next vsync while something waits for one (a latched flip, held buffers): ask for a timer.
    private void ArmVsyncTimer()
    {
        if (VsyncPeriod == 0) return;
        bool waiting = _latched is not null;
        foreach (var (_, chain) in _chains) waiting |= chain.VirtualRing.Count > 0;
        _waitingForVsync = waiting;
        if (!waiting || _host is null) return;
        ulong now = _bus.Cycle;
        ulong next = (now / VsyncPeriod + 1) * VsyncPeriod;
        if (_timerAt > now && _timerAt <= next) return;
        _timerAt = next;
        _host.RequestTimer(next);
    }
}
