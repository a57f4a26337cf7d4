using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// <see cref="VidSchOptions.Preemption"/> off: no context is switched out mid-buffer, yet the next buffer still follows
/// the policy at the buffer boundary (seed 001 §5.5: the next buffer comes from a context of equal or higher priority).
/// </summary>
[TestFixture]
public sealed class NoPreemptionTests
{
    [Test]
    public void GivenPreemptionOff_WhenAHigherContextArrivesDuringALongLowBuffer_ThenNothingIsPreempted_AndItRunsAtTheNextBoundary()
    {
        using var rig = new PolicyRig(quantum: 100_000, preemption: false);
        // The low context submits long buffers back to back and would keep its ring full for ever.
        var low = rig.Add(priority: 1, cyclesPerBuffer: 2_000_000);
        var high = rig.Add(priority: 9, cyclesPerBuffer: 50_000, startCycle: 500_000);
        rig.RunTo(12_000_000);

        Assert.That(low.Context.Preemptions, Is.Zero, "no CONTEXT_SWITCH took the engine mid-buffer");
        Assert.That(rig.Harness.Machine.Scheduler.PreemptionCount, Is.Zero);
        // Without the boundary rule the low ring never empties and the high context never runs; with it, the high
        // context gets the engine at each of the low buffers' ends and then keeps it (strict priority).
        Assert.That(high.Context.Completed, Is.GreaterThan(100), "the high context ran at the buffer boundary");
        Assert.That(low.Context.Completed, Is.LessThanOrEqualTo(3), "the low context did not keep refilling its ring ahead of the high one");
    }

    [Test]
    public void GivenPreemptionOn_TheSameMix_PreemptsTheLowBufferMidway()
    {
        using var rig = new PolicyRig(quantum: 100_000);
        var low = rig.Add(priority: 1, cyclesPerBuffer: 2_000_000);
        var high = rig.Add(priority: 9, cyclesPerBuffer: 50_000, startCycle: 500_000);
        rig.RunTo(12_000_000);

        Assert.That(low.Context.Preemptions, Is.GreaterThan(0));
        Assert.That(high.Context.Completed, Is.GreaterThan(100));
    }
}
