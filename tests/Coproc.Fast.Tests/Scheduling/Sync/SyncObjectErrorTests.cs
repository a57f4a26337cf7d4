using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Scheduling.Sync;

/// <summary>Bad calls are refused with typed errors and change nothing; misuse only visible at a signal faults only its context.</summary>
[TestFixture]
public sealed class SyncObjectErrorTests
{
    [Test]
    public void EachThunk_IsOneRing0Entry()
    {
        using var h = new SyncHarness();
        var ctx = h.Machine.CreateContext(1);
        long before = h.Machine.Gate.EntriesOf(1);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        h.Kmd.WaitOnSingleObject(1, ctx, m);
        h.Kmd.SignalObject(1, ctx, m);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        h.Kmd.DeleteSynchronizationObject(1, m);
        Assert.That(h.Machine.Gate.EntriesOf(1) - before, Is.EqualTo(4));
    }

    [Test]
    public void BadHandleOrWrongProcess_IsRefusedTyped_WithNothingChanged()
    {
        using var h = new SyncHarness();
        var mine = h.Machine.CreateContext(1);
        var theirs = h.Machine.CreateContext(2);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        Assert.That(() => h.Kmd.WaitOnSingleObject(1, mine, 999), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.UnknownHandle));
        Assert.That(() => h.Kmd.WaitOnSingleObject(2, theirs, m), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.WrongProcess));
        Assert.That(() => h.Kmd.SignalObject(1, theirs, m), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.WrongProcess), "a context of another process");
        Assert.That(() => h.Kmd.DeleteSynchronizationObject(2, m), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.WrongProcess));
        Assert.That(() => h.Kmd.WaitOnMultipleObjects(1, mine, [m, m], waitAll: true), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.InvalidArgument));
        Assert.That(() => h.Kmd.WaitOnMultipleObjects(1, mine, [], waitAll: false), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.InvalidArgument));
        Assert.That(() => h.Kmd.ResetEvent(1, mine, m), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.WrongKind));
        Assert.That(() => h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 3, 2), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.InvalidArgument));
        Assert.That(() => h.Kmd.CreateSynchronizationObject(1, (SyncObjectKind)9), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.InvalidArgument));

        Assert.That(h.Scheduler.QuerySynchronizationObject(m), Is.EqualTo(new SyncObjectState(SyncObjectKind.Mutex, -1, 1, 1, 0, 0)));
        Assert.That(h.Scheduler.QueryContextSync(mine), Is.EqualTo(Coproc.Fast.Driver.VidSch.ContextSyncInfo.None));
        Assert.That(mine.FenceIssued + theirs.FenceIssued, Is.Zero, "nothing reached a ring");
    }

    [Test]
    public void DeletingAnObjectWithWaiters_IsRefused_ThenAllowedOnceFree()
    {
        using var h = new SyncHarness();
        var owner = h.Machine.CreateContext(1);
        var waiter = h.Machine.CreateContext(1);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        h.Kmd.WaitOnSingleObject(1, owner, m);
        h.Kmd.WaitOnSingleObject(1, waiter, m);
        Assert.That(() => h.Kmd.DeleteSynchronizationObject(1, m), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.InUse), "waits not reached yet name it");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(() => h.Kmd.DeleteSynchronizationObject(1, m), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.InUse), "a waiter");
        h.Kmd.SignalObject(1, owner, m);
        h.Kmd.SignalObject(1, waiter, m);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        h.Kmd.DeleteSynchronizationObject(1, m);
        Assert.That(() => h.Scheduler.QuerySynchronizationObject(m), Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.UnknownHandle));
    }

    [Test]
    public void SemaphoreOverflow_AndReleasingAnUnownedMutex_FaultOnlyTheSignallingContext()
    {
        using var h = new SyncHarness();
        var bad = h.Machine.CreateContext(1);
        var owner = h.Machine.CreateContext(1);
        var good = h.Machine.CreateContext(1);
        var mem = h.Allocate(1);
        uint s = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 1, 1);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        h.Kmd.WaitOnSingleObject(1, owner, m);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        h.Kmd.SignalObject(1, bad, s);  // already at its maximum
        h.Kmd.SignalObject(1, bad, m);  // owned by another context
        long after = h.Submit(1, bad, cb => cb.WriteData(mem, 0, [1]));
        long goodWork = h.Submit(1, good, cb => cb.WriteData(mem, 4, [2]));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Scheduler.QueryContextSync(bad), Has.Property(nameof(Coproc.Fast.Driver.VidSch.ContextSyncInfo.Faults)).EqualTo(2)
            .And.Property(nameof(Coproc.Fast.Driver.VidSch.ContextSyncInfo.LastFault)).EqualTo(SyncFault.MutexNotOwned));
        Assert.That(h.Log.Count(r => r.Outcome == SchedulerEventOutcome.Faulted), Is.EqualTo(2));
        Assert.That(h.Scheduler.QuerySynchronizationObject(s).Count, Is.EqualTo(1), "unchanged");
        Assert.That(h.Scheduler.QuerySynchronizationObject(m).OwnerContextId, Is.EqualTo(owner.Id), "unchanged");
        Assert.That(bad.StatusOf(after), Is.EqualTo(Coproc.Fast.Driver.VidSch.SubmissionStatus.Completed), "the context itself keeps running");
        Assert.That(good.StatusOf(goodWork), Is.EqualTo(Coproc.Fast.Driver.VidSch.SubmissionStatus.Completed));
        Assert.That(h.Scheduler.QueryContextSync(good).Faults + h.Scheduler.QueryContextSync(owner).Faults, Is.Zero);
    }
}
