using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// The engine is kept for the loaded context's own next buffer only while that buffer is really on its way
/// (docs/scheduling-policy.md rule 2): a buffer whose preparation failed is no longer counted, so an equal with work is
/// not kept waiting for it — for a quantum in deterministic mode, for ever in threaded mode (the device parked).
/// </summary>
[TestFixture]
public sealed class KeepForOwnNextBufferTests
{
    [Test]
    public void GivenABufferWhosePreparationFailed_WhenAnEqualHasWork_ThenTheEngineIsNotKeptForTheFailedBuffer()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 5_000_000 });
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var x = h.Allocate(1);
        var outA = h.Allocate(1);
        var outB = h.Allocate(2);
        h.Submit(1, a, cb => cb.Fill(outA, 0, 1, 4096));
        long bad = h.Submit(1, a, cb => cb.Fill(x, 0, 2, 4096));
        lock (h.Scheduler.KernelLock) h.Machine.VidMm.Free(x); // freed after submission: its preparation fails
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(a.StatusOf(bad), Is.EqualTo(SubmissionStatus.FailedPreparation));
        ulong t0 = h.Machine.Now;
        long a3 = h.Submit(1, a, cb => cb.Fill(outA, 0, 3, 4096));
        long b1 = h.Submit(2, b, cb => cb.Fill(outB, 0, 4, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        var doneA = h.Trace.Of(ScheduleEventKind.BufferCompleted).First(e => e.ContextId == a.Id && e.SubmissionId == a3).Cycle;
        var doneB = h.Trace.Of(ScheduleEventKind.BufferCompleted).First(e => e.ContextId == b.Id && e.SubmissionId == b1).Cycle;
        Assert.That(a.Queued, Is.EqualTo(0), "Queued leaked by FailPreparation");
        Assert.That(doneB - t0, Is.LessThan(1_000_000UL), "b waited for a's whole quantum with its buffer in the ring");
    }

    [Test]
    public void GivenABufferWhosePreparationFailed_InThreadedMode_ThenLaterWorkOfTheContextAndAnEqualCompletes()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 5_000_000 }, mode: MachineRunMode.Threaded);
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var x = h.Allocate(1);
        var outA = h.Allocate(1);
        var outB = h.Allocate(2);
        h.Machine.Start();
        long bad;
        lock (h.Scheduler.KernelLock)
        {
            h.Submit(1, a, cb => cb.Fill(outA, 0, 1, 4096));
            bad = h.Submit(1, a, cb => cb.Fill(x, 0, 2, 4096));
            h.Machine.VidMm.Free(x);
        }
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(10)), Is.True, "bounded (failure guard)");
        Assert.That(a.StatusOf(bad), Is.EqualTo(SubmissionStatus.FailedPreparation));
        ulong t0 = h.Machine.Now;
        long a3 = h.Submit(1, a, cb => cb.Fill(outA, 0, 3, 4096));
        long b1 = h.Submit(2, b, cb => cb.Fill(outB, 0, 4, 4096));
        bool idle = h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(10));
        Assert.That(idle, Is.True, "bounded: the machine goes idle (failure guard, not a timing)");
        Assert.That(new[] { a.StatusOf(a3), b.StatusOf(b1) }, Is.All.EqualTo(SubmissionStatus.Completed));
    }
}
