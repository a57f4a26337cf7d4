using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Scheduling.Sync;

/// <summary>
/// The scheduler event history (seed 001 §11, Fig. 25), waits and signals as fences in a context's stream (§10.1),
/// user-mode completion notification (§10.4), and the §21 extra behaviours on DMA-buffer end and completion events.
/// </summary>
[TestFixture]
public sealed class EventHistoryTests
{
    [Test]
    public void Wait_HoldsLaterBuffersBackFromTheRing()
    {
        // Given a context waiting on an unsignalled event, with three buffers submitted after the wait.
        using var h = new SyncHarness();
        var waiter = h.Machine.CreateContext(1);
        var other = h.Machine.CreateContext(1);
        var mem = h.Allocate(1);
        uint e = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent);
        h.Kmd.WaitOnSingleObject(1, waiter, e);
        ulong ringAfterWait = h.RingWritePointer(waiter);
        var ids = Enumerable.Range(0, 3).Select(i => h.Submit(1, waiter, cb => cb.WriteData(mem, (ulong)i * 4, [5]))).ToArray();

        // When the machine runs to idle.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then nothing after the wait entered the ring: the buffers sit in the software queue, the context on the wait list.
        Assert.That(h.RingWritePointer(waiter), Is.EqualTo(ringAfterWait));
        Assert.That(h.Scheduler.QueryContextSync(waiter), Has.Property(nameof(ContextSyncInfo.HeldBackBuffers)).EqualTo(3)
            .And.Property(nameof(ContextSyncInfo.OnWaitList)).True);
        Assert.That(ids.Select(waiter.StatusOf), Is.All.EqualTo(SubmissionStatus.Pending));
        Assert.That(h.Read32(mem, 0) | h.Read32(mem, 4) | h.Read32(mem, 8), Is.Zero);
        Assert.That(h.Scheduler.ReadyCount, Is.Zero, "held-back buffers are not in the ready queue either");

        // And a signal from another context lets them in, in order.
        h.Kmd.SignalObject(1, other, e);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(ids.Select(waiter.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.RingWritePointer(waiter), Is.GreaterThan(ringAfterWait));
        Assert.That(h.Scheduler.QueryContextSync(waiter).HeldBackBuffers, Is.Zero);
        var started = h.Trace.Of(ScheduleEventKind.BufferStarted).Where(t => t.ContextId == waiter.Id).Select(t => t.SubmissionId);
        Assert.That(started, Is.EqualTo(ids));
        var syncTrace = h.Trace.Events.Where(t => t.ContextId == waiter.Id && t.Kind is ScheduleEventKind.ContextWaiting or ScheduleEventKind.ContextReadied or ScheduleEventKind.BufferSubmitted).ToList();
        Assert.That(syncTrace.Select(t => t.Kind), Is.EqualTo(new[]
        {
            ScheduleEventKind.ContextWaiting, ScheduleEventKind.ContextReadied,
            ScheduleEventKind.BufferSubmitted, ScheduleEventKind.BufferSubmitted, ScheduleEventKind.BufferSubmitted,
        }), "traced as waiting, readied, then the held-back buffers enter the ready queue");
        Assert.That(syncTrace[0].Value, Is.EqualTo((ulong)e));
    }

    [Test]
    public void Signal_TakesEffectOnlyAfterEarlierWorkRetired()
    {
        // Given context A with long work followed by a signal, and B waiting on the event.
        using var h = new SyncHarness();
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(1);
        var mem = h.Allocate(1, 1 << 20);
        uint e = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent);
        h.Kmd.WaitOnSingleObject(1, b, e);
        long bWork = h.Submit(1, b, cb => cb.Copy(mem, 0, mem, 512 * 1024, 4096));
        long aWork = h.Submit(1, a, cb => cb.Fill(mem, 0, 0xAB, 1 << 19));

        // When A calls SignalObject, the object does not change at the call.
        h.Kmd.SignalObject(1, a, e);
        Assert.That(h.Scheduler.QuerySynchronizationObject(e).Count, Is.Zero);

        // Then it changes only once the coprocessor reached the signal's fence — after A's work retired.
        Assert.That(h.Machine.RunUntil(() => h.Scheduler.QuerySynchronizationObject(e).Count == 1), Is.True);
        Assert.That(a.StatusOf(aWork), Is.EqualTo(SubmissionStatus.Completed));
        var log = h.LogOf(a).ToList();
        var end = log.Single(r => r.Kind == SchedulerEventKind.DmaBufferEnd && r.SubmissionId == aWork);
        var signal = log.Single(r => r.Kind == SchedulerEventKind.SignalSync);
        Assert.That(signal.Fence, Is.GreaterThan(end.Fence));
        Assert.That(log.IndexOf(signal), Is.GreaterThan(log.IndexOf(end)));

        // And B's copy therefore sees A's bytes.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(b.StatusOf(bWork), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(mem, 512 * 1024), Is.EqualTo(0xABu));
    }

    [Test]
    public void EventHistory_ProcessedInFenceOrder_EvenWhenInterruptsCoalesce()
    {
        // Given a slow interrupt service (several fences land per interrupt) and a stream mixing buffers, signals, a
        // user-mode notification and a wait.
        using var h = new SyncHarness(interruptLatencyCycles: 200_000);
        var ctx = h.Machine.CreateContext(1);
        var mem = h.Allocate(1);
        uint s = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 0, 4);
        using var done = new UserModeCompletionEvent();
        h.Submit(1, ctx, cb => cb.WriteData(mem, 0, [1]));
        h.Kmd.SignalObject(1, ctx, s);
        h.Submit(1, ctx, cb => cb.WriteData(mem, 4, [2]), done);
        h.Kmd.SignalObject(1, ctx, s);
        h.Kmd.WaitOnSingleObject(1, ctx, s);
        h.Submit(1, ctx, cb => cb.WriteData(mem, 8, [3]));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        var log = h.LogOf(ctx).ToList();
        Assert.That(log.Select(r => r.Kind), Is.EqualTo(new[]
        {
            SchedulerEventKind.DmaBufferEnd, SchedulerEventKind.SignalSync, SchedulerEventKind.DmaBufferEnd,
            SchedulerEventKind.UserModeNotification, SchedulerEventKind.SignalSync, SchedulerEventKind.WaitSync, SchedulerEventKind.DmaBufferEnd,
        }));
        Assert.That(log.Select(r => r.Fence), Is.Ordered);
        Assert.That(log.All(r => r.FenceRead >= r.Fence), Is.True, "processed only once its fence value was read back");
        Assert.That(log.GroupBy(r => r.FenceRead).Any(g => g.Count() >= 3), Is.True, "one walk processed several events of one interrupt");
        Assert.That(h.Scheduler.QuerySynchronizationObject(s).Count, Is.EqualTo(1), "two releases, one wait");
        Assert.That(h.Read32(mem, 8), Is.EqualTo(3u));
    }

    [Test]
    public void DmaBufferEndEvent_ReturnsBufferOnlyWhenFenceReached()
    {
        // Given a slow interrupt service, so the device writes the trailing fence long before the scheduler reads it.
        using var h = new SyncHarness(interruptLatencyCycles: 100_000);
        var ctx = h.Machine.CreateContext(1);
        var mem = h.Allocate(1, 1 << 20);
        var process = h.Kmd.Process(1);
        long id = h.Submit(1, ctx, cb => cb.Fill(mem, 0, 1, 1 << 20));
        Assert.That(h.Machine.RunUntil(() => ctx.FenceIssued > 0), Is.True);
        ulong trailing = ctx.FenceIssued;

        // While the fence is not reached, and even once the device wrote it but the interrupt was not serviced, the
        // buffer stays out of the pool.
        Assert.That(h.Machine.RunUntil(() => h.FenceInMemory(ctx) >= trailing), Is.True);
        Assert.That(process.DmaBuffersPooled, Is.Zero);
        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Pending));

        // When the scheduler walks the history on that interrupt, the buffer returns.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(process.DmaBuffersPooled, Is.EqualTo(1));
        var end = h.LogOf(ctx).Single(r => r.Kind == SchedulerEventKind.DmaBufferEnd);
        Assert.That(end, Has.Property(nameof(SchedulerEventRecord.Fence)).EqualTo(trailing)
            .And.Property(nameof(SchedulerEventRecord.Outcome)).EqualTo(SchedulerEventOutcome.BufferReturned));
    }

    [Test]
    public void UserModeCompletionEvent_FiresAfterTrailingFenceAndInterrupt()
    {
        using var h = new SyncHarness(interruptLatencyCycles: 100_000);
        var ctx = h.Machine.CreateContext(1);
        var mem = h.Allocate(1, 1 << 20);
        using var done = new UserModeCompletionEvent();
        long id = h.Submit(1, ctx, cb => cb.Fill(mem, 0, 1, 1 << 20), done);
        Assert.That(h.Machine.RunUntil(() => ctx.FenceIssued > 0), Is.True);
        ulong trailing = ctx.FenceIssued;

        // Not before the trailing fence is written, nor between the write and the interrupt's service.
        Assert.That(h.Machine.RunUntil(() => h.FenceInMemory(ctx) >= trailing), Is.True);
        ulong fenceWrittenBy = h.Machine.Now;
        Assert.That(done.IsSignaled, Is.False);
        Assert.That(done.Wait(TimeSpan.Zero), Is.False);

        // Then once the interrupt is serviced: signalled once, at a fence value that covers the buffer.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(done.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(done.SignalCount, Is.EqualTo(1));
        Assert.That(done.SignaledAtFence, Is.GreaterThanOrEqualTo(trailing));
        Assert.That(done.SignaledAtCycle, Is.GreaterThan(fenceWrittenBy));
        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
    }

    [Test]
    public void WaitOnNeverSignalledObject_HarmsOnlyItsContext_AndTimeoutDetectionDoesNotResetIt()
    {
        // Given a short timeout, a context that waits forever on an event, and two busy contexts.
        using var h = new SyncHarness(timeoutCycles: 300_000);
        var stuck = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var c = h.Machine.CreateContext(3);
        uint never = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent);
        var mark = h.Allocate(1);
        var yb = h.Allocate(2, 64 * 1024);
        var yc = h.Allocate(3, 64 * 1024);
        h.Kmd.WaitOnSingleObject(1, stuck, never);
        long held = h.Submit(1, stuck, cb => cb.WriteData(mark, 0, [0xDEAD]));
        var bIds = Enumerable.Range(0, 6).Select(i => h.Submit(2, b, cb => cb.Fill(yb, (ulong)i * 4096, 0xB0 + (uint)i, 4096))).ToList();
        var cIds = Enumerable.Range(0, 6).Select(i => h.Submit(3, c, cb => cb.Fill(yc, (ulong)i * 4096, 0xC0 + (uint)i, 4096))).ToList();

        // When the system runs, and then idles for many timeouts.
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "a context waiting on an object is not work for the hardware");
        h.Machine.RunFor(10 * 300_000);

        // Then the others finished with their bytes; the waiter is neither reset nor failed — merely waiting.
        Assert.That(bIds.Select(b.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(cIds.Select(c.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        for (int i = 0; i < 6; i++)
        {
            Assert.That(h.Read32(yb, (ulong)i * 4096), Is.EqualTo(0xB0 + (uint)i));
            Assert.That(h.Read32(yc, (ulong)i * 4096), Is.EqualTo(0xC0 + (uint)i));
        }
        Assert.That(stuck.Resets + b.Resets + c.Resets, Is.Zero);
        Assert.That(stuck.StatusOf(held), Is.EqualTo(SubmissionStatus.Pending));
        Assert.That(h.Scheduler.QueryContextSync(stuck).OnWaitList, Is.True);
        Assert.That(h.Read32(mark, 0), Is.Zero);
    }

    [Test]
    public void ResetOfABlockedContext_FailsItsHeldBackBuffers_AndKeepsItsSignals()
    {
        // Given a context whose work before a wait hangs (a device WAIT on a counter nobody signals), with a buffer and
        // a release held back behind its wait, and another context waiting for that release.
        using var h = new SyncHarness(timeoutCycles: 400_000);
        var hung = h.Machine.CreateContext(1);
        var waiter = h.Machine.CreateContext(1);
        var counter = h.Allocate(1);
        var mem = h.Allocate(1);
        uint e = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent, initialCount: 1);
        uint later = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent);
        long hangs = h.Submit(1, hung, cb => cb.Wait(counter, 0));
        h.Kmd.WaitOnSingleObject(1, hung, e);
        using var completion = new UserModeCompletionEvent();
        long heldBack = h.Submit(1, hung, cb => cb.WriteData(mem, 0, [1]), completion);
        h.Kmd.SignalObject(1, hung, later);
        h.Kmd.WaitOnSingleObject(1, waiter, later);
        long waiterWork = h.Submit(1, waiter, cb => cb.WriteData(mem, 4, [2]));

        // When timeout detection resets the hung context.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then its buffers fail (the held-back one too, its CPU event fired), its release still took effect.
        Assert.That(hung.Resets, Is.EqualTo(1));
        Assert.That(hung.StatusOf(hangs), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(hung.StatusOf(heldBack), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(completion.IsSignaled, Is.True);
        Assert.That(h.Read32(mem, 0), Is.Zero);
        Assert.That(waiter.StatusOf(waiterWork), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(mem, 4), Is.EqualTo(2u));
        Assert.That(h.Scheduler.QueryContextSync(hung).Blocked, Is.False);
    }

    [Test]
    public void DeterministicMode_SameInputs_GiveTheIdenticalEventOrder()
    {
        var first = Scenario(11);
        var second = Scenario(11);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(first.Count, Is.GreaterThan(30));
        Assert.That(Scenario(12), Is.Not.EqualTo(first), "the order depends on the inputs");
    }

    private static List<string> Scenario(int seed)
    {
        using var h = new SyncHarness();
        var rng = new Random(seed);
        var ctx = Enumerable.Range(0, 4).Select(_ => h.Machine.CreateContext(1)).ToArray();
        var mem = h.Allocate(1, 256 * 1024);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        uint s = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 2, 2);
        for (int n = 0; n < 24; n++)
        {
            var c = ctx[rng.Next(ctx.Length)];
            uint o = rng.Next(2) == 0 ? m : s;
            h.Kmd.WaitOnSingleObject(1, c, o);
            ulong off = (ulong)rng.Next(64) * 4096;
            uint pattern = (uint)rng.Next();
            h.Submit(1, c, cb => cb.Fill(mem, off, pattern, 4096));
            h.Kmd.SignalObject(1, c, o);
            if (rng.Next(3) == 0) h.Machine.RunFor((ulong)rng.Next(1, 30_000));
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        return h.Log.Select(r => $"{r.Cycle} {r.ContextId} {r.Kind} {r.Fence} {r.FenceRead} {r.Outcome} [{string.Join(",", r.Woken)}]").ToList();
    }
}
