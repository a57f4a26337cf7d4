namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// What <see cref="SchedulingObserver"/> counted for one context: the numbers of a report row. Latencies (submit →
/// first start on the engine, in device cycles) go into a bounded histogram, so a long run keeps no per-sample list.
/// </summary>
public sealed class ContextStatistics
{
    private readonly LatencyHistogram _latencies = new();

    internal ContextStatistics(uint processId, string processName, uint contextId, string contextName, int engine)
    {
        ProcessId = processId;
        ProcessName = processName;
        ContextId = contextId;
        ContextName = contextName;
        Engine = engine;
    }

    /// <summary>Owning process.</summary>
    public uint ProcessId { get; }

    /// <summary>Owning process's name.</summary>
    public string ProcessName { get; }

    /// <summary>The context.</summary>
    public uint ContextId { get; }

    /// <summary>The context's name.</summary>
    public string ContextName { get; }

    /// <summary>The engine (an <c>EngineKind</c> value).</summary>
    public int Engine { get; }

    /// <summary>Engine cycles its buffers ran.</summary>
    public ulong GpuCycles { get; internal set; }

    /// <summary>Buffers submitted.</summary>
    public long BuffersSubmitted { get; internal set; }

    /// <summary>Buffers completed.</summary>
    public long BuffersCompleted { get; internal set; }

    /// <summary>Flips that became visible.</summary>
    public long FramesPresented { get; internal set; }

    /// <summary>Vsyncs at which a frame was due and not ready.</summary>
    public long MissedVsyncs { get; internal set; }

    /// <summary>Times it was preempted.</summary>
    public long Preemptions { get; internal set; }

    /// <summary>Faults and resets.</summary>
    public long Faults { get; internal set; }

    /// <summary>Page faults resolved by demand paging (advanced model); not errors.</summary>
    public long PageFaults { get; internal set; }

    /// <summary>Bytes paged on its behalf.</summary>
    public long BytesPaged { get; internal set; }

    /// <summary>Ring-0 gate entries it made.</summary>
    public long Ring0GateEntries { get; internal set; }

    /// <summary>Doorbells it rang.</summary>
    public long Doorbells { get; internal set; }

    /// <summary>Submit-to-start latencies recorded (one per buffer that started).</summary>
    public long SubmitToStartCount => _latencies.Count;

    /// <summary>The longest submit-to-start latency, in device cycles (0 when none).</summary>
    public ulong SubmitToStartMaxCycles => _latencies.Max;

    internal void AddLatency(ulong cycles) => _latencies.Record(cycles);

    /// <summary>
    /// Nearest-rank percentile (0 &lt; p ≤ 100) of the submit-to-start latencies in device cycles: exact below 256
    /// cycles, otherwise at most 1/128 above the exact value (a bounded histogram); 0 when there are none.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The percentile is not in (0, 100].</exception>
    public ulong LatencyPercentile(double percentile) => _latencies.Percentile(percentile);
}
