using System.Diagnostics.Metrics;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// The library's <see cref="System.Diagnostics.Metrics"/> instruments, on one <see cref="Meter"/> named
/// <see cref="MeterName"/>, so <c>dotnet-counters monitor --counters Coproc.Fast</c> and OpenTelemetry users can
/// watch a threaded run live. Static so a hot path calls <c>CoprocMetrics.Submissions.Add(1)</c> with no lookup;
/// a <see cref="Counter{T}"/> with no listener costs one check of its enabled flag. Instrument names are
/// documented in docs/observability.md.
/// </summary>
public static class CoprocMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Coproc.Fast";

    /// <summary>The meter every instrument lives on; its version is the package's (from git tags, see the README).</summary>
    public static readonly Meter Meter = new(MeterName, LibraryVersion.Informational);

    /// <summary>DMA buffers and ring-3 packets accepted for execution (seed 001 §6.1), ring 0 and ring 3 alike.</summary>
    public static readonly Counter<long> Submissions =
        Meter.CreateCounter<long>("coproc.submissions", "{submission}", "Command buffers / user-queue packets accepted for execution");

    /// <summary>Submissions that entered through the ring-0 gate (seed 001 §3.7).</summary>
    public static readonly Counter<long> Ring0Entries =
        Meter.CreateCounter<long>("coproc.ring0_entries", "{entry}", "Ring-3 to ring-0 transitions through the gate");

    /// <summary>Doorbells rung from ring 3 (seed 003).</summary>
    public static readonly Counter<long> Doorbells =
        Meter.CreateCounter<long>("coproc.doorbells", "{doorbell}", "Doorbell writes from ring 3");

    /// <summary>Fences signalled (GPU FENCE packets retired and CPU signals).</summary>
    public static readonly Counter<long> FencesSignaled =
        Meter.CreateCounter<long>("coproc.fences_signaled", "{fence}", "Monitored and ring fences signalled");

    /// <summary>Contexts faulted (page, protection, invalid command, hung-wait timeout).</summary>
    public static readonly Counter<long> Faults =
        Meter.CreateCounter<long>("coproc.faults", "{fault}", "Context faults and resets");

    /// <summary>Preemptions requested and completed (seed 001 §8).</summary>
    public static readonly Counter<long> Preemptions =
        Meter.CreateCounter<long>("coproc.preemptions", "{preemption}", "Contexts preempted off an engine");

    /// <summary>Context switches performed by the engines.</summary>
    public static readonly Counter<long> ContextSwitches =
        Meter.CreateCounter<long>("coproc.context_switches", "{switch}", "Engine context switches");

    /// <summary>Bytes moved by paging buffers (evictions and page-ins, seed 001 §11).</summary>
    public static readonly Counter<long> BytesPaged =
        Meter.CreateCounter<long>("coproc.bytes_paged", "By", "Bytes moved by paging buffers");

    /// <summary>DMA buffers that ran to completion.</summary>
    public static readonly Counter<long> DmaBuffersCompleted =
        Meter.CreateCounter<long>("coproc.dma_buffers_completed", "{buffer}", "DMA buffers completed");

    /// <summary>Frames presented (flips that became visible).</summary>
    public static readonly Counter<long> FramesPresented =
        Meter.CreateCounter<long>("coproc.frames_presented", "{frame}", "Flips that became visible");

    /// <summary>Vsyncs at which a process had a frame due but not ready.</summary>
    public static readonly Counter<long> MissedVsyncs =
        Meter.CreateCounter<long>("coproc.missed_vsyncs", "{vsync}", "Vsyncs missed by a presenting process");

    /// <summary>Device cycles executed (the device clock advancing).</summary>
    public static readonly Counter<long> DeviceCycles =
        Meter.CreateCounter<long>("coproc.device_cycles", "{cycle}", "Device cycles stepped");

    /// <summary>
    /// Device cycles from a DMA buffer's submission to its engine picking it up (seed 001 §6: the latency a process
    /// feels), one recording per buffer as it first starts. dotnet-counters shows its percentiles; OpenTelemetry
    /// exports it as a histogram. In cycles because the device clock is the run's, not the host's (divide by the
    /// clock rate, 1 GHz by default, for seconds).
    /// </summary>
    public static readonly Histogram<long> SubmitToStartLatency =
        Meter.CreateHistogram<long>("coproc.submit_to_start_latency", "{cycle}", "Device cycles from a buffer's submission to its start on the engine");

    /// <summary>
    /// Counts one VidSch event (called by every scheduler as it emits, listener or not): submissions, retired
    /// buffers and the scheduler fences that retired them, preemptions, context switches, faults (a fault and the
    /// reset that follows count once, at the reset; a buffer that can never fit counts as its own fault) and the
    /// bytes a paging buffer moves. The driver counts here, so an embedder sees the counters without any observer.
    /// </summary>
    internal static void OnScheduleEvent(VidSch.ScheduleEventKind kind, ulong bytes)
    {
        switch (kind)
        {
            case VidSch.ScheduleEventKind.BufferSubmitted: Submissions.Add(1); break;
            case VidSch.ScheduleEventKind.BufferCompleted: DmaBuffersCompleted.Add(1); FencesSignaled.Add(1); break;
            case VidSch.ScheduleEventKind.ContextPreempted: Preemptions.Add(1); break;
            case VidSch.ScheduleEventKind.ContextSwitched: ContextSwitches.Add(1); break;
            case VidSch.ScheduleEventKind.ContextReset or VidSch.ScheduleEventKind.BufferFailed: Faults.Add(1); break;
            case VidSch.ScheduleEventKind.PagingBuffer: BytesPaged.Add((long)Math.Min(bytes, long.MaxValue)); break;
        }
    }
}
