using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// The scheduling auditor (docs/scheduling-policy.md "Auditor") on deliberate cases: each kind of finding is produced
/// by a run that really has that problem, and a healthy run of the same shape is silent.
/// </summary>
[TestFixture]
public sealed class SchedulingAuditorTests
{
    private static (SchedulingHarness H, SchedulingAuditor Auditor) Rig(VidSchOptions options, SchedulingAuditorOptions? audit = null, EngineKind[]? engines = null)
    {
        var h = new SchedulingHarness(options, engines: engines);
        var auditor = new SchedulingAuditor(audit);
        foreach (var s in h.Machine.Schedulers) if (s is not null) auditor.Attach(s);
        return (h, auditor);
    }

    [Test]
    public void GivenAHungContextPinningMemoryAnotherNeeds_ThenTheIdleEngineWithQueuedWorkIsReported_AndTheHangsResetIsNot()
    {
        // Without mid-buffer preemption: with it, the hung equal would lend its memory once its turn is over
        // (docs/scheduling-policy.md rule 7) and nothing would be idle.
        var (h, auditor) = Rig(new VidSchOptions { QuantumCycles = 100_000, TimeoutCycles = 5_000_000, Preemption = false }, engines: [EngineKind.Render, EngineKind.Copy]);
        using var _ = h;
        var hung = h.Machine.CreateContext(1, priority: 4, EngineKind.Copy);
        var other = h.Machine.CreateContext(2, priority: 4);
        var counter = h.Allocate(1, 4096);
        var mine = h.Allocate(2, 1 << 20);
        // The hung buffer WAITs on a counter nobody signals: it yields the engine but stays pinned until its reset.
        h.Submit(1, hung, cb => cb.Wait(counter, 0));
        h.Machine.RunFor(200_000);
        // The other buffer does not fit beside the pinned one: its preparation waits for the pinned chunk to retire.
        h.Residency!.FitLimit = 512 * 1024;
        long id = h.Submit(2, other, cb => cb.Fill(mine, 0, 7, 4096));
        h.Machine.RunFor(1_000_000);
        h.Residency.FitLimit = ulong.MaxValue;
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(h.Machine.Now);

        Assert.That(hung.Resets, Is.EqualTo(1), "the hang was reset by the timeout");
        Assert.That(other.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        var findings = auditor.Findings;
        Assert.That(findings.Where(f => f.Kind == SchedulingFindingKind.IdleWithWork).Select(f => f.Engine), Does.Contain(EngineKind.Render), string.Join("\n", findings));
        Assert.That(findings.Select(f => f.Kind), Does.Not.Contain(SchedulingFindingKind.ResetWhileProgressing), "a wait nobody satisfies is a hang");
    }

    [Test]
    public void GivenNoPreemption_WhenALongBufferHoldsTheEngine_ThenTheWaitingEqualIsReportedAsStarved()
    {
        var (h, auditor) = Rig(new VidSchOptions { QuantumCycles = Coproc.Fast.Driver.MachineOptions.MaxCycleSpan }, new SchedulingAuditorOptions { MaxQuantumCycles = 100_000 });
        using var _ = h;
        var longJob = h.Machine.CreateContext(1, priority: 3);
        var waiting = h.Machine.CreateContext(2, priority: 3);
        var x = h.Allocate(1, 4 << 20);
        var y = h.Allocate(2, 4096);
        h.Submit(1, longJob, cb => { for (int i = 0; i < 40; i++) cb.Fill(x, 0, (uint)i, 4 << 20); }); // ~2.6 M cycles
        h.Machine.RunFor(50_000);
        h.Submit(2, waiting, cb => cb.Fill(y, 0, 1, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(h.Machine.Now);

        var starved = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.Starved).ToArray();
        Assert.That(starved.Select(f => f.ContextId), Is.EqualTo(new[] { waiting.Id }), string.Join("\n", auditor.Findings));
    }

    [Test]
    public void GivenPreemptionAndTheSameWork_ThenTheAuditorIsSilent()
    {
        var (h, auditor) = Rig(new VidSchOptions { QuantumCycles = 100_000 });
        using var _ = h;
        var longJob = h.Machine.CreateContext(1, priority: 3);
        var waiting = h.Machine.CreateContext(2, priority: 3);
        var x = h.Allocate(1, 4 << 20);
        var y = h.Allocate(2, 4096);
        h.Submit(1, longJob, cb => { for (int i = 0; i < 40; i++) cb.Fill(x, 0, (uint)i, 4 << 20); });
        h.Machine.RunFor(50_000);
        for (int i = 0; i < 20; i++) h.Submit(2, waiting, cb => cb.Fill(y, 0, 1, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(h.Machine.Now);

        Assert.That(auditor.Findings, Is.Empty);
    }

    [Test]
    public void GivenEqualContextsSharingTheEngine_WithBuffersLongerThanTheTimeoutWhenShared_NoneIsReset_AndNoInnocentResetIsReported()
    {
        // Four equal contexts whose buffers, shared round robin, take longer than the timeout from their first start:
        // the timeout counts active engine time without progress (docs/containment.md), so none is reset, and the
        // auditor, which would report a reset of a context that was progressing, has nothing to report.
        var (h, auditor) = Rig(new VidSchOptions { QuantumCycles = 100_000, TimeoutCycles = 2_000_000 });
        using var _ = h;
        var contexts = Enumerable.Range(1, 4).Select(p => h.Machine.CreateContext((uint)p, priority: 5)).ToArray();
        foreach (var c in contexts)
        {
            var x = h.Allocate(c.ProcessId, 4 << 20);
            h.Submit(c.ProcessId, c, cb => { for (int i = 0; i < 16; i++) cb.Fill(x, 0, (uint)i, 4 << 20); }); // ~1 M cycles
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(h.Machine.Now);

        int timeoutResets = h.Trace.Of(ScheduleEventKind.ContextReset).Count(e => e.Extra == (ulong)SubmissionStatus.FailedTimeout);
        Assert.That(timeoutResets, Is.Zero, "waiting for a turn is never a hang");
        Assert.That(contexts.Select(c => c.Completed), Is.All.EqualTo(1));
        Assert.That(auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.ResetWhileProgressing), Is.Empty, string.Join("\n", auditor.Findings));
    }

    [Test]
    public void GivenTurnsShorterThanTheInterruptLatency_WhenLongBuffersUseUpTheTimeout_ThenTheResetsAreNotReportedAsInnocent()
    {
        // Two equal contexts take turns of one quantum (100 K cycles) while interrupts are serviced 250 K cycles after they
        // are raised, so several switches reach the scheduler in one batch — as a lagging scheduler thread sees them in
        // threaded mode. Each buffer needs more engine time than the timeout: both are reset as hung, rightly. The auditor
        // charges engine time from the switch records' device cycles, so it agrees; sampled at the passes, it lost the
        // turns that began and ended inside one batch and reported the resets as innocent.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, TimeoutCycles = 2_000_000 }, interruptLatencyCycles: 250_000);
        var auditor = new SchedulingAuditor();
        foreach (var s in h.Machine.Schedulers) if (s is not null) auditor.Attach(s);
        var contexts = Enumerable.Range(1, 2).Select(p => h.Machine.CreateContext((uint)p, priority: 5)).ToArray();
        foreach (var c in contexts)
        {
            var x = h.Allocate(c.ProcessId, 4 << 20);
            h.Submit(c.ProcessId, c, cb => { for (int i = 0; i < 80; i++) cb.Fill(x, 0, (uint)i, 4 << 20); }); // ~5 M cycles
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(h.Machine.Now);

        int timeoutResets = h.Trace.Of(ScheduleEventKind.ContextReset).Count(e => e.Extra == (ulong)SubmissionStatus.FailedTimeout);
        Assert.That(timeoutResets, Is.EqualTo(2), "a buffer that needs more engine time than the timeout is hung (docs/containment.md)");
        Assert.That(auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.ResetWhileProgressing), Is.Empty, string.Join("\n", auditor.Findings));
    }

    [Test]
    public void GivenAContextWhoseBuffersNeverRun_ThenItsQueuedBuffersAreReportedAtTheEnd()
    {
        var (h, auditor) = Rig(new VidSchOptions { QuantumCycles = 100_000, TimeoutCycles = 1UL << 40 });
        using var _ = h;
        var stuck = h.Machine.CreateContext(1);
        var counter = h.Allocate(1, 4096);
        h.Submit(1, stuck, cb => cb.Wait(counter, 0));
        h.Submit(1, stuck, cb => cb.Fill(counter, 64, 1, 64));
        h.Machine.RunFor(5_000_000);
        auditor.Finish(h.Machine.Now);

        var atEnd = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.QueuedAtEnd).ToArray();
        Assert.That(atEnd.Select(f => f.ContextId), Is.EqualTo(new[] { stuck.Id }), string.Join("\n", auditor.Findings));
        Assert.That(atEnd[0].Message, Does.Contain("2 buffer(s) still queued"));
    }

    [Test]
    public void GivenAContextIdleForLong_WhenItSubmitsJustBeforeTheEnd_ThenItsNewBufferIsNotReportedAsQueuedSinceItsLastProgress()
    {
        // A context that finished its work long ago submits again at the very end of the run (a periodic frame due at
        // the last cycle): no scheduling pass has seen that buffer yet, so it has waited no time at all.
        var (h, auditor) = Rig(new VidSchOptions { QuantumCycles = 100_000 });
        using var _ = h;
        var ctx = h.Machine.CreateContext(1);
        var target = h.Allocate(1, 4096);
        h.Submit(1, ctx, cb => cb.Fill(target, 0, 1, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        h.Machine.RunFor(5_000_000); // 50 quanta of nothing to do

        h.Submit(1, ctx, cb => cb.Fill(target, 0, 2, 4096));
        auditor.Finish(h.Machine.Now);

        Assert.That(auditor.Findings, Is.Empty, string.Join("\n", auditor.Findings));
    }

    [Test]
    public void GivenATraceSink_FindingsAreInstantsOnASchedulingAuditTrack()
    {
        var recorder = new Coproc.Fast.Driver.Diagnostics.TraceRecorder();
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, TimeoutCycles = 1UL << 40 });
        var auditor = new SchedulingAuditor(trace: recorder);
        auditor.Attach(h.Scheduler);
        var stuck = h.Machine.CreateContext(1);
        var counter = h.Allocate(1, 4096);
        h.Submit(1, stuck, cb => cb.Wait(counter, 0));
        h.Machine.RunFor(5_000_000);
        auditor.Finish(h.Machine.Now);

        var snapshot = recorder.Snapshot();
        int track = snapshot.Tracks.Single(t => t.Name == "scheduling audit").Id;
        Assert.That(snapshot.Events.Count(e => e.Track == track && e.Phase == TracePhase.Instant), Is.EqualTo(auditor.Findings.Count));
        Assert.That(auditor.Findings, Is.Not.Empty);
    }
}
