namespace Coproc.Fast.Driver.Kernel;

/// <summary>Configuration of a <see cref="Ring0Gate"/>.</summary>
public sealed record Ring0GateOptions
{
    /// <summary>Device clock rate the modeled cost is expressed in: 1 GHz, one cycle per nanosecond (native-layout.md §13.6).</summary>
    public const ulong DeviceClockHz = 1_000_000_000;

    /// <summary>A real kernel transition measured on this class of machine (docs/performance.md: 210–300 ns; median ~250 ns).</summary>
    public const ulong MeasuredTransitionNanoseconds = 250;

    /// <summary>Default modeled cost: 250 ns × 1 GHz = 250 device cycles.</summary>
    public const ulong DefaultModeledCycles = MeasuredTransitionNanoseconds * DeviceClockHz / 1_000_000_000;

    /// <summary>The charging policy. Default <see cref="Ring0GatePolicy.Modeled"/> (deterministic).</summary>
    public Ring0GatePolicy Policy { get; init; } = Ring0GatePolicy.Modeled;

    /// <summary>Virtual cycles charged per entry under <see cref="Ring0GatePolicy.Modeled"/>.</summary>
    public ulong ModeledCycles { get; init; } = DefaultModeledCycles;

    /// <summary>
    /// Receives each modeled charge (e.g. the deterministic run's virtual clock advance); optional. Called on the
    /// entering thread; the gate also accumulates the charge in <see cref="Ring0Gate.ChargedCycles"/>.
    /// </summary>
    public Action<ulong>? ChargeVirtualCycles { get; init; }

    /// <summary>Initial size of a kernel argument buffer the gate creates (one per entering thread, shared by that thread's gates, plus one per nesting level); larger arguments grow a buffer once.</summary>
    public int ArgumentBufferBytes { get; init; } = 4096;
}
