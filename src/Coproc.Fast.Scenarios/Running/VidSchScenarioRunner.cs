using Coproc.Fast.Scenarios;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// The scenario runner behind <c>coproc demo</c> and <c>coproc run</c>: builds a <see cref="Machine"/> from the
/// scenario's options, creates its processes, contexts and allocations, submits on the <see cref="SubmissionPlan"/>'s
/// timeline (ring 0 through UMD → gate → KMD → VidSch; ring 3 through a user queue and a doorbell), presents frames
/// at vsync, and reports what the scheduler did through a <see cref="SchedulingObserver"/>.
/// </summary>
/// <remarks>
/// Design: in deterministic mode the machine's virtual clock advances in steps no longer than
/// <see cref="PollCycles"/> and never past the next planned submission or vsync, and between steps the runner (the
/// emulated processes) submits, polls ring-3 fences and presents. Same scenario + seed ⇒ same report and trace.
/// Threaded mode (<c>"mode": "threaded"</c>) starts the machine's threads and drives the same plan from the caller's
/// thread against the free-running device clock (<see cref="ScenarioExecution.ExecuteThreaded"/>).
/// </remarks>
public sealed class VidSchScenarioRunner : IScenarioRunner
{
    /// <summary>Longest machine step between two looks by the emulated processes (0.25 ms at 1 GHz).</summary>
    public const ulong PollCycles = 250_000;

    /// <summary>Default wall-clock guard of a deterministic run (10 minutes; the shipped scenarios take seconds).</summary>
    public static readonly TimeSpan DefaultDeterministicTimeLimit = TimeSpan.FromMinutes(10);

    /// <summary>Default wall-clock guard of a threaded run: against a machine that stops making progress.</summary>
    public static readonly TimeSpan DefaultThreadedTimeLimit = TimeSpan.FromMinutes(2);

    /// <inheritdoc />
    /// <exception cref="ScenarioValidationException">The scenario cannot be set up (see <see cref="CheckSetup"/>).</exception>
    public ScenarioReport Run(Scenario scenario, ScenarioRunOptions options, IProgress<ScenarioProgress>? progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        ulong seed = options.Seed ?? scenario.Seed;
        bool preemption = options.Preemption ?? scenario.Options.Preemption;
        var requested = options.Mode ?? scenario.Mode;
        var notes = new List<string>();
        bool threaded = requested == RunMode.Threaded;
        var limit = options.TimeLimit ?? (threaded ? DefaultThreadedTimeLimit : DefaultDeterministicTimeLimit);
        if (threaded)
            notes.Add("threaded: device, scheduler and preparation threads run freely (results vary from run to run); every context " +
                      "submits as fast as its buffers in flight allow (periods are not honoured; the device clock moves only while it has work).");
        var model = options.Model ?? scenario.Model;
        using var run = Setup(scenario, seed, preemption, options.Trace, threaded, model);
        ulong cycles = threaded ? run.ExecuteThreaded(progress, limit, cancellation) : run.Execute(progress, limit, cancellation);
        if (run.Stop == RunStop.TimeLimit)
            notes.Add($"stopped by the wall-clock guard after {limit.TotalSeconds:0.###} s at cycle {cycles:N0} of {scenario.DurationCycles:N0} " +
                      $"({100.0 * cycles / scenario.DurationCycles:0.#} %); the report covers the cycles run (raise the guard with --time-limit).");
        else if (run.Stop == RunStop.Cancelled)
            notes.Add($"cancelled at cycle {cycles:N0} of {scenario.DurationCycles:N0}; the report covers the cycles run.");
        notes.AddRange(run.Notes(preemption));
        var findings = run.FinishAudit(cycles);
        DisplayedFrame? frame = null;
        try { frame = DisplayedFrame.Read(run.Machine.Bus); }
        catch (FrameCaptureException) { /* nothing was ever presented: no frame.png */ }
        return ScenarioReportBuilder.Build(scenario, seed, threaded ? RunMode.Threaded : RunMode.Deterministic, cycles, run.Observer, options.Trace, frame, notes)
            with { Stop = run.Stop, Warnings = findings.Select(f => f.Message).ToArray(), Model = model };
    }

    /// <inheritdoc />
    /// <remarks>
    /// Sets the scenario up exactly as <see cref="Run"/> does (machine, processes, contexts, allocations, user
    /// queues) and tears it down without running a cycle, so nothing that validates can fail to start.
    /// </remarks>
    public IReadOnlyList<ScenarioError> CheckSetup(Scenario scenario, ScenarioRunOptions options)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            using var run = new ScenarioExecution(scenario, options.Seed ?? scenario.Seed, options.Preemption ?? scenario.Options.Preemption,
                NullTraceSink.Instance, threaded: (options.Mode ?? scenario.Mode) == RunMode.Threaded, options.Model ?? scenario.Model);
            return [];
        }
        catch (ScenarioSetupException e)
        {
            return [new ScenarioError(0, e.Path, e.Message)];
        }
    }

    private static ScenarioExecution Setup(Scenario scenario, ulong seed, bool preemption, ITraceSink trace, bool threaded, SchedulingModel model)
    {
        try
        {
            return new ScenarioExecution(scenario, seed, preemption, trace, threaded, model);
        }
        catch (ScenarioSetupException e)
        {
            throw new ScenarioValidationException(scenario.Name, [new ScenarioError(0, e.Path, e.Message)]);
        }
    }

    /// <summary>
    /// The machine options a scenario asks for (device sizes, vsync, fill and work costs divided by the throughput
    /// divisor, scheduler) in <paramref name="model"/> (null: the scenario's own).
    /// </summary>
    public static MachineOptions MachineOptions(Scenario scenario, bool preemption, MachineRunMode mode = MachineRunMode.Deterministic,
        SchedulingModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var o = scenario.Options;
        int d = Math.Max(1, o.ThroughputDivisor);
        var pc = PacketCosts.Default;
        var wc = Coproc.Fast.Device.Engines.Work.WorkCosts.Default;
        var m = model ?? scenario.Model;
        var contexts = scenario.Contexts.ToList();
        int displayOwner = ScenarioExecution.DisplayOwner(contexts);
        var kernelPath = Enumerable.Range(0, contexts.Count).Where(i => ScenarioExecution.PathOf(m, contexts, i, displayOwner) == ContextPath.Kernel).ToList();
        return new MachineOptions
        {
            Model = m,
            // The advanced model's run-list back end drives render, compute and copy (docs/models.md): history-buffer run
            // lists of up to four contexts per engine, the scenario's quantum, limited buffers under option 3,
            // surface-level faulting; VidMm's paging context runs on render's lists.
            RunLists = new Driver.VidSch.RunLists.RunListOptions
            {
                Engine = EngineKind.Render, Engines = ScenarioExecution.RunListEngines, Mechanism = Driver.VidSch.RunLists.RunListMechanism.History, RunListLength = 4,
                QuantumCycles = o.QuantumCycles, RingBytes = 64 * 1024, TimeoutCycles = o.HungTimeoutCycles, PageTables = o.PageTables,
            },
            Mode = mode,
            Device = new CoprocessorOptions
            {
                LocalMemoryBytes = o.LocalMemoryBytes, SystemMemoryBytes = o.SystemMemoryBytes, ApertureBytes = 4UL << 20,
                HardwareSlotsPerEngine = o.HardwareSlotsPerEngine, VsyncPeriodCycles = o.VsyncPeriodCycles,
                // COPY keeps its speed: paging buffers are COPYs, and residency should cost what it costs on the real device.
                PacketCosts = pc with { FillBytesPerCycle = Math.Max(1, pc.FillBytesPerCycle / d) },
                WorkCosts = wc with
                {
                    FillPixelsPerCycle = Math.Max(1u, wc.FillPixelsPerCycle / (uint)d), CopyPixelsPerCycle = Math.Max(1u, wc.CopyPixelsPerCycle / (uint)d),
                    BlendPixelsPerCycle = Math.Max(1u, wc.BlendPixelsPerCycle / (uint)d), ElementsPerCycle = Math.Max(1u, wc.ElementsPerCycle / (uint)d),
                    DecodeBytesPerCycle = Math.Max(1u, wc.DecodeBytesPerCycle / (uint)d), DecodePixelsPerCycle = Math.Max(1u, wc.DecodePixelsPerCycle / (uint)d),
                    EncodePixelsPerCycle = Math.Max(1u, wc.EncodePixelsPerCycle / (uint)d),
                },
            },
            Scheduler = new VidSchOptions
            {
                // Without preemption a context keeps the engine until its buffer ends; the next buffer still follows
                // the policy at the boundary (`--no-preemption`, docs/cli.md; VidSchOptions.Preemption).
                QuantumCycles = o.QuantumCycles,
                Preemption = preemption,
                TimeoutCycles = o.HungTimeoutCycles,
                RingBytes = 64 * 1024,
                // More than running + next: a waiting higher-priority context gets into the hardware, where the
                // quantum decision (seed 001 §5.5) can preempt the running one for it.
                MaxInFlight = Math.Max(2, Math.Min(8, kernelPath.Count + 1)),
            },
            // One scheduler per engine a kernel-path context uses (render always: the default scheduler).
            ScheduledEngines = kernelPath.Select(i => contexts[i].Context.Engine).Append(EngineKind.Render).Distinct().Order().ToArray(),
            Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.Modeled },
        };
    }
}

/// <summary>One run of a scenario: the machine, the emulated processes and the loop that drives them.</summary>
internal sealed partial class ScenarioExecution : IDisposable
{
    private readonly Scenario _scenario;
    private readonly SubmissionPlan _plan;
    private readonly List<ScenarioProcess> _processes = [];
    private readonly Ring0ContextDriver?[] _ring0;
    private readonly Ring3ContextDriver?[] _ring3;
    private readonly VaContextDriver?[] _va;
    private readonly SchedulingModel _model;
    private readonly PresentationTracker?[] _presenters;
    private readonly int[] _submitted;
    private readonly ScenarioProcess[] _processOf;
    private readonly MachineObserver _adapter;

    public ScenarioExecution(Scenario scenario, ulong seed, bool preemption, ITraceSink trace, bool threaded = false,
        SchedulingModel model = SchedulingModel.Basic)
    {
        _scenario = scenario;
        _model = model;
        _plan = SubmissionPlan.Build(scenario, seed);
        try
        {
            Machine = new Machine(VidSchScenarioRunner.MachineOptions(scenario, preemption,
                threaded ? MachineRunMode.Threaded : MachineRunMode.Deterministic, model));
        }
        catch (NotSupportedException e)
        {
            throw new ScenarioSetupException("$.model", $"the {model.ToString().ToLowerInvariant()} model cannot run this way: {e.Message}", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or OutOfMemoryException or VidMmException)
        {
            throw new ScenarioSetupException("$.options", $"the machine cannot be built with these options: {e.Message}", e);
        }
        try
        {
            Observer = new SchedulingObserver(trace);
            _adapter = new MachineObserver(Observer, Machine) { Deferred = threaded };
            _adapter.Attach(Machine);
            var contexts = scenario.Contexts.ToList();
            _ring0 = new Ring0ContextDriver?[contexts.Count];
            _ring3 = new Ring3ContextDriver?[contexts.Count];
            _va = new VaContextDriver?[contexts.Count];
            _presenters = new PresentationTracker?[contexts.Count];
            _submitted = new int[contexts.Count];
            _processOf = new ScenarioProcess[contexts.Count];
            var registrar = Machine.UserQueues;
            var byProcess = new Dictionary<ProcessSpec, ScenarioProcess>();
            int displayOwner = DisplayOwner(contexts);
            var paths = ScenarioSetupException.ContextPaths(scenario);
            for (int i = 0; i < contexts.Count; i++)
            {
                try
                {
                    SetUpContext(i);
                }
                catch (Exception e) when (e is not ScenarioSetupException && ScenarioSetupException.IsRefusal(e))
                {
                    throw new ScenarioSetupException(paths[i], $"context {i + 1} of {contexts.Count} cannot be set up: {e.Message}" +
                        ScenarioSetupException.Hint(e, i, contexts.Count), e);
                }
            }

            void SetUpContext(int i)
            {
                var (ps, cs) = contexts[i];
                if (!byProcess.TryGetValue(ps, out var process))
                {
                    byProcess.Add(ps, process = new ScenarioProcess((uint)_processes.Count + 1, ps));
                    _processes.Add(process);
                }
                _processOf[i] = process;
                var path = PathOf(model, contexts, i, displayOwner);
                if (path == ContextPath.RunList)
                {
                    // The advanced model (docs/models.md): the process's own GPU VA space, demand-faulted allocations,
                    // user-built buffers on the run-list engine; the display owner flips its primaries through kernel commands.
                    // The process's address space is the machine's record of the process (Machine.Process), under its
                    // kernel-path id (the one synchronization objects and Kmd know).
                    var vaProcess = Machine.Process(process.Id).RunLists!;
                    IReadOnlyList<(Driver.VidMm.AllocationHandle, ulong)>? primaries = null;
                    int chain = 0;
                    if (i == displayOwner)
                    {
                        chain = PreparePrimarySurfaces(process);
                        primaries = process.Surfaces;
                    }
                    // A compositor display owner composes the desktop (ShareWithCompositor): room for a window per other context.
                    int composeDwords = i == displayOwner && cs.Kind == ContextKind.Compositor ? DesktopComposer.MaxDwordsFor(contexts.Count) : 0;
                    var va = _va[i] = new VaContextDriver(Machine, vaProcess, process, cs, i, Observer, _adapter, primaries, composeDwords);
                    // The display owner flips through the machine's present path, as on the kernel path (n-buffered).
                    if (chain > 0) Machine.Display.CreateFlipChain(va.Context, chain);
                    if (cs.Submission.Flip)
                        _presenters[i] = new PresentationTracker(va, Observer, scenario.Options.VsyncPeriodCycles, chain > 0 ? Machine.Display : null);
                }
                else if (path == ContextPath.Kernel)
                {
                    int chain = 0;
                    if (i == displayOwner) chain = PreparePrimarySurfaces(process);
                    var driver = _ring0[i] = new Ring0ContextDriver(Machine, process, cs, i, Observer, _adapter);
                    if (chain > 0) Machine.Display.CreateFlipChain(driver.Context, chain);
                    if (cs.Submission.Flip)
                        _presenters[i] = new PresentationTracker(driver, Observer, scenario.Options.VsyncPeriodCycles, i == displayOwner ? Machine.Display : null);
                }
                else
                {
                    // The scenario is the administrator: a process may hold the priority its context declares, no more
                    // (the kernel grants queue priorities, docs/scheduling-policy.md rule 3).
                    registrar.SetPriorityLimit(process.Id, (byte)Math.Clamp(cs.Priority, 0, 15));
                    // Ring-3 context ids: a range of their own, below VidSch's (seed 003 queue contexts).
                    var r3 = _ring3[i] = new Ring3ContextDriver(Machine, registrar, process, cs, i, 0x100u + (uint)i, Observer, _adapter);
                    // A presenting application turned into a user queue (the hardware model) still has its frames counted.
                    if (cs.Submission.Flip) _presenters[i] = new PresentationTracker(r3, Observer, scenario.Options.VsyncPeriodCycles, null);
                }
            }
            if (displayOwner >= 0 && contexts[displayOwner].Context.Kind == ContextKind.Compositor && (_ring0[displayOwner] is not null || _va[displayOwner] is not null))
                ShareWithCompositor(displayOwner);
            // The scheduling auditor watches every engine's VidSch (docs/scheduling-policy.md "Auditor").
            Auditor = new SchedulingAuditor(threaded ? SchedulingAuditorOptions.Threaded : null, trace);
            var names = new Dictionary<int, string>();
            for (int i = 0; i < contexts.Count; i++)
                if (_ring0[i] is { } r0) names[r0.Context.Id] = $"{contexts[i].Process.Name} / {contexts[i].Context.Name}";
                else if (_va[i] is { } va) names[(int)va.Context.Id] = $"{contexts[i].Process.Name} / {contexts[i].Context.Name}";
            Auditor.ContextName = id => names.TryGetValue(id, out var n) ? n : $"context {id}";
            foreach (var s in Machine.Schedulers) if (s is not null) Auditor.Attach(s);
            if (Machine.Options.Model == SchedulingModel.Advanced) Auditor.Attach(Machine.RunListScheduler);
        }
        catch
        {
            Machine.Dispose();
            throw;
        }
    }

    public Machine Machine { get; }

    /// <summary>
    /// The display owner: the compositor that flips, else the first ring-0 context that flips (-1: none). It keeps the
    /// kernel present path in the basic and hardware models.
    /// </summary>
    public static int DisplayOwner(IReadOnlyList<(ProcessSpec Process, ContextSpec Context)> contexts)
    {
        int owner = -1;
        for (int i = 0; i < contexts.Count && owner < 0; i++)
            if (contexts[i].Context.Submission.Flip && contexts[i].Context.Kind == ContextKind.Compositor) owner = i;
        for (int i = 0; i < contexts.Count && owner < 0; i++)
            if (contexts[i].Context.Submission.Flip && contexts[i].Context.Submission.Path == SubmitPath.Ring0) owner = i;
        return owner;
    }

    /// <summary>
    /// How context <paramref name="i"/> submits in <paramref name="model"/> (docs/models.md): basic — as the scenario
    /// says; hardware — every ring-0 context but the display owner becomes a doorbell user queue; advanced — every
    /// context on a run-list engine (<see cref="RunListEngines"/>: render, compute, copy) submits user-built buffers to
    /// the run-list back end, the others (the video engines, whose packets need the kernel's decoder set-up) as the
    /// scenario says.
    /// </summary>
    public static ContextPath PathOf(SchedulingModel model, IReadOnlyList<(ProcessSpec Process, ContextSpec Context)> contexts, int i, int displayOwner)
    {
        var c = contexts[i].Context;
        var declared = c.Submission.Path == SubmitPath.Ring0 ? ContextPath.Kernel : ContextPath.UserQueue;
        return model switch
        {
            SchedulingModel.Hardware when declared == ContextPath.Kernel && i != displayOwner => ContextPath.UserQueue,
            SchedulingModel.Advanced when RunListEngines.Contains(c.Engine) => ContextPath.RunList,
            _ => declared,
        };
    }

    /// <summary>The engines whose contexts use the run-list back end in the advanced model (docs/models.md). The video
    /// engines keep the scenario's path: a ring-0 VIDEO_DECODE is set up by the kernel (Ring0ContextDriver).</summary>
    internal static readonly EngineKind[] RunListEngines = [EngineKind.Render, EngineKind.Compute, EngineKind.Copy];

    private static readonly uint[] Accents = [0xFFE74C3C, 0xFF2ECC71, 0xFFF39C12, 0xFF9B59B6, 0xFF1ABC9C, 0xFFE67E22];

    // The compositor composes the other applications (seed 001 §9.3): their surfaces are shared with its process (the
    // kernel's record of it names the handles too, so the KMD accepts its references and, in the advanced model, its
    // address space may map them), a game's window shows its last finished frame, a decoder's window its output surface;
    // a compute job shows progress, a misbehaving application its state. One set of windows whatever the compositor's
    // submission path: the kernel path names the sources by handle, the run-list path by the VAs it maps them at.
    private void ShareWithCompositor(int compositorIndex)
    {
        var composer = new DesktopComposer();
        var kmdProcess = Machine.Kmd.Process(_processOf[compositorIndex].Id);
        var shared = new List<AllocationHandle>();
        void Share(AllocationHandle h, ulong bytes)
        {
            kmdProcess.Own(h, bytes);
            shared.Add(h);
        }
        var contexts = _scenario.Contexts.ToList();
        var order = Enumerable.Range(0, contexts.Count).OrderBy(i => contexts[i].Context.Kind == ContextKind.Game ? 0 : 1).ToList();
        foreach (int i in order)
        {
            var spec = contexts[i].Context;
            uint accent = Accents[composer.WindowCount % Accents.Length];
            if (_processOf[i] == _processOf[compositorIndex]) continue; // its own contexts (e.g. an effects pass) have no window
            if (Window(i) is not { } app) continue;
            if (spec.Kind == ContextKind.Misbehaving) composer.AddFaultableWindow(accent, app.Failed);
            else if (spec.Engine == EngineKind.Render && spec.Submission.Packets.DrawRects > 0 && app.Surfaces.Count > 0)
            {
                foreach (var (h, bytes) in app.Surfaces) Share(h, bytes);
                composer.AddSurfaceWindow(accent, () =>
                {
                    // The last frame the application finished (buffers retire in order, one per frame).
                    var (h, bytes) = app.LastFinished();
                    return (h, SurfaceGeometry.For(bytes).At(0));
                });
            }
            else if (spec.Submission.Packets.VideoDecode > 0 && app.Picture is { } picture)
            {
                // A decoder's window shows the picture it decodes (its output surface).
                Share(picture.Handle, picture.Bytes);
                var source = (picture.Handle, picture.Surface);
                composer.AddSurfaceWindow(accent, () => source);
            }
            else
            {
                long total = Math.Max(1, spec.Submission.Count);
                composer.AddProgressWindow(accent, () => (double)app.Completed() / total);
            }
        }
        if (_ring0[compositorIndex] is { } kernelPath) kernelPath.Composer = composer;
        else _va[compositorIndex]!.Compose(composer, shared);
        Composer = composer;
    }

    // What a window needs of an application on any path: whether it failed, its surfaces, the surface of its last
    // finished frame, its completed buffers and, for a ring-3 decoder, the picture it decodes. A ring-3 queue renders
    // into one buffer (its window may show a frame being drawn) and has failed once the device faulted it.
    private (Func<bool> Failed, IReadOnlyList<(AllocationHandle Handle, ulong Bytes)> Surfaces, Func<(AllocationHandle, ulong)> LastFinished,
        Func<long> Completed, (AllocationHandle Handle, Surface Surface, ulong Bytes)? Picture)? Window(int i)
    {
        if (_ring0[i] is { } r0)
        {
            var process = _processOf[i];
            return (() => r0.Context.Failed > 0 || r0.Rejections > 0, process.Surfaces,
                () => process.Surface((int)Math.Max(0, r0.Context.Completed - 1)), () => r0.Context.Completed, null);
        }
        if (_va[i] is { } va)
            return (() => va.HasFailed, va.Surfaces.Select(a => (a.Handle, a.Bytes)).ToList(),
                () => (va.LastFinishedSurface.Handle, va.LastFinishedSurface.Bytes), () => va.Completed, null);
        if (_ring3[i] is { } r3)
        {
            int handle = r3.Handle;
            var target = r3.RenderTarget;
            return (() => Observer.Contexts[handle].Faults > 0, [target], () => target, () => r3.Completed,
                r3.VideoSource.Handle.IsNull ? null : r3.VideoSource);
        }
        return null;
    }

    /// <summary>The compositor's composer (null: the scenario has no compositor display owner).</summary>
    internal DesktopComposer? Composer { get; private set; }

    /// <summary>Cycles after a vsync at which presenters look at it (its interrupt has been handled by then).</summary>
    private const ulong PresentCheckDelay = 20_000;

    // The display owner's swap chain: the mode from its first allocation's size, one primary surface per buffer of it
    // (at least 2: seed 001 §9.3 n-buffering), in place of that allocation. Returns n.
    private int PreparePrimarySurfaces(ScenarioProcess process)
    {
        var first = process.Spec.Allocations.Count > 0 ? process.Spec.Allocations[0] : new AllocationSpec("swap chain", 8UL << 20, 3, "local");
        var g = SurfaceGeometry.For(first.Bytes);
        var mode = Machine.Display.SetMode(g.Width, g.Height);
        int n = Math.Max(2, first.Count);
        var surfaces = Enumerable.Range(0, n).Select(_ => Machine.Display.CreatePrimarySurface(process.Id)).ToList();
        process.UsePrimarySurfaces(surfaces, mode.SurfaceBytes);
        Machine.Display.Show(surfaces[0]);
        return n;
    }

    public SchedulingObserver Observer { get; }

    /// <summary>The scheduling auditor of this run.</summary>
    public SchedulingAuditor Auditor { get; } = null!;

    /// <summary>Ends the audit at <paramref name="end"/> (ring-3 queues included: their end state) and returns the findings.</summary>
    public IReadOnlyList<SchedulingFinding> FinishAudit(ulong end)
    {
        Auditor.Finish(end);
        foreach (var r3 in _ring3)
            if (r3 is not null && r3.Outstanding > 0)
                Auditor.NoteOutstandingAtEnd(r3.Spec.Engine, -1, $"{_processOf[r3.Index].Spec.Name} / {r3.Spec.Name} (ring 3)", r3.Outstanding,
                    r3.ProgressSince, end, _scenario.Options.QuantumCycles,
                    _ring3.Count(o => o is not null && o.Outstanding > 0 && o.Spec.Engine == r3.Spec.Engine && o.Spec.Priority == r3.Spec.Priority));
        foreach (var va in _va)
            if (va is not null && va.Outstanding > 0)
                Auditor.NoteOutstandingAtEnd(va.Spec.Engine, -1, $"{_processOf[va.Index].Spec.Name} / {va.Spec.Name} (run list)", va.Outstanding,
                    va.ProgressSince, end, _scenario.Options.QuantumCycles,
                    _va.Count(o => o is not null && o.Outstanding > 0 && o.Spec.Engine == va.Spec.Engine && o.Spec.Priority == va.Spec.Priority));
        return Auditor.Findings;
    }

    /// <summary>Why the last <see cref="Execute"/> or <see cref="ExecuteThreaded"/> ended.</summary>
    public RunStop Stop { get; private set; }

    /// <summary>
    /// Runs the scenario to its duration, cancellation or <paramref name="wallLimit"/> of host time (<see cref="Stop"/>
    /// says which); returns the device cycles run.
    /// </summary>
    public ulong Execute(IProgress<ScenarioProgress>? progress, TimeSpan wallLimit, CancellationToken cancellation)
    {
        ulong duration = _scenario.DurationCycles;
        var clock = new RunClock(_scenario.Options.VsyncPeriodCycles, duration);
        int next = 0;
        var periodic = _plan.Periodic;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        Stop = RunStop.Completed;
        while (Machine.Now < duration)
        {
            if (cancellation.IsCancellationRequested)
            {
                Stop = RunStop.Cancelled;
                break;
            }
            // The guard is looked at once per step of at most PollCycles: a run of 2^64 - 1 cycles ends here, with a note.
            if (System.Diagnostics.Stopwatch.GetElapsedTime(started) >= wallLimit)
            {
                Stop = RunStop.TimeLimit;
                break;
            }
            ulong now = Machine.Now;
            for (; next < periodic.Count && periodic[next].Cycle <= now; next++) SubmitPlanned(periodic[next], now);
            foreach (int c in _plan.BackToBackContexts) RefillBackToBack(c, now);
            ulong target = Math.Min(Math.Min(duration, now + VidSchScenarioRunner.PollCycles), clock.NextVsync);
            if (clock.Evaluate != ulong.MaxValue) target = Math.Min(target, Math.Max(clock.Evaluate + PresentCheckDelay, now + 1));
            if (next < periodic.Count) target = Math.Min(target, Math.Max(periodic[next].Cycle, now + 1));
            Machine.RunFor(target - now);
            CoprocMetrics.DeviceCycles.Add((long)(Machine.Now - now));
            now = Machine.Now;
            foreach (var r3 in _ring3) r3?.Poll(now);
            foreach (var va in _va) va?.Poll(now);
            AdvanceClock(ref clock, now, duration, progress, "");
        }
        return Math.Min(Machine.Now, duration);
    }

    private void SubmitPlanned(PlannedSubmission p, ulong now)
    {
        var spec = _scenario.Contexts.ElementAt(p.Context).Context;
        int limit = spec.Submission.BuffersInFlight <= 0 ? int.MaxValue : spec.Submission.BuffersInFlight;
        var process = _processOf[p.Context];
        if (_ring0[p.Context] is { } r0)
        {
            long id = r0.Outstanding < limit ? r0.Submit(p.Index, p.Misbehaviour, now) : 0;
            _presenters[p.Context]?.Frame(p.Index, id, p.Cycle, process.Id, process.Surface(p.Index).Handle);
        }
        else if (_va[p.Context] is { } va)
        {
            long id = va.Outstanding < limit ? va.Submit(p.Index, p.Misbehaviour, now) : 0;
            // Submission i draws into surface i mod count (VaContextDriver): for the display owner, its primary surface i.
            _presenters[p.Context]?.Frame(p.Index, id, p.Cycle, process.Id, process.Surfaces.Count > 0 ? process.Surface(p.Index).Handle : default);
        }
        else if (_ring3[p.Context] is { } r3)
        {
            long id = r3.Outstanding < limit && r3.Submit(p.Index, p.Misbehaviour, now) ? p.Index + 1 : 0;
            _presenters[p.Context]?.Frame(p.Index, id, p.Cycle, process.Id, default);
        }
    }

    private void RefillBackToBack(int c, ulong now)
    {
        var spec = _scenario.Contexts.ElementAt(c).Context;
        if (now < spec.Submission.StartCycle) return;
        int limit = Math.Max(1, spec.Submission.BuffersInFlight);
        int max = _plan.BackToBackLimit(c);
        while (_submitted[c] < max)
        {
            var m = SubmissionPlan.MisbehaviourAt(spec, _submitted[c]);
            if (_ring0[c] is { } r0)
            {
                if (r0.Outstanding >= limit) return;
                r0.Submit(_submitted[c], m, now);
            }
            else if (_va[c] is { } va)
            {
                if (va.Outstanding >= limit || va.Submit(_submitted[c], m, now) == 0) return;
            }
            else if (_ring3[c] is { } r3)
            {
                if (r3.Outstanding >= limit || !r3.Submit(_submitted[c], m, now)) return;
            }
            _submitted[c]++;
        }
    }

    /// <summary>Lines for under the table.</summary>
    public IEnumerable<string> Notes(bool preemption)
    {
        if (_model != SchedulingModel.Basic) yield return ModelNote();
        yield return $"preemption {(preemption ? "on" : "off")}; VidSch preempted {Machine.Schedulers.Sum(s => s?.PreemptionCount ?? 0)} times; " +
                     $"{_adapter.PagingBuffers} paging buffers moved {_adapter.BytesPaged / (1 << 20)} MiB " +
                     $"(managed allocations {_processes.Sum(p => (long)p.ManagedBytes) / (1 << 20)} MiB, local memory {_scenario.Options.LocalMemoryBytes / (1 << 20)} MiB).";
        if (Machine.DeviceSteps > 0) // deterministic mode counts these; threaded threads do not
            yield return $"machine: {Machine.DeviceSteps} device steps, {Machine.EventsRun} driver events (interrupts, preparations, timers).";
        foreach (var p in _presenters)
            if (p is not null)
                yield return $"{p.Context.Spec.Name}: {p.Presented} frames presented, {p.Missed} missed vsyncs" +
                             (p.OwnsDisplay ? $" (vsync FLIPs through the {(_va[p.Context.Index] is null ? "KMD" : "kernel's privileged commands")}; {p.FlipsBlocked} flips refused with n − 1 queued)." : " (frames handed to the compositor).");
        int rejected = _ring0.Sum(r => r?.Rejections ?? 0);
        if (rejected > 0) yield return $"{rejected} submission(s) rejected by the KMD (counted as faults of their context).";
    }

    private string ModelNote()
    {
        int queues = _ring3.Count(r => r is not null), va = _va.Count(v => v is not null), kernel = _ring0.Count(r => r is not null);
        if (_model == SchedulingModel.Hardware)
            return $"model hardware: {queues} context(s) as doorbell user queues arbitrated by the device's scheduling core, {kernel} on the kernel path (the display owner's flips).";
        var rl = Machine.RunListScheduler;
        int held = _va.Sum(v => v?.HeldByFlips ?? 0);
        // The page-table format is named only when it is not the default (the demo's note stays as it was).
        int flat = _va.Count(v => v?.Context.Process.Space.Format == Coproc.Fast.Device.Mmu.PageTableFormat.Flat);
        return $"model advanced: {va} context(s) on the run lists of {string.Join(", ", rl.Engines.Select(ScenarioLoader.Name))} ({rl.Options.Mechanism}), {rl.RunListsSubmitted} run lists submitted, " +
               (flat > 0 ? $"{flat} of them in flat page tables, " : "") +
               (held > 0 ? $"{held} frame(s) not submitted while n − 1 flips were queued, " : "") +
               $"{_va.Sum(v => v?.Context.PageFaults ?? 0)} page faults served by {rl.PagingServed} paging-thread turns, " +
               $"{_va.Sum(v => v?.Context.BytesPaged ?? 0) / (1 << 20)} MiB paged by VidMm's context; {kernel} context(s) on the kernel path, {queues} user queue(s).";
    }

    public void Dispose() => Machine.Dispose();
}

