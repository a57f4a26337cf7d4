using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// A buffer deferred for memory (HigherPriorityWaitsForMemory) whose context begins a reset, then a higher-priority buffer
/// of the same engine arrives before the reset finishes: the deferred buffer must still fail with the reset, not be put
/// back into the ready queue after BeginReset emptied it of that context (VidSchScheduler.Prepare.cs StartPreparation).
/// </summary>
public class DeferredDisplacedDuringResetTests
{
    [Test]
    public void GivenADeferredBufferOfAContextBeingReset_WhenAHigherPriorityBufferArrivesBeforeTheResetFinishes_ThenTheDeferredBufferFailsWithTheReset()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, MaxInFlight = 2, TimeoutCycles = 1_000_000 },
            localBytes: 16UL << 20, systemBytes: 128UL << 20, realResidency: true, engines: [EngineKind.Render, EngineKind.Compute]);
        var m = h.Machine;

        // Compute, priority 2: a buffer that pins 10 MiB and then hangs on a WAIT nobody satisfies.
        var a = m.CreateContext(1, 2, EngineKind.Compute);
        var x = m.AllocateManaged(1, a, 10UL << 20);
        var counter = m.AllocateManaged(1, a, 4096);
        long hung = h.Submit(1, a, cb => { cb.Fill(x, 0, 1, 4096, resourceId: 1); cb.Wait(counter, 0); });
        m.RunFor(50_000);
        Assert.That(a.InFlight.Count, Is.EqualTo(1), "the hung buffer is in flight");

        // Render, priority 8: needs 10 MiB, cannot be resident beside the hung chunk: it waits for memory.
        var r = m.CreateContext(2, 8, EngineKind.Render);
        var z = m.AllocateManaged(2, r, 10UL << 20);
        long rid = h.Submit(2, r, cb => cb.Fill(z, 0, 2, 10UL << 20));
        m.RunFor(50_000);
        Assert.That(r.StatusOf(rid), Is.Not.EqualTo(SubmissionStatus.Completed));

        // Compute, the hung context's next buffer: small, but a higher priority elsewhere waits for memory: deferred.
        var y = m.AllocateManaged(1, a, 64UL << 10);
        long deferred = h.Submit(1, a, cb => cb.Fill(y, 0, 3, 64UL << 10));
        m.RunFor(50_000);
        Assert.That(a.StatusOf(deferred), Is.Not.EqualTo(SubmissionStatus.Completed));

        // The timeout begins the hung context's reset; before it finishes, a priority-14 compute buffer arrives.
        Assert.That(m.RunUntil(() => a.Resetting, 50_000_000), Is.True, "the hung context's reset began");
        var u = m.CreateContext(3, 14, EngineKind.Compute);
        var s = m.AllocateManaged(3, u, 4096);
        long urgent = h.Submit(3, u, cb => cb.Fill(s, 0, 4, 4096));
        Assert.That(m.RunUntilIdle(), Is.True);

        Assert.That(a.StatusOf(hung), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(u.StatusOf(urgent), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(r.StatusOf(rid), Is.EqualTo(SubmissionStatus.Completed));
        // Queued when the reset began: it fails with the reset (as FinishResets fails the buffer in the slot).
        Assert.That(a.StatusOf(deferred), Is.EqualTo(SubmissionStatus.FailedTimeout),
            "a buffer queued (deferred in the preparation slot) when its context's reset began survived the reset");
        var process = h.Kmd.Process(1);
        Assert.That(process.Outstanding, Is.Zero);
        Assert.That(process.DmaBuffersPooled, Is.EqualTo(process.DmaBuffersCreated));
    }

    [Test]
    public void GivenTheDeferredRestOfASplitBufferWhoseFirstChunkIsInFlight_WhenAHigherPriorityBufferArrivesDuringTheReset_ThenTheBufferIsNotReturnedToItsPoolWhileQueued()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, MaxInFlight = 4, TimeoutCycles = 1_000_000, SplitThresholdBytes = 64UL << 10 },
            localBytes: 16UL << 20, systemBytes: 128UL << 20, realResidency: true, engines: [EngineKind.Render, EngineKind.Compute]);
        var m = h.Machine;

        // Compute, priority 2: a hung WAIT, then a chunk that pins 10 MiB behind it (split by the threshold).
        var a = m.CreateContext(1, 2, EngineKind.Compute);
        var x = m.AllocateManaged(1, a, 10UL << 20);
        var counter = m.AllocateManaged(1, a, 4096);
        long hung = h.Submit(1, a, cb => { cb.Wait(counter, 0, resourceId: 1); cb.Fill(x, 0, 1, 4096, resourceId: 2); });
        Assert.That(m.RunUntil(() => a.InFlight.Count == 2, 1_000_000), Is.True, "both chunks of the hung buffer are in flight");

        // Its next buffer: a small first chunk, then 20 fills of 1 MiB (many references: its rest prepares slowly).
        var sm = m.AllocateManaged(1, a, 4096);
        var y = m.AllocateManaged(1, a, 1UL << 20);
        long split = h.Submit(1, a, cb => { cb.Fill(sm, 0, 5, 4096, resourceId: 3); for (int i = 0; i < 20; i++) cb.Fill(y, 0, (uint)i, 1UL << 20, resourceId: 4); });
        Assert.That(m.RunUntil(() => a.InFlight.Count == 3, 1_000_000), Is.True, "the split buffer's first chunk is in flight");

        // Render, priority 8: needs 10 MiB beside the pinned 10 MiB: waits for memory; the split buffer's rest is deferred.
        var r = m.CreateContext(2, 8, EngineKind.Render);
        var z = m.AllocateManaged(2, r, 10UL << 20);
        long rid = h.Submit(2, r, cb => cb.Fill(z, 0, 2, 10UL << 20));
        m.RunFor(50_000);
        Assert.That(a.StatusOf(split), Is.EqualTo(SubmissionStatus.Pending));

        Assert.That(m.RunUntil(() => a.Resetting, 50_000_000), Is.True, "the hung context's reset began");
        var u = m.CreateContext(3, 14, EngineKind.Compute);
        var s = m.AllocateManaged(3, u, 4096);
        long urgent = h.Submit(3, u, cb => cb.Fill(s, 0, 4, 4096));
        Assert.That(m.RunUntilIdle(), Is.True);

        Assert.That(a.StatusOf(hung), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(a.StatusOf(split), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(u.StatusOf(urgent), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(r.StatusOf(rid), Is.EqualTo(SubmissionStatus.Completed));
        var process = h.Kmd.Process(1);
        Assert.That(process.Outstanding, Is.Zero);
        Assert.That(process.DmaBuffersPooled, Is.EqualTo(process.DmaBuffersCreated), "a buffer pooled twice or lost");
    }
}
