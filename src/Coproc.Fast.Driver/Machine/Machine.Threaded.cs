using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver;

public sealed partial class Machine
{
    private readonly PostedDeviceBus? _posted;
    private readonly SemaphoreSlim _workerSignal = new(0);
    private readonly SemaphoreSlim _schedulerSignal = new(0);
    private readonly System.Collections.Concurrent.ConcurrentQueue<InterruptRecord> _delivered = new();
    private Thread? _deviceThread, _schedulerThread, _workerThread;
    private volatile bool _stop;
    private long _timerAt = long.MaxValue;
    private Exception? _failure;

    /// <summary>
    /// Threaded mode: starts the device thread (steps freely; applies posted register writes between steps; hands
    /// interrupt records to the scheduler — no lock on its loop), the scheduler thread (interrupts and timers) and
    /// the preparation worker thread. Submitters may call <see cref="Kmd"/> from any thread.
    /// </summary>
    public void Start()
    {
        ThrowIfDisposed();
        if (_posted is null) throw new InvalidOperationException("this machine runs in deterministic mode");
        if (_deviceThread is not null) return;
        // No active time is counted before the scheduler thread has seen the device's records (VidSchScheduler.ObserveThrough).
        foreach (var b in _backEnds) b.ObserveThrough(_posted.Cycle);
        _deviceThread = new Thread(() => Guard(DeviceLoop)) { IsBackground = true, Name = "coproc-device" };
        _schedulerThread = new Thread(() => Guard(SchedulerLoop)) { IsBackground = true, Name = "vidsch-scheduler" };
        _workerThread = new Thread(() => Guard(WorkerLoop)) { IsBackground = true, Name = "vidsch-worker" };
        _deviceThread.Start();
        _schedulerThread.Start();
        _workerThread.Start();
    }

    /// <summary>The exception that stopped a machine thread (threaded mode), or null.</summary>
    public Exception? ThreadFailure => Volatile.Read(ref _failure);

    /// <summary>Threaded mode: waits (spin, then block in short sleeps) until the scheduler is idle or the timeout passes.</summary>
    /// <exception cref="InvalidOperationException">A machine thread failed (see <see cref="ThreadFailure"/>).</exception>
    public bool WaitUntilIdle(TimeSpan timeout)
    {
        ThrowIfDisposed();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var spin = new SpinWait();
        while (sw.Elapsed < timeout)
        {
            if (ThreadFailure is { } f) throw new InvalidOperationException("a machine thread failed", f);
            if (AllIdle) return true;
            if (spin.NextSpinWillYield) Thread.Sleep(1);
            spin.SpinOnce();
        }
        return AllIdle;
    }

    // A failing thread stops the machine and reports instead of tearing the process down.
    private void Guard(Action loop)
    {
        try { loop(); }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, e, null);
            _stop = true;
        }
    }

    private void DeviceLoop()
    {
        var posted = _posted!;
        var spin = new SpinWait();
        while (!_stop)
        {
            long handledSeen = Volatile.Read(ref _handledThrough);
            bool poked = posted.ApplyPosted();
            poked |= ServiceBackEndsOnDeviceThread([]);
            bool work = poked || AnyLoadedWithWork() || Display.WaitingForVsync || BackEndTimerPending();
            bool lagging = work && SchedulerLagging(handledSeen);
            WaitingForDriver = lagging;
            bool stepped = work && !lagging;
            if (stepped)
            {
                spin.Reset();
                posted.Step(Options.StepCycles);
            }
            // Interrupts are drained whether or not the device stepped: a posted write applied above (a CONTEXT_SWITCH to
            // idle for a reset, say) raises its report at once, and a device waiting for the driver that left it on the
            // line would park with nothing to do while the driver waits for that report (invariant T2).
            bool raised = InterruptServiceRoutine.LineAsserted(posted);
            if (raised)
            {
                int n = InterruptServiceRoutine.Drain(posted, ref _records);
                // A back end serviced on the device thread (the run lists) takes its records here; every record also goes
                // to the scheduler thread for the other back ends, the display and the interrupt tap.
                ServiceBackEndsOnDeviceThread(_records.AsSpan(0, n));
                for (int i = 0; i < n; i++) _delivered.Enqueue(_records[i]);
            }
            bool timerDue = stepped && TimerDueUnsignaled();
            if (raised || timerDue) _unhandled.Enqueue((long)Device.Cycle);
            if (stepped || raised)
            {
                // Published only after the step's interrupt records are queued: a scheduler that reads cycle C and then
                // drains the queue has seen every record up to C (the horizon of VidSchScheduler.ObserveThrough).
                posted.Publish(Device.Cycle);
                if (raised || timerDue) _schedulerSignal.Release();
                continue;
            }
            // Idle, or waiting for the scheduler thread: spin briefly, then park until a register write, a ring update,
            // the scheduler's hand-back or a ring-3 doorbell store (docs/performance.md: wake-ups cost ~40 µs).
            if (!spin.NextSpinWillYield) { spin.SpinOnce(); continue; }
            if (!work)
            {
                if (!posted.ApplyPostedPeek()) IdleWait(posted);
                continue;
            }
            // Work, but waiting for a driver thread (invariant T1): park until its hand-back or a posted write. Not on the
            // doorbell line: a pending doorbell keeps that raised, and the wait would turn into a spin.
            posted.Wake.Reset();
            if (!posted.ApplyPostedPeek() && SchedulerLagging(Volatile.Read(ref _handledThrough))) posted.Wake.Wait(5);
        }
    }

    // Invariant: the device thread's idle wait (no work at all) ends at any event that gives the device work — a posted
    // write or kick, a driver thread's hand-back (PostedDeviceBus.WakeDevice) and a ring-3 doorbell store — because it is
    // the doorbell block's own host wait (DoorbellAperture.WaitForDoorbell: what an ioeventfd gives a KVM host's device thread,
    // docs/embedding.md), which every one of them raises. A raise between the checks above and the wait is kept by the
    // line until this wait consumes it, so none is lost. The park is bounded only as a safety net.
    private void IdleWait(PostedDeviceBus posted)
    {
        _idleWaiting = true;
        bool raised = posted.Doorbells.WaitForDoorbell(spinIterations: 0, IdleParkMilliseconds);
        _idleWaiting = false;
        // Ended by a doorbell: the line is up and the doorbell vector holds a ring (WORK_PENDING bit 8, native-layout.md §6.1).
        if (raised && (posted.ReadRegister32(MmioMap.DeviceBase + Coproc.Fast.Device.Core.DeviceRegisters.WorkPending)
                & Coproc.Fast.Device.Core.DeviceRegisters.WorkPendingUserQueues) != 0)
            Interlocked.Increment(ref _doorbellWakes);
    }

    // The safety net of IdleWait (every wake-up source raises the line).
    private const int IdleParkMilliseconds = 5;

    private volatile bool _idleWaiting;
    private long _doorbellWakes;

    /// <summary>Threaded mode: the device thread is parked in its idle wait now; for tests.</summary>
    internal bool DeviceThreadIdleWaiting => _idleWaiting;

    /// <summary>Threaded mode: idle waits of the device thread that a ring-3 doorbell store ended; for tests.</summary>
    internal long DoorbellWakes => Interlocked.Read(ref _doorbellWakes);

    // Bounded lag (invariant T1): the device clock runs at most MachineOptions.SchedulerLagCycles past an interrupt or a
    // due timer the scheduler thread has not handled yet, or a preparation request the worker thread has not finished.
    // The driver's decisions and work (a quantum's end, the context a CONTEXT_SWITCH report names, a retirement that
    // refills a ring, the next short buffer's preparation) then land within a bounded stretch of device time whatever
    // the host does to its threads: without this bound a descheduled scheduler or worker thread let the free-running
    // device run an equal for a million cycles or more (five quanta) while a short-buffer context's next buffer waited
    // for a host thread, and fair share by time depended on the host's load. `_unhandled` (device thread only) holds
    // the cycle of each step that raised records or found the timer due; the scheduler thread publishes in
    // `_handledThrough` the horizon it has handled; `_preparationRequestedAt` (Machine.Engines.cs) the requests.
    // The bound is checked before each step and stamped with the cycle at the end of the step that raised, so the device
    // may run up to about SchedulerLagCycles + 2 × StepCycles past the event itself.
    // Invariant T2: interrupt records are drained every pass, stepped or not — a posted write the device applies while
    // it waits for the driver (a CONTEXT_SWITCH to idle for a reset) raises its report then, and the driver may be
    // waiting for exactly that report (a reset hung for ever before, found by review).
    private readonly Queue<long> _unhandled = new(64);

    /// <summary>
    /// For tests: runs on the scheduler thread after a pass that handled records or the timer, before it publishes the
    /// handled horizon — a test can hold the pass there until the device thread is waiting for the driver.
    /// </summary>
    internal Action? BeforeHandledPublishedForTests;

    /// <summary>Threaded mode: register writes are posted and not yet applied by the device thread; for tests.</summary>
    internal bool PostedWritesPending => _posted?.ApplyPostedPeek() ?? false;

    /// <summary>Threaded mode: the device has work but waits for a driver thread (invariant T1); for tests.</summary>
    internal volatile bool WaitingForDriver;

    /// <summary>Threaded mode: the device cycle the oldest unhandled interrupt, due timer or preparation request dates from; for tests.</summary>
    internal long OldestUnhandledCycle => OldestOutstanding();

    private long _handledThrough = -1;

    // The oldest event a driver thread still owes the device (long.MaxValue: none). `_unhandled` is the device thread's.
    private long OldestOutstanding()
    {
        long oldest = _unhandled.TryPeek(out long u) ? u : long.MaxValue;
        foreach (ref long at in _preparationRequestedAt.AsSpan()) oldest = Math.Min(oldest, Volatile.Read(ref at));
        return oldest;
    }

    private bool SchedulerLagging(long handled)
    {
        while (_unhandled.TryPeek(out long u) && u <= handled) _unhandled.Dequeue();
        long oldest = OldestOutstanding();
        return oldest != long.MaxValue && (long)Device.Cycle - oldest >= (long)Math.Min(Options.SchedulerLagCycles, long.MaxValue);
    }

    // Invariant: the device loop steps while any context the device holds — loaded, set aside for user queues, NEXT_CONTEXT,
    // a run-list entry, a pending list, a user queue, a latched flip — has work. The device answers that itself in WORK_PENDING
    // (native-layout.md §6.1), read through the register BAR like every other driver access; a check of the loaded context
    // alone parked the device while a kernel context set aside for a user queue still had ring work, which stopped the
    // device clock (timers never fired, healthy buffers were failed by timeout).
    // A latched flip (bit 9) is left to Display.WaitingForVsync, the driver's own view: with vsync off it would never clear.
    private bool AnyLoadedWithWork() =>
        (_posted!.ReadRegister32(MmioMap.DeviceBase + Coproc.Fast.Device.Core.DeviceRegisters.WorkPending)
            & ~Coproc.Fast.Device.Core.DeviceRegisters.WorkPendingFlipLatched) != 0;

    // The scheduler's timer (quantum ends, timeouts) fires at a device cycle, so the device thread wakes the scheduler
    // thread when its clock passes the armed cycle — once per armed value. Invariant: a quantum lasts its cycles of
    // device time, not "until the scheduler thread next wakes" (an interrupt or its 1 ms wall-clock poll, in which a
    // free-running device runs hundreds of thousands of cycles): without this, a context whose long buffer raises no
    // interrupt kept the engine for several quanta while short-buffer contexts were re-decided at every interrupt.
    private long _timerSignaledFor = long.MaxValue;

    private bool TimerDueUnsignaled()
    {
        long at = Interlocked.Read(ref _timerAt);
        if (at == long.MaxValue || (long)Device.Cycle < at || _timerSignaledFor == at) return false;
        _timerSignaledFor = at; // device thread only
        return true;
    }

    private bool IsMachineThread()
    {
        var t = Thread.CurrentThread;
        return ReferenceEquals(t, _deviceThread) || ReferenceEquals(t, _schedulerThread) || ReferenceEquals(t, _workerThread);
    }

    // A back end's own timer (the run lists' quantum) is armed: the device clock must keep moving to reach it (the
    // run-list back end only arms it while work exists, so an armed timer means work).
    private bool BackEndTimerPending()
    {
        foreach (var b in _backEnds)
            if (b.OwnTimerPending) return true;
        return false;
    }

    // Threaded mode, device thread, between steps: the back ends whose register traffic must happen here. True when one
    // did something (the device should step even if it looked idle).
    private bool ServiceBackEndsOnDeviceThread(ReadOnlySpan<InterruptRecord> records)
    {
        bool any = false;
        foreach (var b in _backEnds)
            if (b.ServicedOnDeviceThread) any |= b.ServiceOnDeviceThread(records, Device.Cycle);
        return any;
    }

    private void SchedulerLoop()
    {
        var batch = new InterruptRecord[64];
        while (!_stop)
        {
            _schedulerSignal.Wait(1);
            // Read before draining: every record up to this cycle is already queued (DeviceLoop publishes after queueing).
            ulong horizon = _posted!.Cycle;
            int n = 0;
            while (_delivered.TryDequeue(out var r))
            {
                if (n == batch.Length) Array.Resize(ref batch, n * 2);
                batch[n++] = r;
            }
            if (n > 0) DeliverInterrupts(batch.AsSpan(0, n));
            // Only once those records are delivered: a worker-thread pass that reads the new horizon holds the kernel
            // lock after the delivery released it, so it never counts active time the delivered records would end.
            foreach (var b in _backEnds) b.ObserveThrough(horizon);
            long at = Interlocked.Read(ref _timerAt);
            bool fired = false;
            if (at != long.MaxValue && (long)_posted!.Cycle >= at)
            {
                Interlocked.CompareExchange(ref _timerAt, long.MaxValue, at);
                // One timer for every back end: each re-runs its decision and re-arms what it still needs.
                foreach (var b in _backEnds) b.OnSharedTimer();
                fired = true;
            }
            if (n > 0 || fired) BeforeHandledPublishedForTests?.Invoke();
            // Every record and due timer up to the horizon is handled (invariant T1): a device waiting for that goes on.
            // Woken whenever the horizon advances (cheap without a waiter): the records or timer this pass handled may
            // date from after its horizon, so the pass that finally covers them may have nothing left to handle.
            if ((long)horizon > Volatile.Read(ref _handledThrough))
            {
                Volatile.Write(ref _handledThrough, (long)horizon);
                _posted.WakeDevice();
            }
        }
    }

    private void WorkerLoop()
    {
        while (!_stop)
        {
            if (!_workerSignal.Wait(5)) continue;
            for (int e = 0; e < _preparationRequestedAt.Length; e++)
            {
                long seen = Volatile.Read(ref _preparationRequests[e]);
                if (seen == _preparationsServed[e]) continue;
                _schedulers[e]!.RunPreparation();
                _preparationsServed[e] = seen;
                // Served through `seen` (the preparation and its launch are done): the stamp goes, and a request made
                // meanwhile is stamped again, so the device waits for its run too (invariant T1). Stamping only when
                // the preparation is done, not when it starts, keeps a worker slowed down mid-preparation (descheduled,
                // or compiling on first use) from letting the device run an equal meanwhile.
                Interlocked.Exchange(ref _preparationRequestedAt[e], long.MaxValue);
                if (Volatile.Read(ref _preparationRequests[e]) != seen)
                    Interlocked.CompareExchange(ref _preparationRequestedAt[e], (long)_posted!.Cycle, long.MaxValue);
                _posted!.WakeDevice();
            }
        }
    }

    private void SignalWorker() => _workerSignal.Release();

    private void SetThreadedTimer(ulong cycle) => ArmEarliest(ref _timerAt, cycle);

    // Arms a threaded-mode timer slot (long.MaxValue: none) at `cycle` unless an earlier one is armed. An earlier timer
    // is kept even once it has expired but not fired yet: replacing it with a later one would postpone the quantum
    // ends and timeouts it stood for (one timer serves several requesters; firing re-runs all of them, so the later
    // request is re-armed then).
    internal static void ArmEarliest(ref long slot, ulong cycle)
    {
        long c = (long)Math.Min(cycle, long.MaxValue - 1);
        long cur;
        do
        {
            cur = Interlocked.Read(ref slot);
            if (cur <= c && cur != long.MaxValue) return;
        } while (Interlocked.CompareExchange(ref slot, c, cur) != cur);
    }

    /// <summary>The cycle the shared threaded-mode timer fires at (long.MaxValue: none); for tests.</summary>
    internal long PendingTimerCycle => Interlocked.Read(ref _timerAt);

    /// <summary>Publishes a device cycle to the posted bus as the device thread does; for tests of an unstarted machine.</summary>
    internal void PublishCycleForTest(ulong cycle) => _posted!.Publish(cycle);

    private void StopThreads()
    {
        _stop = true;
        _posted?.WakeDevice();
        _deviceThread?.Join(2000);
        _schedulerThread?.Join(2000);
        _workerThread?.Join(2000);
    }
}
