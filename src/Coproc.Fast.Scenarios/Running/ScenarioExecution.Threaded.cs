using System.Diagnostics;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Scenarios.Running;

internal sealed partial class ScenarioExecution
{
    /// <summary>
    /// Threaded mode: starts the machine's device, scheduler and preparation threads (<c>Machine.Start</c>) and
    /// plays the submission plan from this thread against the device clock as it runs — the emulated processes submit
    /// (ring 0 through the KMD, ring 3 through their doorbells), poll their
    /// ring-3 fences and present at vsync, as in deterministic mode — except that every context submits as fast as its
    /// <c>buffers_in_flight</c> allow (planned periods are not honoured: the device clock moves only while the device
    /// has work, so waiting for a planned cycle on an idle device would never end). The run ends
    /// at the scenario's duration, or earlier once every planned buffer has retired or failed, or at
    /// <paramref name="wallLimit"/> of host time (<see cref="Stop"/> says which). Returns the device cycles run.
    /// </summary>
    /// <exception cref="InvalidOperationException">A machine thread failed.</exception>
    public ulong ExecuteThreaded(IProgress<ScenarioProgress>? progress, TimeSpan wallLimit, CancellationToken cancellation)
    {
        ulong duration = _scenario.DurationCycles;
        var clock = new RunClock(_scenario.Options.VsyncPeriodCycles, duration);
        var waiting = new Queue<PlannedSubmission>[_submitted.Length];
        for (int c = 0; c < waiting.Length; c++) waiting[c] = new Queue<PlannedSubmission>();
        foreach (var p in _plan.Periodic) waiting[p.Context].Enqueue(p);
        var wall = Stopwatch.StartNew();
        var spin = new SpinWait();
        ulong counted = 0; // device cycles already added to coproc.device_cycles: the counter moves live, not only at the end
        Machine.Start();
        Stop = RunStop.Completed;
        while (true)
        {
            if (cancellation.IsCancellationRequested)
            {
                Stop = RunStop.Cancelled;
                break;
            }
            if (wall.Elapsed >= wallLimit)
            {
                Stop = RunStop.TimeLimit;
                break;
            }
            if (Machine.ThreadFailure is { } failure) throw new InvalidOperationException("a machine thread failed", failure);
            ulong now = Machine.Now;
            if (now >= duration) break;
            if (now > counted)
            {
                CoprocMetrics.DeviceCycles.Add((long)(now - counted));
                counted = now;
            }
            // Every context submits as fast as its buffers in flight allow (periods are not honoured: a stress run).
            bool progressed = false, planned = false;
            for (int c = 0; c < waiting.Length; c++)
            {
                var spec = _scenario.Contexts.ElementAt(c).Context;
                int limit = spec.Submission.BuffersInFlight <= 0 ? int.MaxValue : spec.Submission.BuffersInFlight;
                // A run-list display owner with n − 1 flips queued keeps its next frame until a vsync shows one (the
                // kernel path holds such a frame in its virtual ring; run-list buffers are the process's own): taking
                // it now would drop it, and every later frame with it, in the time the device needs to reach a vsync.
                while (waiting[c].Count > 0 && Outstanding(c) < limit && _va[c]?.WaitsForFlip != true)
                {
                    SubmitPlanned(waiting[c].Dequeue(), now);
                    progressed = true;
                }
                planned |= waiting[c].Count > 0;
            }
            foreach (int c in _plan.BackToBackContexts)
                RefillBackToBack(c, Math.Max(now, _scenario.Contexts.ElementAt(c).Context.Submission.StartCycle));
            foreach (var r3 in _ring3) r3?.Poll(now);
            foreach (var va in _va) va?.Poll(now);
            _adapter.Drain();
            AdvanceClock(ref clock, now, duration, progress, " (threaded)");
            if (!planned && BackToBackDone() && Idle()) break; // every planned buffer retired or failed
            if (progressed) spin.Reset();
            else spin.SpinOnce();
        }
        Machine.WaitUntilIdle(TimeSpan.FromSeconds(5));
        foreach (var r3 in _ring3) r3?.Poll(Machine.Now);
        foreach (var va in _va) va?.Poll(Machine.Now);
        _adapter.Drain();
        ulong end = Math.Min(Machine.Now, duration);
        if (end > counted) CoprocMetrics.DeviceCycles.Add((long)(end - counted));
        return end;
    }

    private long Outstanding(int c) => _ring0[c]?.Outstanding ?? _ring3[c]?.Outstanding ?? _va[c]?.Outstanding ?? 0;

    // Nothing queued in VidSch and no ring-3 submission outstanding (a waiting flip keeps the device stepping).
    private bool Idle()
    {
        if (!Machine.AllIdle) return false;
        foreach (var r0 in _ring0) if (r0 is not null && r0.Outstanding > 0) return false;
        foreach (var r3 in _ring3) if (r3 is not null && r3.Outstanding > 0) return false;
        foreach (var va in _va) if (va is not null && va.Outstanding > 0) return false;
        return true;
    }

    private bool BackToBackDone()
    {
        foreach (int c in _plan.BackToBackContexts)
            if (_submitted[c] < _plan.BackToBackLimit(c)) return false;
        return true;
    }
}
