using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver;

/// <summary>
/// Sees every batch of interrupt records the machine's interrupt service routine read (native-layout.md §9.2), before
/// the schedulers and the display handle them — for traces (an instant per interrupt). Called on the thread that
/// serviced the interrupt (deterministic: the caller's; threaded: the scheduler thread); keep it short.
/// </summary>
public interface IInterruptTap
{
    /// <summary>One batch, in device order.</summary>
    void OnInterrupts(ReadOnlySpan<InterruptRecord> records);
}

public sealed partial class Machine
{
    /// <summary>Receives every interrupt record the ISR drained (null: none, at no cost).</summary>
    public IInterruptTap? InterruptTap { get; set; }
}
