namespace Coproc.Fast.Driver.Kernel;

/// <summary>How the <see cref="Ring0Gate"/> charges a ring-3 → ring-0 transition (docs/concepts.md "The pipeline").</summary>
public enum Ring0GatePolicy
{
    /// <summary>No charge: arguments are still copied in and entries counted.</summary>
    None = 0,
    /// <summary>A configurable cost in virtual cycles, added to the gate's virtual clock (deterministic runs).</summary>
    Modeled = 1,
    /// <summary>One actual kernel transition (a <c>getppid</c> system call) per entry (wall-clock benchmarks).</summary>
    Real = 2,
}
