namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// What <see cref="SchedulingObserver"/> counted for one context: the numbers of a report row. Latencies are kept
/// as samples (submit → first start on the engine, in device cycles) so percentiles can be taken at the end.
/// </summary>
public sealed class ContextStatistics
{
    private readonly List<ulong> _latencies = [];

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

    /// <summary>Bytes paged on its behalf.</summary>
    public long BytesPaged { get; internal set; }

    /// <summary>Ring-0 gate entries it made.</summary>
    public long Ring0GateEntries { get; internal set; }

    /// <summary>Doorbells it rang.</summary>
    public long Doorbells { get; internal set; }

    /// <summary>Submit-to-start latencies, in completion order of the starts.</summary>
    public IReadOnlyList<ulong> SubmitToStartCycles => _latencies;

    internal void AddLatency(ulong cycles) => _latencies.Add(cycles);

    /// <summary>Nearest-rank percentile (0 &lt; p ≤ 100) of the submit-to-start latencies; 0 when there are none.</summary>
    public ulong LatencyPercentile(double percentile) => LatencyPercentiles.Of(_latencies.ToArray(), percentile);
}
