using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Machine;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.Advanced;

/// <summary>
/// The advanced model's composition root: a <see cref="Coprocessor"/>, VidMm, a residency manager whose evictions
/// invalidate VAs, and the <see cref="AdvancedScheduler"/>, run deterministically on the device clock. Driver work —
/// interrupt service (after <see cref="AdvancedOptions.InterruptLatencyCycles"/>), the paging thread (after
/// <see cref="AdvancedOptions.PagingServiceCycles"/>) and the quantum timer — are events ordered by (cycle, sequence);
/// between events the device is stepped while it has work. One thread: same inputs ⇒ same bytes and event log. The
/// basic model's <see cref="CoprocMachine"/> is untouched; this is a second root beside it.
/// </summary>
public sealed class AdvancedMachine : IDisposable, IAdvancedSchedulerHost
{
    private readonly PriorityQueue<EventKind, (ulong Cycle, long Seq)> _events = new();
    private InterruptRecord[] _records = new InterruptRecord[64];
    private long _seq;
    private bool _isrPending;
    private bool _disposed;
    private bool _kicked;

    /// <summary>Builds the machine.</summary>
    public AdvancedMachine(AdvancedOptions? options = null)
    {
        Options = options ?? new AdvancedOptions();
        Device = new Coprocessor(Options.Device);
        try
        {
            VidMm = VideoMemoryManager.ForDevice(Device);
            Residency = new ResidencyManager(VidMm);
            Scheduler = new AdvancedScheduler(Options, VidMm, Residency, () => Device.Cycle) { Host = this };
        }
        catch
        {
            Device.Dispose();
            throw;
        }
    }

    /// <summary>Configuration.</summary>
    public AdvancedOptions Options { get; }

    /// <summary>The device.</summary>
    public Coprocessor Device { get; }

    /// <summary>VidMm.</summary>
    public VideoMemoryManager VidMm { get; }

    /// <summary>The residency manager.</summary>
    public ResidencyManager Residency { get; }

    /// <summary>The scheduler.</summary>
    public AdvancedScheduler Scheduler { get; }

    /// <summary>Virtual time.</summary>
    public ulong Now => Device.Cycle;

    /// <summary>Interrupt batches handled.</summary>
    public long InterruptBatches { get; private set; }

    /// <summary>Runs until the scheduler is idle or <paramref name="maxCycles"/> pass; true when idle.</summary>
    public bool RunUntilIdle(ulong maxCycles = 2_000_000_000) => RunUntil(() => Scheduler.IsIdle && !_isrPending, maxCycles);

    /// <summary>Runs until <paramref name="condition"/> holds (checked between steps and events) or the budget ends.</summary>
    public bool RunUntil(Func<bool> condition, ulong maxCycles = 2_000_000_000)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ulong until = Now + maxCycles;
        while (Now < until)
        {
            _kicked |= Scheduler.Poll();
            if (condition()) return true;
            if (!StepOnce(until)) break;
        }
        return condition();
    }

    /// <summary>Runs exactly <paramref name="cycles"/> of virtual time.</summary>
    public void RunFor(ulong cycles)
    {
        ulong until = Now + cycles;
        while (Now < until)
        {
            _kicked |= Scheduler.Poll();
            if (!StepOnce(until)) { Device.Step(until - Now); break; }
        }
    }

    // One driver event or one device step; false when nothing is left to do before `until`.
    private bool StepOnce(ulong until)
    {
        ulong now = Now;
        if (_events.TryPeek(out var ev, out var key) && key.Cycle <= now)
        {
            _events.Dequeue();
            Run(ev);
            return true;
        }
        ulong next = _events.Count > 0 ? key.Cycle : ulong.MaxValue;
        bool busy = _kicked || DeviceBusy();
        _kicked = false;
        if (!busy && (next == ulong.MaxValue || (ev == EventKind.Timer && _events.Count == 1 && Scheduler.IsIdle))) return false;
        ulong target = busy ? Math.Min(now + Options.StepCycles, next) : next;
        target = Math.Min(target, until);
        if (target <= now) return false;
        Device.Step(target - now);
        if (!_isrPending && InterruptServiceRoutine.LineAsserted(Device.Mmio))
        {
            _isrPending = true;
            Enqueue(EventKind.Interrupt, Now + Options.InterruptLatencyCycles);
        }
        return true;
    }

    private void Run(EventKind ev)
    {
        switch (ev)
        {
            case EventKind.Interrupt:
                _isrPending = false;
                int n = InterruptServiceRoutine.Drain(Device.Mmio, ref _records);
                InterruptBatches++;
                Scheduler.OnInterrupts(_records.AsSpan(0, n));
                if (InterruptServiceRoutine.LineAsserted(Device.Mmio))
                {
                    _isrPending = true;
                    Enqueue(EventKind.Interrupt, Now + Options.InterruptLatencyCycles);
                }
                break;
            case EventKind.Paging:
                Scheduler.RunPagingThread();
                break;
            case EventKind.Timer:
                Scheduler.OnTimer();
                break;
        }
    }

    // Busy: some engine has a loaded, runnable, non-empty context that is not stalled on a wait (time may jump otherwise).
    private bool DeviceBusy()
    {
        for (int e = 0; e < 5; e++)
        {
            uint s = Device.Mmio.Read32(MmioMap.EngineBase + (uint)e * 0x80 + 0x20);
            if ((s & 1) != 0 && (s & 2) != 0 && (s & 4) == 0 && (s & 8) == 0) return true;
        }
        return false;
    }

    private void Enqueue(EventKind ev, ulong cycle) => _events.Enqueue(ev, (cycle, ++_seq));

    void IAdvancedSchedulerHost.RequestPaging(ulong cycle) => Enqueue(EventKind.Paging, cycle);

    void IAdvancedSchedulerHost.RequestTimer(ulong cycle) => Enqueue(EventKind.Timer, cycle);

    void IAdvancedSchedulerHost.Kick() => _kicked = true;

    /// <summary>Frees device memory.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Device.Dispose();
    }

    private enum EventKind : byte { Interrupt, Paging, Timer }
}
