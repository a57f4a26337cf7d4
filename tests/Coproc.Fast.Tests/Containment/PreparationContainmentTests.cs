using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// Every buffer the KMD accepts can be prepared, and a failure while preparing one buffer fails only that buffer
/// (docs/containment.md "Preparation").
/// </summary>
public class PreparationContainmentTests
{
    [Test]
    public void ZeroLengthFill_AtAnOffsetEqualToTheAllocationSize_IsRejectedAtSubmit_AsOutOfBounds()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var a = h.Allocate(1, 4096);

        var e = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, ctx, cb => cb.Fill(a, 4096, 0, 0)));

        Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.OutOfBounds));
        // The engine still serves the process.
        long ok = h.Submit(1, ctx, cb => cb.Fill(a, 4092, 9, 4));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(ctx.StatusOf(ok), Is.EqualTo(SubmissionStatus.Completed));
    }

    [Test]
    public void FreedAllocation_IsRejectedAtSubmit_AsHandleNotOwned()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var a = h.Allocate(1, 4096);
        lock (h.Scheduler.KernelLock) h.Machine.VidMm.Free(a);

        var e = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, ctx, cb => cb.Fill(a, 0, 0, 16)));

        Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.HandleNotOwned));
        Assert.That(h.Kmd.Process(1).Outstanding, Is.Zero, "nothing queued");
    }

    [Test]
    public void AllocationFreedAfterSubmission_FailsOnlyThatBuffer_AndTheEngineKeepsServingEveryProcess()
    {
        // Given a buffer accepted by the KMD whose allocation is freed before the preparation worker reaches it.
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var other = h.Machine.CreateContext(2);
        var a = h.Allocate(1, 4096);
        var b = h.Allocate(2, 4096);
        long doomed = h.Submit(1, ctx, cb => cb.Fill(a, 0, 0xAA, 4096));
        lock (h.Scheduler.KernelLock) h.Machine.VidMm.Free(a);
        long later = h.Submit(1, ctx, cb => cb.Nop());
        long others = h.Submit(2, other, cb => cb.Fill(b, 0, 0xBB, 4096));

        // When the machine runs.
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "the preparation slot is not left taken");

        // Then that buffer failed with a typed status, an event and a count; everything else completed.
        Assert.That(ctx.StatusOf(doomed), Is.EqualTo(SubmissionStatus.FailedPreparation));
        Assert.That(h.Scheduler.PreparationFailures, Is.EqualTo(1));
        Assert.That(h.Trace.Of(ScheduleEventKind.BufferFailed).Single().Value, Is.EqualTo((ulong)SubmissionStatus.FailedPreparation));
        Assert.That(ctx.StatusOf(later), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(other.StatusOf(others), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(b, 0), Is.EqualTo(0xBBu));
        Assert.That(h.Kmd.Process(1).Outstanding, Is.Zero, "the failed buffer went back to its pool");
    }
}
