namespace Coproc.Fast.Driver.VidSch;

public sealed partial class VidSchScheduler
{
    /// <summary>
    /// Runs a scheduling pass when another engine's scheduler retired chunks since this one's last pass and this one's
    /// preparation was deferred for lack of room (the retired chunks were pinning memory, SchedulerGroup invariant 1).
    /// </summary>
    internal void PumpIfGroupRetired()
    {
        lock (KernelLock)
        {
            // A context lending its memory retries its return after another engine's retirement too (Lending.cs).
            if ((_preparationDeferred || AnyLent()) && _group.Retirements != _retirementsSeen) Pump();
        }
    }

    private bool AnyLent() => _lendingCount > 0;
}
