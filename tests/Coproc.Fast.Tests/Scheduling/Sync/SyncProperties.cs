using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.Scheduling.Sync;

/// <summary>Properties of synchronization objects over random scripts and random interleavings (FsCheck).</summary>
public class SyncProperties
{
    /// <summary>
    /// Random contexts (render and copy engines, mixed priorities) run random critical sections guarded by a mutex or
    /// by a semaphore of count 2, with random pauses between submissions: every section completes, a mutex section
    /// always reads back its own stamp (no other section ran inside it), every context ends unblocked with nothing
    /// held back, and every object is back in its initial state.
    /// </summary>
    [FsProperty(MaxTest = 12, Replay = "(2026120909,71271)")]
    public void BalancedCriticalSections_AlwaysFinish_MutexSectionsNeverInterleave_ObjectsEndAsCreated(int seed)
    {
        using var h = new SyncHarness();
        var rng = new Random(seed);
        int contexts = rng.Next(2, 5);
        var engines = new[] { Coproc.Fast.Device.Engines.EngineKind.Render, Coproc.Fast.Device.Engines.EngineKind.Copy };
        var ctx = Enumerable.Range(0, contexts).Select(_ => h.Machine.CreateContext(1, rng.Next(2), engines[rng.Next(2)])).ToArray();
        var shared = h.Allocate(1);
        var scratch = h.Allocate(1, 256 * 1024);
        var log = h.Allocate(1);
        uint m = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Mutex);
        uint s = h.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 2, 2);
        int sections = rng.Next(4, 12);
        var expected = new List<(int Slot, uint Stamp)>();
        var ids = new List<(VidSchContext Ctx, long Id)>();
        for (int i = 0; i < sections; i++)
        {
            int c = rng.Next(contexts);
            bool mutex = rng.Next(2) == 0;
            uint stamp = (uint)(i + 1);
            int slot = i;
            h.Kmd.WaitOnSingleObject(1, ctx[c], mutex ? m : s);
            ids.Add((ctx[c], h.Submit(1, ctx[c], cb =>
            {
                if (mutex) cb.WriteData(shared, 0, [stamp]);
                cb.Fill(scratch, 0, stamp, (ulong)rng.Next(1, 32) * 4096);
                if (mutex) cb.Copy(shared, 0, log, (ulong)slot * 4, 4);
            })));
            if (mutex) expected.Add((slot, stamp));
            h.Kmd.SignalObject(1, ctx[c], mutex ? m : s);
            if (rng.Next(3) == 0) h.Machine.RunFor((ulong)rng.Next(1, 40_000));
        }

        Assert.That(h.Machine.RunUntil(() => h.Machine.AllIdle && ids.All(x => x.Ctx.StatusOf(x.Id) != SubmissionStatus.Pending)), Is.True);

        Assert.That(ids.Select(x => x.Ctx.StatusOf(x.Id)), Is.All.EqualTo(SubmissionStatus.Completed));
        foreach (var (slot, stamp) in expected) Assert.That(h.Read32(log, (ulong)slot * 4), Is.EqualTo(stamp), $"section {slot}");
        foreach (var c in ctx)
            Assert.That(c.Scheduler.QueryContextSync(c), Has.Property(nameof(ContextSyncInfo.Blocked)).False
                .And.Property(nameof(ContextSyncInfo.HeldBackBuffers)).Zero.And.Property(nameof(ContextSyncInfo.OwnedMutexes)).Zero);
        Assert.That(h.Scheduler.QuerySynchronizationObject(m), Is.EqualTo(new SyncObjectState(SyncObjectKind.Mutex, -1, 1, 1, 0, 0)));
        Assert.That(h.Scheduler.QuerySynchronizationObject(s), Is.EqualTo(new SyncObjectState(SyncObjectKind.Semaphore, -1, 2, 2, 0, 0)));
    }
}
