using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Scheduling.Sync;

/// <summary>High-level synchronization objects (seed 001 §10, Fig. 24; §21 extra behaviours: mutex handoff, semaphore k).</summary>
[TestFixture]
public sealed class SynchronizationObjectTests
{
    private const int Frame = 256 * 1024; // 4 096 cycles of FILL per frame at 64 B/cycle: many quanta of 5 000 per producer buffer

    [Test]
    public void ProducerConsumer_Fig24_ConsumerNeverReadsBeforeTheProducersWrites()
    {
        // Given a producer (process 1) and a consumer (process 2) sharing one surface, a "filled" semaphore (0 of 1) and
        // a "consumed" one (1 of 1), and every frame's work submitted up front, the consumer's first.
        using var h = new SyncHarness();
        var producer = h.Machine.CreateContext(1);
        var consumer = h.Machine.CreateContext(2);
        var surface = h.Allocate(1, Frame);
        h.Kmd.Process(2).Own(surface, Frame);
        const int frames = 4;
        var copies = h.Allocate(2, (ulong)Frame * frames);
        uint filled = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 0, 1);
        uint consumed = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 1, 1);
        h.Kmd.ShareSynchronizationObject(1, filled, 2);
        h.Kmd.ShareSynchronizationObject(1, consumed, 2);
        for (int i = 0; i < frames; i++)
        {
            int k = i;
            h.Kmd.WaitOnSingleObject(2, consumer, filled);
            h.Submit(2, consumer, cb => cb.Copy(surface, 0, copies, (ulong)k * Frame, Frame));
            h.Kmd.SignalObject(2, consumer, consumed);
        }
        for (int i = 0; i < frames; i++)
        {
            int k = i;
            h.Kmd.WaitOnSingleObject(1, producer, consumed);
            // Two halves per frame: a consumer copying early would see a half-written frame.
            h.Submit(1, producer, cb => cb.Fill(surface, 0, 0xA0A0A000u + (uint)k, Frame / 2));
            h.Submit(1, producer, cb => cb.Fill(surface, Frame / 2, 0xA0A0A000u + (uint)k, Frame / 2));
            h.Kmd.SignalObject(1, producer, filled);
        }

        // When the machine runs.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then every copy holds exactly its frame's pattern, whole.
        for (int i = 0; i < frames; i++)
        {
            var copy = h.Read(copies, (ulong)i * Frame, Frame);
            uint expected = 0xA0A0A000u + (uint)i;
            Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(copy).ToArray(), Is.All.EqualTo(expected), $"frame {i}");
        }
        Assert.That(h.Scheduler.QuerySynchronizationObject(filled).Count, Is.Zero);
        Assert.That(h.Scheduler.QuerySynchronizationObject(consumed).Count, Is.EqualTo(1));
    }

    [Test]
    public void ProducerConsumer_WithoutTheObjects_TheConsumerReadsEarly()
    {
        // The control for the test above: the same work without synchronization gives a torn or empty copy, so the
        // objects are what orders it.
        using var h = new SyncHarness();
        var producer = h.Machine.CreateContext(1);
        var consumer = h.Machine.CreateContext(2);
        var surface = h.Allocate(1, Frame);
        h.Kmd.Process(2).Own(surface, Frame);
        var copy = h.Allocate(2, Frame);
        h.Submit(2, consumer, cb => cb.Copy(surface, 0, copy, 0, Frame));
        h.Submit(1, producer, cb => cb.Fill(surface, 0, 0xA0A0A000u, Frame / 2));
        h.Submit(1, producer, cb => cb.Fill(surface, Frame / 2, 0xA0A0A000u, Frame / 2));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(copy, 0, Frame)).ToArray(), Is.Not.All.EqualTo(0xA0A0A000u));
    }

    [Test]
    public void ProducerOnTheCopyEngine_ConsumerOnTheRenderEngine_SynchronizeThroughOneObject()
    {
        // Given a producer context on the copy engine and a consumer on the render engine (two schedulers, one object
        // table), the consumer's wait and copy submitted first.
        using var h = new SyncHarness();
        var producer = h.Machine.CreateContext(1, 0, Coproc.Fast.Device.Engines.EngineKind.Copy);
        var consumer = h.Machine.CreateContext(1, 0, Coproc.Fast.Device.Engines.EngineKind.Render);
        var surface = h.Allocate(1, Frame);
        var copy = h.Allocate(1, Frame);
        uint ready = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent);
        h.Kmd.WaitOnSingleObject(1, consumer, ready);
        long consumed = h.Submit(1, consumer, cb => cb.Copy(surface, 0, copy, 0, Frame));
        h.Submit(1, producer, cb => cb.Fill(surface, 0, 0x5A5A5A5Au, Frame / 2));
        h.Submit(1, producer, cb => cb.Fill(surface, Frame / 2, 0x5A5A5A5Au, Frame / 2));
        h.Kmd.SignalObject(1, producer, ready);

        Assert.That(h.Machine.RunUntil(() => h.Machine.AllIdle && consumer.StatusOf(consumed) == SubmissionStatus.Completed), Is.True);

        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(copy, 0, Frame)).ToArray(), Is.All.EqualTo(0x5A5A5A5Au));
        Assert.That(h.LogOf(producer).Single(r => r.Kind == SchedulerEventKind.SignalSync).Woken, Is.EqualTo(new[] { consumer.Id }));
    }

    [TestCase(true)]
    [TestCase(false)]
    public void Mutex_CriticalSectionsPreemptedMidBuffer_NeverInterleave(bool withMutex)
    {
        // Given four contexts, each running three critical sections that stamp a shared word with their id, run a long
        // fill (16 384 cycles: preempted at a 5 000-cycle quantum when others have work), then copy the shared word to their own log slot.
        using var h = new SyncHarness();
        const int Contexts = 4, Sections = 3;
        var ctx = Enumerable.Range(0, Contexts).Select(_ => h.Machine.CreateContext(1)).ToArray();
        var shared = h.Allocate(1);
        var scratch = h.Allocate(1, 1 << 20);
        var log = h.Allocate(1);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        for (int s = 0; s < Sections; s++)
            for (int c = 0; c < Contexts; c++)
            {
                int slot = c * Sections + s;
                uint id = (uint)c + 1;
                if (withMutex) h.Kmd.WaitOnSingleObject(1, ctx[c], m);
                h.Submit(1, ctx[c], cb =>
                {
                    cb.WriteData(shared, 0, [id]);
                    cb.Fill(scratch, 0, id, 1 << 20);
                    cb.Copy(shared, 0, log, (ulong)slot * 4, 4);
                });
                if (withMutex) h.Kmd.SignalObject(1, ctx[c], m);
            }

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then with the mutex every section read back its own id; without it, some section saw another's stamp.
        var seen = Enumerable.Range(0, Contexts * Sections).Select(i => h.Read32(log, (ulong)i * 4)).ToArray();
        var own = Enumerable.Range(0, Contexts * Sections).Select(i => (uint)(i / Sections) + 1).ToArray();
        if (withMutex) Assert.That(seen, Is.EqualTo(own));
        else
        {
            Assert.That(h.Scheduler.PreemptionCount, Is.GreaterThan(0), "sections were preempted mid-buffer");
            Assert.That(seen, Is.Not.EqualTo(own));
        }
    }

    [Test]
    public void MutexHandoff_SignalWithWaiters_TransfersOwnershipToTheFirstWaiter()
    {
        // Given A owns a mutex and runs long work before releasing it, and B then C wait on it meanwhile.
        using var h = new SyncHarness();
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(1);
        var c = h.Machine.CreateContext(1);
        var mem = h.Allocate(1, 4 * Frame);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        h.Kmd.WaitOnSingleObject(1, a, m);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Scheduler.QuerySynchronizationObject(m).OwnerContextId, Is.EqualTo(a.Id));
        h.Submit(1, a, cb => cb.Fill(mem, 0, 0xA, 4 * Frame));
        h.Kmd.SignalObject(1, a, m);
        h.Kmd.WaitOnSingleObject(1, b, m);
        h.Submit(1, b, cb => cb.WriteData(mem, 0, [0xB]));
        h.Kmd.SignalObject(1, b, m);
        Assert.That(h.Machine.RunUntil(() => h.Scheduler.QueryContextSync(b).OnWaitList), Is.True);
        h.Kmd.WaitOnSingleObject(1, c, m);
        h.Submit(1, c, cb => cb.WriteData(mem, 4, [0xC]));
        Assert.That(h.Machine.RunUntil(() => h.Scheduler.QueryContextSync(c).OnWaitList), Is.True);
        Assert.That(h.Scheduler.QuerySynchronizationObject(m), Is.EqualTo(new SyncObjectState(SyncObjectKind.Mutex, a.Id, 0, 1, 2, 2)), "A's release and B's (held back) are pending");

        // When A's release is reached.
        Assert.That(h.Machine.RunUntil(() => h.Scheduler.QuerySynchronizationObject(m).OwnerContextId != a.Id), Is.True);

        // Then B — the first waiter — owns it and is readied; C still waits.
        var state = h.Scheduler.QuerySynchronizationObject(m);
        Assert.That(state.OwnerContextId, Is.EqualTo(b.Id));
        Assert.That(state.Waiters, Is.EqualTo(1));
        Assert.That(h.Scheduler.QueryContextSync(c).OnWaitList, Is.True);
        var release = h.LogOf(a).Last(r => r.Kind == SchedulerEventKind.SignalSync);
        Assert.That(release.Woken, Is.EqualTo(new[] { b.Id }));

        // And C gets it only after B's release; C never releases it, so C keeps it.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.LogOf(b).Last(r => r.Kind == SchedulerEventKind.SignalSync).Woken, Is.EqualTo(new[] { c.Id }));
        Assert.That(h.Scheduler.QuerySynchronizationObject(m).OwnerContextId, Is.EqualTo(c.Id));
        Assert.That(h.Read32(mem, 0), Is.EqualTo(0xBu));
        Assert.That(h.Read32(mem, 4), Is.EqualTo(0xCu));
    }

    [Test]
    public void MutexWithoutWaiters_IsFreed()
    {
        using var h = new SyncHarness();
        var a = h.Machine.CreateContext(1);
        var mem = h.Allocate(1);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        h.Kmd.WaitOnSingleObject(1, a, m);
        h.Submit(1, a, cb => cb.WriteData(mem, 0, [1]));
        h.Kmd.SignalObject(1, a, m);

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(h.Scheduler.QuerySynchronizationObject(m), Is.EqualTo(new SyncObjectState(SyncObjectKind.Mutex, -1, 1, 1, 0, 0)));
        Assert.That(h.LogOf(a).Single(r => r.Kind == SchedulerEventKind.SignalSync).Woken, Is.Empty);
        Assert.That(h.Scheduler.QueryContextSync(a).OwnedMutexes, Is.Zero);
        h.Kmd.DeleteSynchronizationObject(1, m);
    }

    [Test]
    public void SemaphoreWithCountK_AdmitsKContexts()
    {
        // Given a semaphore of count 2 and four contexts that each wait on it and then write their mark.
        using var h = new SyncHarness();
        var mem = h.Allocate(1);
        uint s = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 2, 2);
        var ctx = Enumerable.Range(0, 4).Select(_ => h.Machine.CreateContext(1)).ToArray();
        for (int i = 0; i < 4; i++)
        {
            int k = i;
            h.Kmd.WaitOnSingleObject(1, ctx[i], s);
            h.Submit(1, ctx[i], cb => cb.WriteData(mem, (ulong)k * 4, [1]));
        }

        // When they run (nobody releases).
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then exactly two got in (their work ran); two wait with their work held back.
        var marks = Enumerable.Range(0, 4).Select(i => h.Read32(mem, (ulong)i * 4)).ToArray();
        Assert.That(marks.Count(x => x == 1), Is.EqualTo(2));
        Assert.That(ctx.Count(x => h.Scheduler.QueryContextSync(x).OnWaitList), Is.EqualTo(2));
        Assert.That(h.Scheduler.QuerySynchronizationObject(s).Count, Is.Zero);

        // And one release admits exactly one more.
        var admitted = ctx.First(x => !h.Scheduler.QueryContextSync(x).Blocked);
        h.Kmd.SignalObject(1, admitted, s);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(Enumerable.Range(0, 4).Count(i => h.Read32(mem, (ulong)i * 4) == 1), Is.EqualTo(3));
        Assert.That(ctx.Count(x => h.Scheduler.QueryContextSync(x).OnWaitList), Is.EqualTo(1));
    }

    [Test]
    public void NotificationEvent_ReleasesAllWaiters_AndStaysSignalledUntilReset()
    {
        using var h = new SyncHarness();
        var mem = h.Allocate(1);
        uint e = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.NotificationEvent);
        var waiters = Enumerable.Range(0, 3).Select(_ => h.Machine.CreateContext(1)).ToArray();
        var signaller = h.Machine.CreateContext(1);
        for (int i = 0; i < 3; i++)
        {
            int k = i;
            h.Kmd.WaitOnSingleObject(1, waiters[i], e);
            h.Submit(1, waiters[i], cb => cb.WriteData(mem, (ulong)k * 4, [7]));
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(waiters.All(w => h.Scheduler.QueryContextSync(w).OnWaitList), Is.True);
        Assert.That(h.Read32(mem, 0) | h.Read32(mem, 4) | h.Read32(mem, 8), Is.Zero);

        // When another context signals it.
        h.Kmd.SignalObject(1, signaller, e);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then all three ran, in one signal.
        Assert.That(h.LogOf(signaller).Single(r => r.Kind == SchedulerEventKind.SignalSync).Woken, Is.EquivalentTo(waiters.Select(w => w.Id)));
        Assert.That(Enumerable.Range(0, 3).Select(i => h.Read32(mem, (ulong)i * 4)), Is.All.EqualTo(7u));

        // And it stays signalled (a later wait passes at once) until reset (then a wait blocks).
        h.Kmd.WaitOnSingleObject(1, waiters[0], e);
        h.Submit(1, waiters[0], cb => cb.WriteData(mem, 12, [8]));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Read32(mem, 12), Is.EqualTo(8u));
        h.Kmd.ResetEvent(1, signaller, e);
        h.Kmd.WaitOnSingleObject(1, waiters[1], e);
        h.Submit(1, waiters[1], cb => cb.WriteData(mem, 16, [9]));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Read32(mem, 16), Is.Zero);
        Assert.That(h.Scheduler.QueryContextSync(waiters[1]).OnWaitList, Is.True);
    }

    [Test]
    public void WaitAll_TakesEveryObjectAtOnce_WaitAny_TakesTheFirstAvailable()
    {
        using var h = new SyncHarness();
        var owner = h.Machine.CreateContext(1);
        var all = h.Machine.CreateContext(1);
        var any = h.Machine.CreateContext(1);
        uint m1 = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        uint m2 = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        uint m3 = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        h.Kmd.WaitOnSingleObject(1, owner, m1);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Wait-all on {m1, m2}: m1 is taken, so it takes neither (m2 stays free).
        h.Kmd.WaitOnMultipleObjects(1, all, [m1, m2], waitAll: true);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Scheduler.QueryContextSync(all).OnWaitList, Is.True);
        Assert.That(h.Scheduler.QuerySynchronizationObject(m2).OwnerContextId, Is.EqualTo(-1));

        // Wait-any on {m1, m3}: m1 is taken, m3 is free — it takes m3 (index 1).
        h.Kmd.WaitOnMultipleObjects(1, any, [m1, m3], waitAll: false);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Scheduler.QueryContextSync(any), Has.Property(nameof(ContextSyncInfo.Blocked)).False.And.Property(nameof(ContextSyncInfo.WaitAnyIndex)).EqualTo(1));
        Assert.That(h.Scheduler.QuerySynchronizationObject(m3).OwnerContextId, Is.EqualTo(any.Id));

        // Releasing m1 completes the wait-all with both.
        h.Kmd.SignalObject(1, owner, m1);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(h.Scheduler.QuerySynchronizationObject(m1).OwnerContextId, Is.EqualTo(all.Id));
        Assert.That(h.Scheduler.QuerySynchronizationObject(m2).OwnerContextId, Is.EqualTo(all.Id));
        Assert.That(h.Scheduler.QueryContextSync(all).OwnedMutexes, Is.EqualTo(2));
    }
}
