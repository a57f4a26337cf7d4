using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>A hung or slow context never holds the preparation slot another process needs (VidSchScheduler.Hardware.cs, TryLaunch).</summary>
public class HeadOfLineTests
{
    [Test]
    public void HungContextWithBuffersQueued_DoesNotHoldThePreparationSlot_AnotherProcessRunsLongBeforeTheTimeout()
    {
        // Given a context hung on a WAIT with more buffers queued behind it (filling the in-flight bound), and a long timeout.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = 50_000_000 });
        var hung = h.Machine.CreateContext(1);
        var other = h.Machine.CreateContext(2);
        var counter = h.Allocate(1);
        var mark = h.Allocate(1);
        var data = h.Allocate(2, 4096);
        for (int i = 0; i < 4; i++)
        {
            int k = i;
            h.Submit(1, hung, cb => { cb.Wait(counter, 0); cb.WriteData(mark, (ulong)k * 4, [1]); });
        }
        h.Machine.RunFor(200_000);

        // When another process submits a 4 KiB FILL.
        long fill = h.Submit(2, other, cb => cb.Fill(data, 0, 0x5A5A5A5A, 4096));

        // Then it completes within a small fraction of the timeout.
        Assert.That(h.Machine.RunUntil(() => other.StatusOf(fill) == SubmissionStatus.Completed, maxCycles: 2_000_000), Is.True,
            "the other process waited for the hung context's timeout");
        Assert.That(h.Read32(data, 4092), Is.EqualTo(0x5A5A5A5Au));
        Assert.That(hung.Resets, Is.Zero, "decided before the timeout");
    }
}
