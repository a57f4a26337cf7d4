using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// Timeout detection on active engine time (docs/containment.md "Timeouts", VidSchScheduler.Recovery.cs R1) and timers
/// the machine never drops.
/// </summary>
public class TimeoutDetectionTests
{
    [Test]
    public void HungWait_SubmittedAfterTheMachineWentIdle_IsStillResetAfterTheTimeout()
    {
        // Given a context whose first buffer armed a timeout timer far ahead (long quantum) and then completed, the
        // machine going idle with that timer pending.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000_000, TimeoutCycles = 3_000_000 });
        var ctx = h.Machine.CreateContext(1);
        var other = h.Machine.CreateContext(2);
        var counter = h.Allocate(1);
        var data = h.Allocate(1, 1 << 20);
        var data2 = h.Allocate(2);
        long first = h.Submit(1, ctx, cb => cb.Fill(data, 0, 0x11, 1 << 20)); // in flight at the next pass: a timer is armed
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(ctx.StatusOf(first), Is.EqualTo(SubmissionStatus.Completed));

        // When it then submits a WAIT nobody signals, and another process queues work behind it.
        long stuck = h.Submit(1, ctx, cb => cb.Wait(counter, 0));
        long behind = h.Submit(2, other, cb => cb.Fill(data2, 0, 0x22, 4096));

        // Then the timeout still fires: the hung buffer fails and the other process's work runs.
        Assert.That(h.Machine.RunUntilIdle(maxCycles: 50_000_000), Is.True, "the machine reaches idle through the reset");
        Assert.That(ctx.StatusOf(stuck), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(other.StatusOf(behind), Is.EqualTo(SubmissionStatus.Completed));
    }

    [Test]
    public void EightPreemptibleEqualContexts_WithBuffersLongerThanTheTimeoutTogether_AreNeverReset_ButAHungOneIs()
    {
        // Given eight equal contexts, each with one FILL that runs ~33 K cycles alone (well under the 100 K timeout) but
        // ~260 K cycles from first start to end when they share the engine in 5 K quanta, and a ninth context hung on a WAIT.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 5_000, TimeoutCycles = 100_000 }, localBytes: 64UL << 20);
        var contexts = new List<(VidSchContext Ctx, Coproc.Fast.Driver.VidMm.AllocationHandle Target, long Id)>();
        for (uint p = 1; p <= 8; p++)
        {
            var ctx = h.Machine.CreateContext(p);
            var target = h.Allocate(p, 2 << 20);
            uint value = 0x01010101 * p;
            contexts.Add((ctx, target, h.Submit(p, ctx, cb => cb.Fill(target, 0, value, 2 << 20))));
        }
        var hung = h.Machine.CreateContext(9);
        var counter = h.Allocate(9);
        long stuck = h.Submit(9, hung, cb => cb.Wait(counter, 0));

        // When they run to the end.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then waiting for a turn was no hang: every long buffer completed with its bytes; only the WAIT was reset.
        for (int i = 0; i < contexts.Count; i++)
        {
            var (ctx, target, id) = contexts[i];
            Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed), $"context {i}");
            Assert.That(ctx.Resets, Is.Zero);
            Assert.That(h.Read32(target, (2 << 20) - 4), Is.EqualTo(0x01010101u * (uint)(i + 1)));
        }
        Assert.That(h.Trace.Of(ScheduleEventKind.ContextPreempted).Count(), Is.GreaterThan(8), "they did share the engine");
        Assert.That(hung.StatusOf(stuck), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(hung.Resets, Is.EqualTo(1));
    }

    [Test]
    public void ContextAloneOnTheEngine_RunningOneBufferLongerThanTheTimeout_IsReset()
    {
        // Given a single FILL that needs ~260 K cycles of engine time, with a 100 K timeout: it holds the engine with no
        // retirement for longer than the timeout.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 5_000, TimeoutCycles = 100_000 }, localBytes: 64UL << 20);
        var ctx = h.Machine.CreateContext(1);
        var target = h.Allocate(1, 16 << 20);
        long id = h.Submit(1, ctx, cb => cb.Fill(target, 0, 7, 16 << 20));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then active time without progress is what counts: it is reset as hung.
        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.FailedTimeout));
    }
}

/// <summary>Threaded mode: the timeout decision does not depend on how far the device clock ran ahead of the scheduler thread.</summary>
public class ThreadedTimeoutDetectionTests
{
    [Test]
    [CancelAfter(60_000)]
    public void ThreadedMode_EightEqualContextsSharingTheEngine_AreNeverReset()
    {
        // Given eight equal contexts in threaded mode, each with FILLs that need ~33 K cycles of engine time (a third of
        // the timeout), sharing the engine in 5 K-cycle quanta: together far longer than the timeout.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 5_000, TimeoutCycles = 100_000 }, MachineRunMode.Threaded,
            localBytes: 64UL << 20);
        var work = new List<(VidSchContext Ctx, Coproc.Fast.Driver.VidMm.AllocationHandle Target, List<long> Ids)>();
        for (uint p = 1; p <= 8; p++)
            work.Add((h.Machine.CreateContext(p), h.Allocate(p, 2 << 20), new List<long>()));
        h.Machine.Start();

        // When each submits three such buffers.
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < work.Count; i++)
            {
                var (ctx, target, ids) = work[i];
                uint value = (uint)(0x01010101 * (i + 1) + round);
                ids.Add(h.Submit((uint)(i + 1), ctx, cb => cb.Fill(target, 0, value, 2 << 20)));
            }
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(45)), Is.True, "bounded: the machine finishes");

        // Then none was taken for hung: every buffer completed and the last one's bytes are in place.
        for (int i = 0; i < work.Count; i++)
        {
            var (ctx, target, ids) = work[i];
            Assert.That(ids.Select(ctx.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed), $"context {i}");
            Assert.That(ctx.Resets, Is.Zero, $"context {i}");
            Assert.That(h.Read32(target, (2 << 20) - 4), Is.EqualTo((uint)(0x01010101 * (i + 1) + 2)));
        }
    }
}
