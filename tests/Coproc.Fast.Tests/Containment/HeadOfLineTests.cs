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

    [Test]
    public void HungContextWhoseNextBufferWaitsForItsOwnPinnedMemory_DoesNotHoldThePreparationSlot_AnotherProcessRunsLongBeforeTheTimeout()
    {
        // Given a context hung on a WAIT in a chunk that pins half of local memory, whose next buffer fits only once that
        // chunk retires (its own working set: seed 001 §5.5 evicts the current context's memory first), and a long timeout.
        const ulong MiB = 1024 * 1024;
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = 50_000_000 },
            localBytes: 8 * MiB, realResidency: true);
        var hung = h.Machine.CreateContext(1, 8);
        var other = h.Machine.CreateContext(2, 14);
        var counter = h.Allocate(1);
        var a = h.Machine.AllocateManaged(1, hung, 4 * MiB);
        var b = h.Machine.AllocateManaged(1, hung, 4 * MiB);
        var data = h.Machine.AllocateManaged(2, other, 64 * 1024);
        h.Submit(1, hung, cb => { cb.Fill(a, 0, 0x01010101, 4 * MiB); cb.Wait(counter, 0); });
        long next = h.Submit(1, hung, cb => cb.Fill(b, 0, 0x02020202, 4 * MiB));
        h.Machine.RunFor(2_000_000);
        Assume.That(h.Trace.Of(ScheduleEventKind.BufferStarted).Count(e => e.ContextId == hung.Id), Is.EqualTo(1),
            "the second buffer cannot become resident beside the hung chunk");

        // When another process submits a 64 KiB FILL.
        long fill = h.Submit(2, other, cb => cb.Fill(data, 0, 0x5A5A5A5A, 64 * 1024));

        // Then it completes within a small fraction of the timeout.
        Assert.That(h.Machine.RunUntil(() => other.StatusOf(fill) == SubmissionStatus.Completed, maxCycles: 4_000_000), Is.True,
            "the other process waited for the hung context's timeout");
        Assert.That(h.Read32(data, 64 * 1024 - 4), Is.EqualTo(0x5A5A5A5Au));
        Assert.That(hung.Resets, Is.Zero, "decided before the timeout");

        // And the timeout resets the hung context (its parked buffer fails with it), after which its new work runs.
        Assert.That(h.Machine.RunUntil(() => hung.Resets == 1, maxCycles: 200_000_000), Is.True);
        Assert.That(hung.StatusOf(next), Is.EqualTo(SubmissionStatus.FailedTimeout));
        long again = h.Submit(1, hung, cb => cb.Fill(b, 0, 0x02020202, 4 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(hung.StatusOf(again), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(b).All(x => x == 2), Is.True);
    }
}
