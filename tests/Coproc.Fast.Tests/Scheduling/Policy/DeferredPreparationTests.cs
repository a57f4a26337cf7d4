using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// An engine's single preparation slot under memory pressure (seed 001 §3.3, §5.5; docs/scheduling-policy.md rule 4):
/// a buffer whose chunk must wait for memory other engines' chunks pin does not keep a higher-priority buffer of the
/// same engine — one that fits — out of preparation, so the engine does not idle with that work queued.
/// </summary>
public class DeferredPreparationTests
{
    [Test]
    public void GivenALowPriorityBufferWaitingForMemoryPinnedOnAnotherEngine_WhenAHigherPriorityBufferThatFitsArrives_ThenItRunsBeforeThePinnedChunkRetires()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, MaxInFlight = 2 },
            localBytes: 16UL << 20, systemBytes: 128UL << 20, realResidency: true, engines: [EngineKind.Render, EngineKind.Compute]);
        var m = h.Machine;

        // Render: one long buffer whose chunk pins 10 MiB of the 16 MiB local memory while it runs.
        var render = m.CreateContext(1, 8, EngineKind.Render);
        var pinned = m.AllocateManaged(1, render, 10UL << 20);
        long renderId = h.Submit(1, render, cb => { for (int i = 0; i < 40; i++) cb.Fill(pinned, 0, (uint)i, 10UL << 20); });
        m.RunFor(50_000);
        Assert.That(render.InFlight.Count, Is.GreaterThan(0), "the render chunk is on its engine");

        // Compute, low priority: needs 10 MiB too, which cannot be resident beside the render chunk: it waits.
        var batch = m.CreateContext(2, 2, EngineKind.Compute);
        var big = m.AllocateManaged(2, batch, 10UL << 20);
        long batchId = h.Submit(2, batch, cb => cb.Fill(big, 0, 0xB0B0B0B0u, 10UL << 20));
        m.RunFor(50_000);
        Assert.That(batch.StatusOf(batchId), Is.Not.EqualTo(SubmissionStatus.Completed), "the low-priority buffer waits for memory");

        // Compute, high priority: 64 KiB, which fits at once.
        var urgent = m.CreateContext(3, 14, EngineKind.Compute);
        var small = m.AllocateManaged(3, urgent, 64UL << 10);
        long urgentId = h.Submit(3, urgent, cb => cb.Fill(small, 0, 0x11223344u, 64UL << 10));

        Assert.That(m.RunUntil(() => urgent.StatusOf(urgentId) == SubmissionStatus.Completed || render.StatusOf(renderId) == SubmissionStatus.Completed, 200_000_000),
            Is.True, "something finishes");
        Assert.That(render.StatusOf(renderId), Is.Not.EqualTo(SubmissionStatus.Completed),
            "the priority-14 compute buffer completes while the render chunk still pins its memory");
        Assert.That(urgent.StatusOf(urgentId), Is.EqualTo(SubmissionStatus.Completed));

        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(batch.StatusOf(batchId), Is.EqualTo(SubmissionStatus.Completed), "the waiting buffer runs once the memory is free");
        Assert.That(h.Read32(small, 60UL << 10), Is.EqualTo(0x11223344u));
        Assert.That(h.Read32(big, 8UL << 20), Is.EqualTo(0xB0B0B0B0u));
    }

    [TestCase(2, true, false)]
    [TestCase(8, true, false)]
    [TestCase(8, false, true)]
    public void GivenAnEngineWhoseOnlyBufferWaitsForMemoryPinnedOnAnotherEngine_ThenTheAuditorReportsTheStretchOnlyWhenAnEqualKeepsIt_AndSaysItIsAMemoryWait(
        int batchPriority, bool preemption, bool reported)
    {
        // Render (priority 8) pins 10 MiB of 16; a compute buffer needing 10 MiB waits. Below render's priority that is
        // the policy (strict priority extends to memory): not runnable work, no finding. At render's priority the render
        // context lends its memory once its turn is over (equals share memory by turns, docs/scheduling-policy.md rule 7):
        // no finding either. Without mid-buffer preemption nothing can be lent: the auditor reports the idle stretch and
        // says the buffer was waiting for memory.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, MaxInFlight = 2, Preemption = preemption },
            localBytes: 16UL << 20, systemBytes: 128UL << 20, realResidency: true, engines: [EngineKind.Render, EngineKind.Compute]);
        var m = h.Machine;
        var auditor = new SchedulingAuditor();
        foreach (var s in m.Schedulers) if (s is not null) auditor.Attach(s);
        var render = m.CreateContext(1, 8, EngineKind.Render);
        var pinned = m.AllocateManaged(1, render, 10UL << 20);
        h.Submit(1, render, cb => { for (int i = 0; i < 40; i++) cb.Fill(pinned, 0, (uint)i, 10UL << 20); });
        m.RunFor(50_000);
        var batch = m.CreateContext(2, batchPriority, EngineKind.Compute);
        var big = m.AllocateManaged(2, batch, 10UL << 20);
        long batchId = h.Submit(2, batch, cb => cb.Fill(big, 0, 0xB0B0B0B0u, 10UL << 20));

        Assert.That(m.RunUntilIdle(), Is.True);
        auditor.Finish(m.Now);
        Assert.That(batch.StatusOf(batchId), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(big, 8UL << 20), Is.EqualTo(0xB0B0B0B0u));
        var idle = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.IdleWithWork && f.Engine == EngineKind.Compute).ToArray();
        if (!reported)
        {
            Assert.That(idle, Is.Empty, string.Join("\n", auditor.Findings));
            return;
        }
        Assert.That(idle, Has.Length.EqualTo(1), string.Join("\n", auditor.Findings));
        Assert.That(idle[0].Message, Does.Contain("was waiting for memory pinned by other engines' chunks"));
    }
}
