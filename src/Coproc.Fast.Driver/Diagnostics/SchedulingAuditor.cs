using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>What the <see cref="SchedulingAuditor"/> found wrong in a run (docs/scheduling-policy.md "Auditor").</summary>
public enum SchedulingFindingKind : byte
{
    /// <summary>The engine ran nothing while work was queued or in a ring for longer than the idle threshold (seed 001 §13 starvation).</summary>
    IdleWithWork = 1,
    /// <summary>A context with work in its ring was not run for longer than the starvation threshold while an equal or lower priority ran.</summary>
    Starved,
    /// <summary>A context was reset as hung although it had not held the engine for the timeout since it last made progress.</summary>
    ResetWhileProgressing,
    /// <summary>A context still had buffers queued at the end of the run and had made no progress for longer than the starvation threshold.</summary>
    QueuedAtEnd,
}

/// <summary>One finding of the auditor.</summary>
/// <param name="Kind">What was found.</param>
/// <param name="Engine">The engine concerned.</param>
/// <param name="ContextId">The context concerned (−1: the engine as a whole).</param>
/// <param name="StartCycle">Device cycle at which the condition began.</param>
/// <param name="Cycles">How long it lasted (0 for a reset).</param>
/// <param name="Message">One line for a person.</param>
public readonly record struct SchedulingFinding(SchedulingFindingKind Kind, EngineKind Engine, int ContextId, ulong StartCycle, ulong Cycles, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Message;
}

/// <summary>Thresholds of the <see cref="SchedulingAuditor"/>.</summary>
public sealed record SchedulingAuditorOptions
{
    /// <summary>An idle-with-work stretch longer than this many quanta is reported. Default 2.</summary>
    public int IdleQuanta { get; init; } = 2;

    /// <summary>
    /// A context waiting longer than this many quanta per runnable context of its priority (round robin among k
    /// equals makes a context wait up to 2(k − 1) quanta with compensation) while an equal or lower priority runs is
    /// reported as starved. Default 4.
    /// </summary>
    public int StarvationQuanta { get; init; } = 4;

    /// <summary>Upper bound of the quantum the thresholds use (a run without preemption has an unbounded quantum). Default 10 M cycles.</summary>
    public ulong MaxQuantumCycles { get; init; } = 10_000_000;

    /// <summary>
    /// Thresholds for threaded runs: the device clock runs free while the scheduler thread waits for the host to run it
    /// (milliseconds of device time on a loaded host), so only stretches ten times longer are reported.
    /// </summary>
    public static SchedulingAuditorOptions Threaded { get; } = new() { IdleQuanta = 20, StarvationQuanta = 40 };
}

/// <summary>
/// Watches VidSch's scheduling decisions and reports runs that break the scheduling policy (docs/scheduling-policy.md):
/// an engine idle while runnable work is queued (seed 001 §13: starvation), a context runnable but not run for longer
/// than N quanta while an equal or lower priority runs (§5.5), a timeout reset of a context that had not held the engine
/// for the timeout since its last progress (a turn waited is not a hang), and buffers still queued at the end. Findings
/// are kept in <see cref="Findings"/> and, when a trace sink is given, emitted as instants on a "scheduling audit" track.
/// </summary>
/// <remarks>
/// Design: each attached scheduler calls the auditor at the end of every scheduling pass, under its kernel lock, with
/// its state after the decision; that state holds until the next pass (the next interrupt, timer or submission), so
/// the time between two passes is charged to it. Costs nothing when no auditor is attached (one null test per pass).
/// Ring-3 user queues are scheduled by the device's scheduling core: their end state is given through
/// <see cref="NoteOutstandingAtEnd"/>.
/// </remarks>
public sealed class SchedulingAuditor
{
    private readonly SchedulingAuditorOptions _o;
    private readonly ITraceSink? _sink;
    private readonly int _track = -1;
    private readonly List<SchedulingFinding> _findings = new();
    private readonly List<EngineState> _engines = new();
    private readonly List<RunListAudit> _runLists = new();

    /// <summary>Creates an auditor; findings also go to <paramref name="trace"/> as instants when it is enabled.</summary>
    public SchedulingAuditor(SchedulingAuditorOptions? options = null, ITraceSink? trace = null)
    {
        _o = options ?? new SchedulingAuditorOptions();
        if (trace is { IsEnabled: true })
        {
            _sink = trace;
            _track = trace.DefineTrack(TraceTrackKind.Device, "scheduling audit", 0, "device");
        }
    }

    /// <summary>Names contexts in messages (default "context &lt;id&gt;").</summary>
    public Func<int, string>? ContextName { get; set; }

    /// <summary>Findings so far, in the order found.</summary>
    public IReadOnlyList<SchedulingFinding> Findings
    {
        get { lock (_findings) return _findings.ToArray(); }
    }

    /// <summary>Watches <paramref name="scheduler"/> from its next scheduling pass on.</summary>
    public void Attach(VidSchScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        lock (scheduler.KernelLock)
        {
            var e = new EngineState(scheduler) { MaxQuantum = _o.MaxQuantumCycles };
            _engines.Add(e);
            scheduler.Auditor = this;
            scheduler.AuditorState = e;
        }
    }

    /// <summary>
    /// Watches the advanced model's run-list back end from its next scheduling pass on: a context of its lists that is
    /// ready with work but not run for longer than the starvation threshold while an equal or lower priority runs on its
    /// engine is reported as <see cref="SchedulingFindingKind.Starved"/>, and an engine that runs nothing with work for
    /// longer than the idle threshold while such a context waits as <see cref="SchedulingFindingKind.IdleWithWork"/>
    /// (docs/scheduling-policy.md "Auditor").
    /// </summary>
    public void Attach(RunListScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        lock (scheduler.KernelLock)
        {
            var s = new RunListAudit(scheduler, Math.Clamp(scheduler.Options.QuantumCycles, 1, _o.MaxQuantumCycles));
            _runLists.Add(s);
            scheduler.Auditor = this;
            scheduler.AuditorState = s;
        }
    }

    /// <summary>
    /// A scheduling pass of a run-list back end ended at <paramref name="now"/> with <paramref name="running"/> (a save
    /// area, 0: idle) on <paramref name="engine"/> (under its kernel lock). A context is waiting for a turn while it is
    /// ready with work, it is not stopped on a WAIT that is still unsatisfied (then it waits for a fence), and a context
    /// of its own or a lower priority with work runs on its engine; VidMm's paging context and idle stand-ins outrank or
    /// are nobody, so their time is never a turn taken from it.
    /// </summary>
    /// <remarks>
    /// A context whose last turn ended on a WAIT is excluded only while that WAIT is unsatisfied now
    /// (<see cref="VaContext.WaitsForFence"/>, evaluated from its saved context once per pass and only for such a
    /// context): once its fence is written it waits for a turn like any other, although the device has not run it
    /// since. Until then it is also not runnable work for the idle check.
    /// </remarks>
    internal void OnRunListPass(RunListAudit s, EngineKind engine, ulong running, ulong now)
    {
        var contexts = s.Scheduler.Contexts;
        int runningPriority = int.MinValue;
        var equals = s.RunnableByPriority;
        equals.Clear();
        bool anyRunnable = false;
        foreach (var c in contexts)
        {
            if (c.Engine != engine) continue;
            if (!s.Contexts.TryGetValue(c, out var a)) s.Contexts.Add(c, a = new RunListContextAudit());
            a.Runnable = false;
            if (c.State != VaContextState.Ready || !c.HasWork) continue;
            if (c.SaveArea == running) runningPriority = c.Priority;
            if (c.SaveArea != running && c.WaitsForFence()) continue;
            a.Runnable = true;
            equals[c.Priority] = equals.GetValueOrDefault(c.Priority) + 1;
            anyRunnable = true;
        }
        // Idle with work: nothing with work runs (the engine is idle, on a context that ran empty, or on an idle
        // stand-in) while a context is ready with work that is not waiting for a fence; VidMm's paging context with work
        // is busy (it pages for someone).
        var idle = s.Idle(engine);
        bool isIdle = anyRunnable && runningPriority == int.MinValue && !s.Scheduler.IsBusyKernelContext(running);
        if (!isIdle) CloseRunListIdle(s, engine, idle, now);
        else if (idle.Start == ulong.MaxValue) idle.Start = now;
        foreach (var c in contexts)
        {
            if (c.Engine != engine) continue;
            var a = s.Contexts[c];
            bool waiting = a.Runnable && c.SaveArea != running && runningPriority != int.MinValue && runningPriority <= c.Priority;
            if (!waiting) CloseRunListWait(s, c, a, now);
            else
            {
                if (a.WaitStart == ulong.MaxValue) a.WaitStart = now;
                a.EqualsMax = Math.Max(a.EqualsMax, equals.GetValueOrDefault(c.Priority));
            }
        }
    }

    private void CloseRunListIdle(RunListAudit s, EngineKind engine, RunListIdle idle, ulong now)
    {
        if (idle.Start == ulong.MaxValue) return;
        ulong start = idle.Start, length = now > start ? now - start : 0;
        idle.Start = ulong.MaxValue;
        if (length <= s.Quantum * (ulong)Math.Max(1, _o.IdleQuanta)) return;
        Add(new SchedulingFinding(SchedulingFindingKind.IdleWithWork, engine, -1, start, length,
            $"{Engine(engine)} idle for {Ms(length)} from cycle {start:N0} while work was queued (run list)"));
    }

    private void CloseRunListWait(RunListAudit s, VaContext c, RunListContextAudit a, ulong now)
    {
        if (a.WaitStart == ulong.MaxValue) return;
        ulong start = a.WaitStart, length = now > start ? now - start : 0; // a run may end before the last pass's cycle
        int equals = Math.Max(1, a.EqualsMax);
        a.WaitStart = ulong.MaxValue;
        a.EqualsMax = 0;
        if (length <= s.Quantum * (ulong)Math.Max(1, _o.StarvationQuanta) * (ulong)equals) return;
        Add(new SchedulingFinding(SchedulingFindingKind.Starved, c.Engine, (int)c.Id, start, length,
            $"{Name((int)c.Id)}: runnable but not run on {Engine(c.Engine)} for {Ms(length)} from cycle {start:N0} while an equal or lower priority ran (run list)"));
    }

    /// <summary>Ends the run at <paramref name="cycle"/>: closes open stretches and reports contexts with buffers still queued.</summary>
    public void Finish(ulong cycle)
    {
        foreach (var s in _runLists)
            lock (s.Scheduler.KernelLock)
            {
                foreach (var (c, a) in s.Contexts) CloseRunListWait(s, c, a, cycle);
                foreach (var (engine, idle) in s.IdleByEngine) CloseRunListIdle(s, engine, idle, cycle);
            }
        foreach (var e in _engines)
        {
            lock (e.Scheduler.KernelLock)
            {
                Advance(e, cycle);
                CloseIdle(e, cycle);
                foreach (var c in e.Contexts) CloseWait(e, c, cycle);
                var contexts = e.Scheduler.Contexts;
                // A context the engine is executing at the end (a long buffer running when the run stops) is being
                // served, not left queued; one loaded but stalled on a WAIT is not (the engine's STATUS tells them apart).
                bool executing = e.Scheduler.LoadedContextExecuting;
                // Equals with work left share the engine round robin: the threshold grows with their number.
                var competing = e.RunnableByPriority;
                competing.Clear();
                foreach (var ctx in contexts)
                    if (ctx.Submitted - ctx.Completed - ctx.Failed > 0) competing[ctx.Priority] = competing.GetValueOrDefault(ctx.Priority) + 1;
                for (int i = 0; i < e.Contexts.Count && i < contexts.Count; i++)
                {
                    var ctx = contexts[i];
                    var a = e.Contexts[i];
                    long outstanding = ctx.Submitted - ctx.Completed - ctx.Failed;
                    // Preempted while running since its last completion: a long buffer being served in turns, not stuck.
                    // A wait starts when the context's work became pending (its submission, OnSubmitted), not at its
                    // last progress: a context idle for long that submits at the end has waited no time.
                    ulong since = Math.Max(a.PendingSince, a.LastProgress);
                    if (outstanding > 0 && !a.PreemptedSinceProgress && !(executing && a.OnEngineSince != ulong.MaxValue))
                        NoteOutstanding(e.Engine, ctx.Id, Name(ctx.Id), outstanding, since, cycle,
                            e.Threshold(_o.StarvationQuanta) * (ulong)competing.GetValueOrDefault(ctx.Priority, 1));
                }
            }
        }
    }

    /// <summary>
    /// Reports a context the auditor does not watch (a ring-3 user queue) that still had <paramref name="outstanding"/>
    /// buffers at <paramref name="endCycle"/> and made no progress since <paramref name="sinceCycle"/>, when that is longer
    /// than the starvation threshold at <paramref name="quantumCycles"/> times <paramref name="competitors"/> (the queues of its
    /// priority on its engine that also had work left: they share the engine round robin).
    /// </summary>
    public void NoteOutstandingAtEnd(EngineKind engine, int contextId, string name, long outstanding, ulong sinceCycle, ulong endCycle,
        ulong quantumCycles, int competitors = 1)
    {
        ulong q = Math.Clamp(quantumCycles, 1, _o.MaxQuantumCycles);
        NoteOutstanding(engine, contextId, name, outstanding, sinceCycle, endCycle, q * (ulong)_o.StarvationQuanta * (ulong)Math.Max(1, competitors));
    }

    private void NoteOutstanding(EngineKind engine, int id, string name, long outstanding, ulong since, ulong end, ulong threshold)
    {
        if (outstanding <= 0 || end <= since || end - since <= threshold) return;
        Add(new SchedulingFinding(SchedulingFindingKind.QueuedAtEnd, engine, id, since, end - since,
            $"{name}: {outstanding} buffer(s) still queued at the end; no progress on {Engine(engine)} for the last {Ms(end - since)}"));
    }

    /// <summary>
    /// A buffer of <paramref name="context"/> was queued at <paramref name="now"/> (under the kernel lock): a context
    /// that had nothing outstanding starts waiting now — before the next scheduling pass sees the buffer.
    /// </summary>
    internal static void OnSubmitted(EngineState e, VidSchContext context, ulong now)
    {
        var contexts = e.Scheduler.Contexts;
        while (e.Contexts.Count < contexts.Count) e.Contexts.Add(new ContextAudit { LastProgress = now, PendingSince = now });
        for (int i = 0; i < contexts.Count; i++)
        {
            if (!ReferenceEquals(contexts[i], context)) continue;
            var a = e.Contexts[i];
            long outstanding = context.Submitted - context.Completed - context.Failed;
            if (outstanding > 0 && a.Outstanding <= 0) a.PendingSince = now;
            a.Outstanding = outstanding;
            return;
        }
    }

    /// <summary>A scheduling pass of <paramref name="e"/>'s scheduler ended at <paramref name="now"/> (under its kernel lock).</summary>
    internal void OnPass(EngineState e, ulong now, VidSchContext? loaded, bool engineBusy, VidSchContext? preparing = null, bool deferredForMemory = false)
    {
        Advance(e, now);
        var s = e.Scheduler;
        var contexts = s.Contexts;
        while (e.Contexts.Count < contexts.Count) e.Contexts.Add(new ContextAudit { LastProgress = now, PendingSince = now });

        // The state from now to the next pass.
        // Runnable work only: a context lending its memory to higher-priority work waits by policy (VidSchScheduler.Lending.cs).
        bool anyWork = s.HasRunnableWork;
        int loadedPriority = loaded is not null && loaded.InFlight.Count > 0 && !loaded.Resetting ? loaded.Priority : int.MinValue;
        for (int i = 0; i < contexts.Count; i++)
        {
            var c = contexts[i];
            var a = e.Contexts[i];
            if (c.Completed != a.Completed || c.Failed != a.Failed)
            {
                a.Completed = c.Completed;
                a.Failed = c.Failed;
                a.LastProgress = now;
                a.PreemptedSinceProgress = false;
            }
            // Engine progress as the timeout sees it (a chunk retired, a launch into an empty ring: the scheduler's
            // progress stamp): held time counts from there (OnSwitch, OnReset).
            if (c.ProgressAt != a.ProgressCycle)
            {
                a.ProgressCycle = c.ProgressAt;
                a.HeldSinceProgress = 0;
            }
            if (c.Preemptions != a.Preemptions)
            {
                a.Preemptions = c.Preemptions;
                a.PreemptedSinceProgress = true;
            }
            long outstanding = c.Submitted - c.Completed - c.Failed;
            if (outstanding > 0 && a.Outstanding <= 0) a.PendingSince = now;
            a.Outstanding = outstanding;
            bool runnable = c.InFlight.Count > 0 && !c.Resetting && !VidSchScheduler.LendsMemory(c);
            a.Loaded = ReferenceEquals(c, loaded) && runnable;
            // Waiting while an equal or lower priority holds the engine (a higher one may keep it: strict priority).
            a.Waiting = runnable && !a.Loaded && loadedPriority != int.MinValue && loadedPriority <= c.Priority;
            if (!a.Waiting) CloseWait(e, a, now, c);
            else if (a.WaitStart == ulong.MaxValue) a.WaitStart = now;
        }
        // Equals competing for the engine: the starvation threshold grows with them (round robin).
        var equals = e.RunnableByPriority;
        equals.Clear();
        foreach (var c in contexts)
            if (c.InFlight.Count > 0) equals[c.Priority] = equals.GetValueOrDefault(c.Priority) + 1;
        for (int i = 0; i < contexts.Count; i++)
        {
            var a = e.Contexts[i];
            if (a.Waiting) a.EqualsMax = Math.Max(a.EqualsMax, equals.GetValueOrDefault(contexts[i].Priority));
        }
        bool idle = !engineBusy && anyWork;
        if (!idle) CloseIdle(e, now);
        else if (e.IdleStart == ulong.MaxValue)
        {
            e.IdleStart = now;
            e.IdleMemoryCycles = 0;
        }
        // Until the next pass, the engine's next buffer waits for memory (or not): idle time it explains (Advance).
        e.MemoryWaiter = deferredForMemory ? preparing : null;
        if (idle && e.MemoryWaiter is not null) e.IdleMemoryWaiter = e.MemoryWaiter;
        e.LastPass = now;
    }

    /// <summary><paramref name="c"/> is being reset for <paramref name="reason"/> at <paramref name="now"/>.</summary>
    internal void OnReset(EngineState e, VidSchContext c, SubmissionStatus reason, ulong now)
    {
        if (reason != SubmissionStatus.FailedTimeout) return; // a fault is the context's own doing
        Advance(e, now);
        int i = IndexOf(e, c);
        if (i < 0) return;
        var a = e.Contexts[i];
        ulong timeout = e.Scheduler.Options.TimeoutCycles;
        // Progressing: it completed a buffer within the timeout, or the scheduler took the engine from it while it still
        // had work (it was running, then waited for its turn). A context that held the engine for the whole timeout
        // without progress, or that left it only by yielding on a wait nobody satisfies, is hung.
        bool progressing = (a.Completed + a.Failed > 0 && now - a.LastProgress < timeout) || a.PreemptedSinceProgress;
        ulong held = a.HeldSinceProgress + HeldFrom(a, a.OnEngineSince, now);
        if (held >= timeout || !progressing) return;
        Add(new SchedulingFinding(SchedulingFindingKind.ResetWhileProgressing, e.Engine, c.Id, now, 0,
            $"{Name(c.Id)}: reset as hung at cycle {now:N0} although it held {Engine(e.Engine)} only {Ms(held)} since its last progress " +
            $"(timeout {Ms(timeout)}): waiting for a turn is not a hang"));
    }

    /// <summary>
    /// The engine of <paramref name="e"/> switched from <paramref name="left"/> to <paramref name="to"/> at device cycle
    /// <paramref name="cycle"/> (a CONTEXT_SWITCH record, under the kernel lock; null: idle, a paging or foreign context).
    /// </summary>
    /// <remarks>
    /// Engine time is charged from these device-stamped switches, not from the passes that notice them: in threaded mode
    /// a pass runs when the scheduler thread gets to it, so pass-to-pass sampling missed the short turns of a context that
    /// is switched in and out between two passes (the threaded demo's hung app was reported as "held only 46 ms" by a
    /// 50 ms timeout it had really used). Progress is the cycle the scheduler observed it (<see cref="VidSchContext"/>'s
    /// progress stamp), so a context's held time is measured exactly as the timeout is (docs/containment.md).
    /// </remarks>
    internal static void OnSwitch(EngineState e, VidSchContext? left, VidSchContext? to, ulong cycle)
    {
        if (AuditOf(e, left) is { } a)
        {
            a.HeldSinceProgress += HeldFrom(a, a.OnEngineSince, cycle);
            a.OnEngineSince = ulong.MaxValue;
        }
        if (AuditOf(e, to) is { } b) b.OnEngineSince = cycle;
    }

    // The record of a context of e's scheduler by its id (contexts are numbered from the scheduler's first id), or null.
    private static ContextAudit? AuditOf(EngineState e, VidSchContext? c)
    {
        if (c is null) return null;
        long i = (long)c.Id - e.Scheduler.Options.FirstContextId;
        var contexts = e.Scheduler.Contexts;
        if (i < 0 || i >= contexts.Count || !ReferenceEquals(contexts[(int)i], c)) return null;
        while (e.Contexts.Count <= i) e.Contexts.Add(new ContextAudit { LastProgress = c.ProgressAt, PendingSince = c.ProgressAt });
        return e.Contexts[(int)i];
    }

    // Engine time from `since` (ulong.MaxValue: not on the engine) to `now`, counted only after the last progress.
    private static ulong HeldFrom(ContextAudit a, ulong since, ulong now)
    {
        if (since == ulong.MaxValue) return 0;
        ulong from = Math.Max(since, a.ProgressCycle);
        return now > from ? now - from : 0;
    }

    private static void Advance(EngineState e, ulong now)
    {
        if (e.LastPass == ulong.MaxValue || now <= e.LastPass) return;
        if (e.IdleStart != ulong.MaxValue && e.MemoryWaiter is not null) e.IdleMemoryCycles += now - e.LastPass;
        e.LastPass = now;
    }

    private void CloseIdle(EngineState e, ulong now)
    {
        if (e.IdleStart == ulong.MaxValue) return;
        ulong start = e.IdleStart, length = now - start;
        e.IdleStart = ulong.MaxValue;
        var waiter = e.IdleMemoryWaiter;
        e.IdleMemoryWaiter = null;
        if (length <= e.Threshold(_o.IdleQuanta)) return;
        // A buffer that cannot be made resident is not runnable: the engine idles because its next buffer waits for memory
        // other engines' chunks pin or a higher priority elsewhere waits for (docs/scheduling-policy.md rule 4,
        // docs/memory.md eviction order). Said so when that wait covers the stretch but for less than the threshold.
        string why = waiter is { } w && e.IdleMemoryCycles > 0 && length - Math.Min(length, e.IdleMemoryCycles) <= e.Threshold(_o.IdleQuanta)
            ? $": its next buffer ({Name(w.Id)}, priority {w.Priority}) was waiting for memory pinned by other engines' chunks or kept for a higher priority"
            : "";
        Add(new SchedulingFinding(SchedulingFindingKind.IdleWithWork, e.Engine, -1, start, length,
            $"{Engine(e.Engine)} idle for {Ms(length)} from cycle {start:N0} while work was queued{why}"));
    }

    private void CloseWait(EngineState e, ContextAudit a, ulong now, VidSchContext? c = null)
    {
        if (a.WaitStart == ulong.MaxValue) return;
        ulong start = a.WaitStart, length = now - start;
        int equals = Math.Max(1, a.EqualsMax);
        a.WaitStart = ulong.MaxValue;
        a.EqualsMax = 0;
        if (length <= e.Threshold(_o.StarvationQuanta) * (ulong)equals) return;
        int i = e.Contexts.IndexOf(a);
        int id = c?.Id ?? (i >= 0 && i < e.Scheduler.Contexts.Count ? e.Scheduler.Contexts[i].Id : -1);
        Add(new SchedulingFinding(SchedulingFindingKind.Starved, e.Engine, id, start, length,
            $"{Name(id)}: runnable but not run on {Engine(e.Engine)} for {Ms(length)} from cycle {start:N0} while an equal or lower priority ran"));
    }

    private static int IndexOf(EngineState e, VidSchContext c)
    {
        var list = e.Scheduler.Contexts;
        for (int i = 0; i < list.Count && i < e.Contexts.Count; i++) if (ReferenceEquals(list[i], c)) return i;
        return -1;
    }

    private void Add(in SchedulingFinding f)
    {
        lock (_findings) _findings.Add(f);
        _sink?.Emit(TraceEvent.Instant(_track, TraceCategory.Other, "audit: " + f.Kind, f.StartCycle, 0, f.ContextId < 0 ? 0 : (uint)f.ContextId,
            (ulong)f.Kind, (long)f.Cycles));
    }

    private string Name(int id) => ContextName?.Invoke(id) ?? $"context {id}";

    private static string Engine(EngineKind e) => SchedulingObserver.EngineName(e);

    private static string Ms(ulong cycles) => $"{cycles / 1e6:0.###} ms";

    /// <summary>Per attached scheduler (one engine).</summary>
    internal sealed class EngineState(VidSchScheduler scheduler)
    {
        public readonly VidSchScheduler Scheduler = scheduler;
        public readonly EngineKind Engine = scheduler.Options.Engine;
        public readonly List<ContextAudit> Contexts = new();
        public ulong LastPass = ulong.MaxValue;
        public ulong IdleStart = ulong.MaxValue;
        public VidSchContext? MemoryWaiter;     // from the last pass on: the context whose next buffer waits for memory
        public VidSchContext? IdleMemoryWaiter; // the last such context in the current idle stretch
        public ulong IdleMemoryCycles;          // idle cycles of the current stretch during which a buffer waited for memory
        public ulong MaxQuantum = 10_000_000;
        public readonly Dictionary<int, int> RunnableByPriority = new();

        public ulong Threshold(int quanta) => Math.Min(Scheduler.Options.QuantumCycles, MaxQuantum) * (ulong)Math.Max(1, quanta);
    }

    /// <summary>Per attached run-list back end.</summary>
    internal sealed class RunListAudit(RunListScheduler scheduler, ulong quantum)
    {
        public readonly RunListScheduler Scheduler = scheduler;
        public readonly ulong Quantum = quantum;
        public readonly Dictionary<VaContext, RunListContextAudit> Contexts = new();
        public readonly Dictionary<int, int> RunnableByPriority = new();
        public readonly Dictionary<EngineKind, RunListIdle> IdleByEngine = new();

        public RunListIdle Idle(EngineKind engine)
        {
            if (!IdleByEngine.TryGetValue(engine, out var idle)) IdleByEngine.Add(engine, idle = new RunListIdle());
            return idle;
        }
    }

    /// <summary>An idle-with-work stretch of one run-list engine (Start = MaxValue: none open).</summary>
    internal sealed class RunListIdle
    {
        public ulong Start = ulong.MaxValue;
    }

    /// <summary>Per context of an attached run-list back end.</summary>
    internal sealed class RunListContextAudit
    {
        public bool Runnable; // this pass: ready with work and not stopped on a WAIT that is still unsatisfied
        public ulong WaitStart = ulong.MaxValue;
        public int EqualsMax;
    }

    /// <summary>Per context of an attached scheduler, by index.</summary>
    internal sealed class ContextAudit
    {
        public long Completed, Failed, Outstanding;
        public ulong LastProgress, PendingSince, HeldSinceProgress;
        public ulong ProgressCycle;                 // the scheduler's stamp of the last progress (device cycle)
        public ulong OnEngineSince = ulong.MaxValue; // device cycle of the switch that loaded it; MaxValue: off the engine
        public ulong WaitStart = ulong.MaxValue;
        public int EqualsMax, Preemptions;
        public bool PreemptedSinceProgress;
        public bool Loaded, Waiting;
    }
}
