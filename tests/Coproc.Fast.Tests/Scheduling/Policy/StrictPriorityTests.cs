using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// Strict priority between levels (seed 001 §5.5: the next buffer comes from a context of equal or higher priority;
/// docs/scheduling-policy.md rule 1).
/// </summary>
[TestFixture]
public sealed class StrictPriorityTests
{
    [Test]
    public void GivenAHighContextThatAlwaysHasWork_WhenItsRingDrainsBetweenBuffers_ThenALowerContextGetsNoEngineTime()
    {
        using var rig = new PolicyRig(quantum: 100_000);
        // The low context starts alone with long buffers; the high one arrives later with short buffers, so its ring
        // runs dry between buffers all the time (each completion is refilled by the submitter).
        var low = rig.Add(priority: 0, cyclesPerBuffer: 2_000_000);
        var high = rig.Add(priority: 12, cyclesPerBuffer: 20_000, startCycle: 1_000_000);
        rig.RunTo(2_000_000);
        ulong lowBefore = rig.EngineCycles(low.Context), highBefore = rig.EngineCycles(high.Context);

        rig.RunTo(12_000_000);

        Assert.That(rig.EngineCycles(high.Context) - highBefore, Is.GreaterThan(9_000_000UL), "the high context kept the engine busy");
        Assert.That(rig.EngineCycles(low.Context) - lowBefore, Is.Zero, "the low context never ran while the high one had work");
    }

    [Test]
    public void GivenALowContextRunningALongBuffer_WhenAHigherContextSubmits_ThenItRunsAtOnceEveryTime()
    {
        using var rig = new PolicyRig(quantum: 100_000);
        var h = rig.Harness;
        var low = rig.Add(priority: 1, cyclesPerBuffer: 4_000_000);
        rig.RunTo(500_000);
        var highCtx = h.Machine.CreateContext(99, priority: 9);
        var x = h.Allocate(99, 64 * 1024);
        // Arrive, drain, refill: each buffer of the higher context must be done long before the low buffer's end.
        for (int round = 0; round < 3; round++)
        {
            long id = h.Submit(99, highCtx, cb => cb.Fill(x, 0, (uint)round, 64 * 1024));
            ulong submitted = h.Machine.Now;
            Assert.That(h.Machine.RunUntil(() => highCtx.StatusOf(id) == SubmissionStatus.Completed, 1_000_000), Is.True);
            Assert.That(h.Machine.Now - submitted, Is.LessThan(60_000UL),
                $"round {round}: the higher context waited for the lower one's buffer or quantum");
            Assert.That(low.Context.Completed, Is.Zero, "the long low buffer was preempted, not finished first");
            rig.RunTo(h.Machine.Now + 300_000);
        }
    }

    [Test]
    public void GivenTwoLevelsAndAFullInFlightBound_WhenTheHighContextRefills_ThenItsPreparedChunkIsNotHeldBackByTheLowContext()
    {
        // MaxInFlight = 1: the high context's next chunk may only enter its ring once its running one retired; the low
        // context's chunk sits in its own ring. The bound is per context, so the low chunk never holds the high one out.
        using var rig = new PolicyRig(quantum: 100_000, maxInFlight: 1);
        var low = rig.Add(priority: 2, cyclesPerBuffer: 1_000_000);
        var high = rig.Add(priority: 6, cyclesPerBuffer: 16_000, startCycle: 200_000);
        rig.RunTo(1_000_000);
        ulong lowBefore = rig.EngineCycles(low.Context);
        rig.RunTo(6_000_000);
        Assert.That(rig.EngineCycles(low.Context) - lowBefore, Is.Zero);
        Assert.That(high.Context.Completed, Is.GreaterThan(200));
    }
}
