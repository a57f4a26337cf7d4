using Coproc.Fast.Driver;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Scenarios;

/// <summary>How a scenario is executed (docs/concepts.md "Two ways to run").</summary>
public enum RunMode
{
    /// <summary>One thread and a virtual clock: same scenario + same seed ⇒ identical report and trace.</summary>
    Deterministic,
    /// <summary>Device, submitters and scheduler on real threads; for throughput.</summary>
    Threaded,
}

/// <summary>What a context stands for in the desktop picture; the runner uses it to decide how to present and measure.</summary>
public enum ContextKind
{
    /// <summary>Plain submitter (counts buffers only).</summary>
    Generic,
    /// <summary>Desktop compositor: privileged vsync flips every period, triple buffered.</summary>
    Compositor,
    /// <summary>A game: heavy DRAW_RECTS frames and its own flips counted as presented or missed.</summary>
    Game,
    /// <summary>Long dispatches that must be preempted to keep presenters on time.</summary>
    Compute,
    /// <summary>Video decode work, typically from ring 3 through a doorbell.</summary>
    Video,
    /// <summary>An application that misbehaves as its <see cref="ContextSpec.Misbehaviours"/> say.</summary>
    Misbehaving,
}

/// <summary>How a context submits: through the ring-0 gate (a DMA buffer per submission) or a ring-3 user queue and doorbell.</summary>
public enum SubmitPath
{
    /// <summary>Command buffer → ring-0 gate → kernel validation → DMA buffer → VidSch (seed 001).</summary>
    Ring0,
    /// <summary>Packets written into a user queue, doorbell rung, no gate crossing (seed 003).</summary>
    Ring3,
}

/// <summary>What a misbehaving application does.</summary>
public enum MisbehaviourKind
{
    /// <summary>A WAIT on a fence nobody signals: must be detected and the context reset.</summary>
    HungWait,
    /// <summary>A privileged packet inside a limited (ring-3) buffer: must fault that context only.</summary>
    PrivilegedCommand,
    /// <summary>A reference to an unmapped GPU VA: a page fault of that context.</summary>
    BadAddress,
}

/// <summary>A whole scenario (docs/scenarios.md).</summary>
/// <param name="Name">Short name, used for the output folder and titles.</param>
/// <param name="Description">Free text.</param>
/// <param name="Seed">Seed of every pseudo-random choice (jitter, packet order).</param>
/// <param name="Mode">Deterministic or threaded.</param>
/// <param name="DurationCycles">Device cycles to run.</param>
/// <param name="Options">Device and scheduler options.</param>
/// <param name="Processes">The emulated processes.</param>
public sealed record Scenario(
    string Name,
    string Description,
    ulong Seed,
    RunMode Mode,
    ulong DurationCycles,
    ScenarioOptions Options,
    IReadOnlyList<ProcessSpec> Processes)
{
    /// <summary>
    /// The scheduling model the scenario runs in (<c>"model"</c>: <c>basic</c> — the default, <c>advanced</c> or
    /// <c>hardware</c>; docs/models.md). <c>coproc run --model</c> and <c>coproc compare</c> override it.
    /// </summary>
    public SchedulingModel Model { get; init; } = SchedulingModel.Basic;

    /// <summary>Every context of every process, in file order, with its process.</summary>
    public IEnumerable<(ProcessSpec Process, ContextSpec Context)> Contexts =>
        Processes.SelectMany(p => p.Contexts.Select(c => (p, c)));
}

/// <summary>Device and scheduler options of a scenario; defaults are the device's.</summary>
/// <param name="QuantumCycles">Time slice per context before the scheduler may switch (seed 001 §8).</param>
/// <param name="Preemption">Whether the scheduler preempts lower-priority work (false reproduces the no-preemption comparison).</param>
/// <param name="LocalMemoryBytes">Device-local memory.</param>
/// <param name="SystemMemoryBytes">System memory.</param>
/// <param name="VsyncPeriodCycles">Vsync period (16,666,667 = 60 Hz at 1 GHz).</param>
/// <param name="HardwareSlotsPerEngine">Run-list hardware slots per engine (seed 003).</param>
/// <param name="HungTimeoutCycles">A context that makes no progress for this long is reset (timeout detection).</param>
/// <param name="ThroughputDivisor">
/// Divides every bytes/pixels/elements-per-cycle cost of the device (a slower device): the same device cycles of work
/// then touch that many times fewer host bytes, so long scenarios run in seconds (1 = the device's defaults).
/// </param>
/// <param name="PageTables">
/// The advanced model's per-process page tables (seed 001 §5.4): multi-level (default) or flat — one contiguous array
/// of entries per process. The other models ignore it (their user queues' address spaces are the machine's default).
/// </param>
public sealed record ScenarioOptions(
    ulong QuantumCycles = 2_000_000,
    bool Preemption = true,
    ulong LocalMemoryBytes = 256UL << 20,
    ulong SystemMemoryBytes = 256UL << 20,
    uint VsyncPeriodCycles = 16_666_667,
    int HardwareSlotsPerEngine = 8,
    ulong HungTimeoutCycles = 100_000_000,
    int ThroughputDivisor = 1,
    Coproc.Fast.Device.Mmu.PageTableFormat PageTables = Coproc.Fast.Device.Mmu.PageTableFormat.MultiLevel);

/// <summary>One emulated process.</summary>
/// <param name="Name">Process name (unique in the scenario).</param>
/// <param name="Allocations">Its allocations (VidMm).</param>
/// <param name="Contexts">Its contexts.</param>
public sealed record ProcessSpec(string Name, IReadOnlyList<AllocationSpec> Allocations, IReadOnlyList<ContextSpec> Contexts);

/// <summary>Allocations of one size a process makes at start.</summary>
/// <param name="Name">Label.</param>
/// <param name="Bytes">Size of each allocation.</param>
/// <param name="Count">How many.</param>
/// <param name="Preferred">Preferred segment ("local" or "system").</param>
public sealed record AllocationSpec(string Name, ulong Bytes, int Count, string Preferred)
{
    /// <summary>Total bytes.</summary>
    public ulong TotalBytes => Bytes * (ulong)Count;
}

/// <summary>One context: an engine, a priority, what it is and how it submits.</summary>
/// <param name="Name">Context name (unique in its process).</param>
/// <param name="Engine">The engine it runs on.</param>
/// <param name="Priority">0 (lowest) … 15 (highest), as the device's run lists.</param>
/// <param name="Kind">Its role.</param>
/// <param name="Submission">Its submission pattern.</param>
/// <param name="Misbehaviours">What goes wrong, in order, for <see cref="ContextKind.Misbehaving"/> (else empty).</param>
public sealed record ContextSpec(string Name, EngineKind Engine, int Priority, ContextKind Kind, SubmissionPattern Submission, IReadOnlyList<MisbehaviourSpec> Misbehaviours);

/// <summary>How and how often a context submits.</summary>
/// <param name="Path">Ring 0 or ring 3.</param>
/// <param name="Count">Submissions in total (0 = as many as fit in the duration).</param>
/// <param name="Bytes">Command-buffer (DMA buffer) size of each submission.</param>
/// <param name="PeriodCycles">Cycles between submissions (0 = back to back).</param>
/// <param name="StartCycle">Cycle of the first submission.</param>
/// <param name="WorkCycles">Device cycles of work each submission is sized to take.</param>
/// <param name="Packets">Packet mix of each submission.</param>
/// <param name="Flip">Whether each submission ends with a flip (presenters).</param>
/// <param name="BuffersInFlight">Most submissions outstanding at once (3 = triple buffering).</param>
public sealed record SubmissionPattern(SubmitPath Path, int Count, ulong Bytes, ulong PeriodCycles, ulong StartCycle, ulong WorkCycles,
    PacketMix Packets, bool Flip, int BuffersInFlight);

/// <summary>Relative packet counts in one submission.</summary>
/// <param name="Nop">NOP packets.</param>
/// <param name="WriteData">WRITE_DATA packets.</param>
/// <param name="Copy">COPY packets.</param>
/// <param name="Fill">FILL packets.</param>
/// <param name="DrawRects">DRAW_RECTS packets.</param>
/// <param name="Dispatch">DISPATCH packets.</param>
/// <param name="VideoDecode">VIDEO_DECODE packets.</param>
/// <param name="Fence">FENCE packets.</param>
public sealed record PacketMix(int Nop = 0, int WriteData = 0, int Copy = 0, int Fill = 0, int DrawRects = 0, int Dispatch = 0, int VideoDecode = 0, int Fence = 0)
{
    /// <summary>Packets in total.</summary>
    public int Total => Nop + WriteData + Copy + Fill + DrawRects + Dispatch + VideoDecode + Fence;
}

/// <summary>What a misbehaving context does and when.</summary>
/// <param name="Kind">The misbehaviour.</param>
/// <param name="AtSubmission">Index (0-based) of the submission that carries it.</param>
public sealed record MisbehaviourSpec(MisbehaviourKind Kind, int AtSubmission);
