using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Review fixes: a timer the deterministic machine drops while idle must not leave the scheduler thinking it is armed.</summary>
public class IdleTimerDropTests
{
    [Test]
    public void HungBuffer_SubmittedAfterAnIdleStretch_IsStillResetAfterTheTimeout()
    {
        // Given a context whose first buffer ran to completion (its timeout timer then dropped as the machine went idle).
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = 3_000_000 });
        var ctx = h.Machine.CreateContext(1);
        var counter = h.Allocate(1);
        var data = h.Allocate(1);
        long first = h.Submit(1, ctx, cb => cb.Fill(data, 0, 0x11, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(ctx.StatusOf(first), Is.EqualTo(SubmissionStatus.Completed));

        // When it submits a buffer that waits on a counter nobody signals.
        long stuck = h.Submit(1, ctx, cb => cb.Wait(counter, 0));

        // Then the timeout still fires and recovers the context.
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "the machine reaches idle through the reset");
        Assert.That(ctx.StatusOf(stuck), Is.EqualTo(SubmissionStatus.FailedTimeout));
    }
}
