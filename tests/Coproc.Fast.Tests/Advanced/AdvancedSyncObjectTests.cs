using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Synchronization objects in the advanced model (seed 001 §10–§11): the machine's one object table, used by run-list
/// contexts (Models/SharedSyncObjectTests.cs has what every model shares and the objects across back ends).
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedSyncObjectTests
{
    private static SyncObjectState State(AdvancedRig rig, uint handle) => rig.Scheduler.QuerySynchronizationObject(handle);

    private static (AdvancedRig Rig, VaProcess P, GpuAllocation Log) NewRig(RunListMechanism mechanism = RunListMechanism.TwoElement)
    {
        var rig = new AdvancedRig(AdvancedRig.Small(mechanism));
        var p = rig.Scheduler.CreateProcess();
        return (rig, p, p.AllocatePinned(4096));
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void MutexHandoff_SignalWithAWaiter_TransfersOwnershipToIt_AndWithoutWaitersTheMutexIsFreed(RunListMechanism mechanism)
    {
        var (rig, p, log) = NewRig(mechanism);
        using var _ = rig;
        var a = rig.Scheduler.CreateContext(p);
        var b = rig.Scheduler.CreateContext(p);
        var big = p.AllocatePinned(1 << 20);
        uint m = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.Mutex);

        // Given A holds the mutex inside a long critical section, and B waits on it.
        rig.Scheduler.WaitOnSingleObject(a, m);
        rig.Submit(a, (ref PacketWriter w) => { w.Fill(big.Va, 0x5A5A5A5A, 1 << 20); w.WriteData(log.Va, 1); });
        rig.Scheduler.SignalObject(a, m);
        rig.Scheduler.WaitOnSingleObject(b, m);
        var bWork = rig.Submit(b, (ref PacketWriter w) => w.WriteData(log.Va + 4, 2));
        Assert.That(rig.Machine.RunUntil(() => State(rig, m).Waiters == 1), Is.True);
        Assert.That(State(rig, m).OwnerContextId, Is.EqualTo((int)a.Id));
        Assert.That(b.IsBlockedOnSync, Is.True);
        Assert.That(b.HeldBackCount, Is.EqualTo(1), "B's later buffer is held back from its ring");
        Assert.That(rig.Read32(log, 4), Is.Zero);

        // When A's signal is reached: ownership passes to B (the first waiter) and B's held-back work runs.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(bWork.IsComplete, Is.True);
        Assert.That((rig.Read32(log, 0), rig.Read32(log, 4)), Is.EqualTo((1u, 2u)));
        Assert.That(State(rig, m).OwnerContextId, Is.EqualTo((int)b.Id));

        // Then B's own signal, with nobody waiting, frees the mutex.
        rig.Scheduler.SignalObject(b, m);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(State(rig, m).OwnerContextId, Is.EqualTo(-1));
        Assert.That(State(rig, m).Count, Is.EqualTo(1));
    }

    [Test]
    public void SemaphoreWithCountK_AdmitsKContexts_TheNextWaitsUntilASignal_WithoutHoldingUpTheOthers()
    {
        var (rig, p, log) = NewRig();
        using var _ = rig;
        uint s = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.Semaphore, initialCount: 2, maxCount: 2);
        var ctxs = Enumerable.Range(0, 3).Select(_ => rig.Scheduler.CreateContext(p)).ToArray();
        var tickets = new VaTicket[3];
        for (int i = 0; i < 3; i++)
        {
            int slot = i;
            rig.Scheduler.WaitOnSingleObject(ctxs[i], s);
            tickets[i] = rig.Submit(ctxs[i], (ref PacketWriter w) => w.WriteData(log.Va + (ulong)slot * 4, 10 + (uint)slot));
        }

        // Given count 2 and three waiters: two are admitted, the third waits, and the machine still goes idle.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(tickets.Count(t => t.IsComplete), Is.EqualTo(2));
        Assert.That(ctxs.Count(c => c.IsBlockedOnSync), Is.EqualTo(1));
        Assert.That(State(rig, s).Count, Is.Zero);
        Assert.That(State(rig, s).Waiters, Is.EqualTo(1));

        // When one admitted context releases: the waiter is admitted (count stays 0).
        var admitted = ctxs.First(c => !c.IsBlockedOnSync);
        rig.Scheduler.SignalObject(admitted, s);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(tickets.All(t => t.IsComplete), Is.True);
        Assert.That(State(rig, s).Count, Is.Zero);
        Assert.That(ctxs.Any(c => c.IsBlockedOnSync), Is.False);
    }

    [Test]
    public void NotificationEvent_ReleasesEveryWaiter_StaysSignalled_UntilReset()
    {
        var (rig, p, log) = NewRig();
        using var _ = rig;
        uint ev = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.NotificationEvent);
        var waiters = Enumerable.Range(0, 2).Select(_ => rig.Scheduler.CreateContext(p)).ToArray();
        var signaller = rig.Scheduler.CreateContext(p);
        foreach (var w in waiters) rig.Scheduler.WaitOnSingleObject(w, ev);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(State(rig, ev).Waiters, Is.EqualTo(2));

        rig.Scheduler.SignalObject(signaller, ev);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(waiters.Any(w => w.IsBlockedOnSync), Is.False);
        Assert.That(State(rig, ev).Count, Is.EqualTo(1));

        // Still signalled: a later wait passes at once; after a reset, the next wait blocks.
        var late = rig.Submit(waiters[0], (ref PacketWriter w) => w.WriteData(log.Va, 1));
        rig.Scheduler.WaitOnSingleObject(waiters[0], ev);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(waiters[0].IsBlockedOnSync, Is.False);
        rig.Scheduler.ResetEvent(signaller, ev); // in the signaller's stream: it takes effect when its fence is reached
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(State(rig, ev).Count, Is.Zero);
        rig.Scheduler.WaitOnSingleObject(waiters[1], ev);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(late.IsComplete && waiters[1].IsBlockedOnSync, Is.True);
    }

    [TestCase(PrivilegeEnforcement.KernelCopy)]
    [TestCase(PrivilegeEnforcement.RingInsertion)]
    [TestCase(PrivilegeEnforcement.IndirectBit)]
    public void ProducerConsumer_Fig24_ThroughASemaphore_ConsumerNeverReadsBeforeTheProducersWrites(PrivilegeEnforcement option)
    {
        // Given a consumer (high priority, submitted first) that waits, then copies; a producer that fills, then signals.
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: option));
        var p = rig.Scheduler.CreateProcess();
        var consumer = rig.Scheduler.CreateContext(p, priority: 5);
        var producer = rig.Scheduler.CreateContext(p, priority: 1);
        uint full = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.Semaphore, 0, 8);
        var src = p.AllocateSurface(64 << 10);
        var dst = p.AllocateSurface(64 << 10);
        const int Frames = 4, Chunk = 16 << 10;
        var last = default(VaTicket);
        for (uint f = 0; f < Frames; f++)
        {
            ulong off = f * Chunk;
            rig.Scheduler.WaitOnSingleObject(consumer, full);
            last = rig.Submit(consumer, (ref PacketWriter w) => w.Copy(dst.Va + off, src.Va + off, Chunk), src.Handle, dst.Handle);
            uint pattern = 0x0101_0101u * (f + 1);
            rig.Submit(producer, (ref PacketWriter w) => w.Fill(src.Va + off, pattern, Chunk), src.Handle);
            rig.Scheduler.SignalObject(producer, full);
        }

        // When everything runs. Then every copied frame is the producer's finished fill.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(last.IsComplete, Is.True);
        var bytes = rig.Read(dst);
        for (int f = 0; f < Frames; f++)
            AdvancedRig.AssertBytes(bytes.AsSpan(f * Chunk, Chunk).ToArray(), AdvancedRig.Pattern(0x0101_0101u * (uint)(f + 1), Chunk), $"frame {f}");
        Assert.That(State(rig, full).Count, Is.Zero);
    }

    [Test]
    public void DeletingAnObjectWithAWaiter_IsRefused_ThenAllowedOnceFree_AndAForeignObjectIsRefusedTyped()
    {
        var (rig, p, _) = NewRig();
        using var __ = rig;
        var a = rig.Scheduler.CreateContext(p);
        uint s = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.Semaphore, 0, 1);
        rig.Scheduler.WaitOnSingleObject(a, s);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var stranger = rig.Scheduler.CreateContext(rig.Scheduler.CreateProcess());
        Assert.That(() => rig.Scheduler.WaitOnSingleObject(stranger, s),
            Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.WrongProcess));
        Assert.That(() => rig.Scheduler.DeleteSynchronizationObject(p, s),
            Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.InUse));
        rig.Scheduler.SignalObject(rig.Scheduler.CreateContext(p), s);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        rig.Scheduler.DeleteSynchronizationObject(p, s);
        Assert.That(() => rig.Scheduler.WaitOnSingleObject(a, s),
            Throws.TypeOf<SyncObjectException>().With.Property(nameof(SyncObjectException.Error)).EqualTo(SyncObjectError.UnknownHandle));
        Assert.That(() => rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.Semaphore, 3, 2), Throws.TypeOf<SyncObjectException>());
    }

    [Test]
    public void WaitOnANeverSignalledObject_HarmsOnlyItsContext_OthersFinishAndTheMachineGoesIdle()
    {
        // Given a context stuck on an event nobody signals, with work queued behind the wait, and two busy neighbours.
        var (rig, p, log) = NewRig();
        using var _ = rig;
        uint ev = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.NotificationEvent);
        var stuck = rig.Scheduler.CreateContext(p, priority: 9);
        rig.Scheduler.WaitOnSingleObject(stuck, ev);
        var behind = rig.Submit(stuck, (ref PacketWriter w) => w.WriteData(log.Va, 0xDEAD));
        var others = Enumerable.Range(0, 2).Select(_ => rig.Scheduler.CreateContext(p)).ToArray();
        var work = new List<VaTicket>();
        for (uint i = 0; i < 20; i++)
        {
            uint v = i;
            work.Add(rig.Submit(others[i % 2], (ref PacketWriter w) => w.WriteData(log.Va + 4 + (i % 2) * 4, v)));
        }

        // When the machine runs.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then the neighbours finished everything, the stuck context stays blocked (not failed) and its work never ran.
        Assert.That(work.All(t => t.IsComplete), Is.True);
        Assert.That((rig.Read32(log, 4), rig.Read32(log, 8)), Is.EqualTo((18u, 19u)));
        Assert.That(stuck.IsBlockedOnSync && stuck.State == VaContextState.Ready, Is.True);
        Assert.That(behind.IsComplete, Is.False);
        Assert.That(rig.Read32(log, 0), Is.Zero);
    }

    [Test]
    public void ASignalQueuedOnAContextThatAlreadyStoppedForGood_DoesNotKeepTheObjectInUse()
    {
        var (rig, p, _) = NewRig();
        using var __ = rig;
        var bad = rig.Scheduler.CreateContext(p);
        uint sem = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.Semaphore, 0, 4);
        var evil = bad.Process.CreateDmaBuffer(64);
        var w = evil.Writer();
        w.WriteData(evil.Va, 0xBAD); // its own read-only DMA buffer: a protection fault stops it for good
        rig.Scheduler.Submit(bad, evil, w.Written);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(bad.State, Is.EqualTo(VaContextState.Error));

        // When the process, not knowing yet, queues a signal on the stopped context,
        rig.Scheduler.SignalObject(bad, sem);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // then the operation never reached does not keep the object in use.
        Assert.That(State(rig, sem).Count, Is.Zero, "the signal never took effect");
        Assert.DoesNotThrow(() => rig.Scheduler.DeleteSynchronizationObject(p, sem));
    }

    [Test]
    public void AContextThatStopsForGoodHoldingAMutex_AbandonsItToTheNextWaiter_AndLeavesTheObjectDeletable()
    {
        var (rig, p, log) = NewRig();
        using var _ = rig;
        var bad = rig.Scheduler.CreateContext(p);
        var other = rig.Scheduler.CreateContext(p);
        uint m = rig.Scheduler.CreateSynchronizationObject(p, SyncObjectKind.Mutex);
        // Given a context that owns the mutex ...
        rig.Scheduler.WaitOnSingleObject(bad, m);
        Assert.That(rig.Machine.RunUntil(() => State(rig, m).OwnerContextId == (int)bad.Id), Is.True);
        // ... then faults for good (it writes its own read-only DMA buffer) before its release is reached,
        var evil = bad.Process.CreateDmaBuffer(64);
        var w = evil.Writer();
        w.WriteData(evil.Va, 0xBAD);
        rig.Scheduler.Submit(bad, evil, w.Written);
        rig.Scheduler.SignalObject(bad, m);
        // and another context waits on the mutex with work behind the wait.
        rig.Scheduler.WaitOnSingleObject(other, m);
        var otherWork = rig.Submit(other, (ref PacketWriter pw) => pw.WriteData(log.Va + 4, 2));

        // When the machine runs.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then the stopped context's mutex is abandoned to the waiter, whose held-back work runs ...
        Assert.That(bad.State, Is.EqualTo(VaContextState.Error));
        Assert.That(State(rig, m).OwnerContextId, Is.EqualTo((int)other.Id));
        Assert.That(otherWork.IsComplete, Is.True);
        Assert.That(rig.Read32(log, 4), Is.EqualTo(2u));
        // ... and once the new owner releases it, nothing of the stopped stream keeps the object in use.
        rig.Scheduler.SignalObject(other, m);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(State(rig, m).OwnerContextId, Is.EqualTo(-1));
        Assert.DoesNotThrow(() => rig.Scheduler.DeleteSynchronizationObject(p, m));
    }

    [Test]
    public void AContextThatStopsForGood_SignalsTheCompletionEventsOfItsUnfinishedBuffers_WhileANeighboursFiresOnCompletion()
    {
        // Given a context whose first buffer writes its own read-only DMA buffer (a protection fault stops it for good),
        // a second buffer of it submitted with a CPU event, and a neighbour's buffer with one.
        var (rig, p, log) = NewRig();
        using var _ = rig;
        var bad = rig.Scheduler.CreateContext(p);
        var good = rig.Scheduler.CreateContext(p);
        var evil = bad.Process.CreateDmaBuffer(64);
        var w = evil.Writer();
        w.WriteData(evil.Va, 0xBAD);
        var faulting = rig.Scheduler.Submit(bad, evil, w.Written);
        using var lost = new UserModeCompletionEvent();
        using var fine = new UserModeCompletionEvent();
        var never = Submit(rig, bad, (ref PacketWriter pw) => pw.WriteData(log.Va, 1), lost);
        var works = Submit(rig, good, (ref PacketWriter pw) => pw.WriteData(log.Va + 4, 2), fine);

        // When the machine runs, and a third buffer with an event is submitted to the stopped context afterwards.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        using var late = new UserModeCompletionEvent();
        var after = Submit(rig, bad, (ref PacketWriter pw) => pw.WriteData(log.Va, 3), late);

        // Then no CPU waiter hangs: the stopped context's events are signalled and their tickets say the work failed;
        // the neighbour's event fired once its buffer retired.
        Assert.That(bad.State, Is.EqualTo(VaContextState.Error));
        Assert.That((faulting.HasFailed, never.HasFailed, after.HasFailed), Is.EqualTo((true, true, true)));
        Assert.That((lost.SignalCount, late.SignalCount), Is.EqualTo((1L, 1L)));
        Assert.That(lost.SignaledAtFence, Is.LessThan(never.Fence), "signalled at the fence reached, short of the buffer's");
        Assert.That(rig.Read32(log, 0), Is.Zero);
        Assert.That(works.IsComplete && fine.SignalCount == 1 && fine.SignaledAtFence >= works.Fence, Is.True);
        Assert.That(rig.Read32(log, 4), Is.EqualTo(2u));
    }

    private static VaTicket Submit(AdvancedRig rig, VaContext ctx, AdvancedRig.Emit emit, UserModeCompletionEvent done)
    {
        var buf = ctx.Process.CreateDmaBuffer(64);
        var w = buf.Writer();
        emit(ref w);
        Assert.That(rig.Scheduler.TrySubmit(ctx, buf, w.Written, [], done, out var ticket), Is.True);
        return ticket;
    }
}
