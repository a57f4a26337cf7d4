using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Advanced;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// The scheduling auditor watching the advanced model's run-list back end (docs/scheduling-policy.md "Auditor"): a
/// context ready with work that an equal or lower priority keeps off its engine for longer than the starvation
/// threshold is reported, and so is an engine that runs nothing while such a context waits; waiting behind a higher
/// priority, or for a fence, is not.
/// </summary>
public class RunListAuditorTests
{
    private const ulong Quantum = 200_000;

    [Test]
    public void GivenAnEqualKeptOffTheEngine_WhenItWaitsLongerThanTheThreshold_ThenItIsReportedStarved()
    {
        // Given two equal contexts with work, and passes that show A running all along (the state a scheduler that never
        // rotated equals would leave).
        using var rig = new AdvancedRig(new RigOptions { QuantumCycles = Quantum });
        var (a, b) = TwoContexts(rig, 5, 5);
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var state = rig.Scheduler.AuditorState!;

        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, a.SaveArea, 1_000);
            auditor.OnRunListPass(state, EngineKind.Render, a.SaveArea, 1_000 + 20 * Quantum);
        }
        auditor.Finish(1_000 + 20 * Quantum);

        // Then B is reported: 20 quanta is beyond 4 quanta × 2 equals.
        var starved = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.Starved).ToArray();
        Assert.That(starved.Select(f => f.ContextId), Is.EqualTo(new[] { (int)b.Id }));
        Assert.That(starved[0].Cycles, Is.EqualTo(20 * Quantum));
        Assert.That(starved[0].Message, Does.Contain("run list"));
    }

    [Test]
    public void GivenALowerPriorityBehindAHigherOne_OrAContextWaitingForAFence_ThenNothingIsReported()
    {
        // Given a priority-9 context running and a priority-2 one with work (strict priority: it waits by policy), and an
        // equal whose last turn ended on an unsatisfied WAIT (it waits for its fence, not for a turn).
        using var rig = new AdvancedRig(new RigOptions { QuantumCycles = Quantum });
        var (high, low) = TwoContexts(rig, 9, 2);
        var (_, equalOnWait) = TwoContexts(rig, 1, 9);
        equalOnWait.LeftOnWait = true;
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var state = rig.Scheduler.AuditorState!;

        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, high.SaveArea, 1_000);
            auditor.OnRunListPass(state, EngineKind.Render, high.SaveArea, 1_000 + 50 * Quantum);
        }
        auditor.Finish(1_000 + 50 * Quantum);

        Assert.That(auditor.Findings, Is.Empty);
        _ = low;
    }

    [Test]
    public void GivenAnEngineRunningNothingWhileAContextHasWork_WhenItLastsLongerThanTheThreshold_ThenItIsReportedIdleWithWork()
    {
        // Given two contexts with work and passes that show the engine idle (no list named them), then one running.
        using var rig = new AdvancedRig(new RigOptions { QuantumCycles = Quantum });
        var (a, _) = TwoContexts(rig, 5, 5);
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var state = rig.Scheduler.AuditorState!;

        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, 0, 1_000);
            auditor.OnRunListPass(state, EngineKind.Render, 0, 1_000 + Quantum);       // within 2 quanta: not yet
            auditor.OnRunListPass(state, EngineKind.Render, a.SaveArea, 1_000 + 7 * Quantum);
        }
        auditor.Finish(1_000 + 7 * Quantum);

        // Then one stretch of 7 quanta is reported for render, and no more.
        var idle = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.IdleWithWork).ToArray();
        Assert.That(idle.Select(f => (f.Engine, f.Cycles)), Is.EqualTo(new[] { (EngineKind.Render, 7 * Quantum) }));
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenEqualsWithShortBuffersResubmittingWhileAThirdWaits_WhenTheMachineRuns_ThenTheAuditorFindsNoStarvation(RunListMechanism mechanism)
    {
        // Given three equals on lists of two (QuantumRotationTests' set-up) watched by the auditor.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { RunListLength = 2, QuantumCycles = 20_000 });
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var p = rig.Scheduler.CreateProcess();
        var target = p.AllocatePinned(64 << 10);
        VaContext a = rig.Scheduler.CreateContext(p), b = rig.Scheduler.CreateContext(p), c = rig.Scheduler.CreateContext(p);
        VaTicket Short(VaContext ctx) => rig.Submit(ctx, (ref PacketWriter w) => w.Fill(target.Va, 1, 64 << 10));
        var ta = Short(a);
        var tb = Short(b);
        var tcs = Enumerable.Range(0, 20).Select(_ => Short(c)).ToList();

        // When A and B resubmit as soon as theirs complete, until C's twenty buffers are done.
        int served = 0;
        while (!tcs[^1].IsComplete && served < 400)
        {
            Assert.That(rig.Machine.RunUntil(() => ta.IsComplete || tb.IsComplete || tcs[^1].IsComplete), Is.True);
            if (ta.IsComplete) { ta = Short(a); served++; }
            if (tb.IsComplete) { tb = Short(b); served++; }
        }
        bool cDoneWhileTheyRan = tcs[^1].IsComplete; // before RunUntilIdle, which completes C anyway
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(rig.Machine.Device.Cycle);

        // Then C finished while they still ran, and the auditor, which watched every pass, reports nothing.
        Assert.That(cDoneWhileTheyRan, Is.True, $"A and B completed {served} buffers while C waited");
        Assert.That(auditor.Findings, Is.Empty);
    }

    [Test]
    [Explicit("bug: the auditor never reports a context whose last turn ended on a WAIT, even after the wait is over: LeftOnWait stays set until the context runs again, so an equal kept off after its fence was written is invisible (with the quantum-only rotation of equals such a context waited ~9 quanta for the other's whole buffer and nothing was reported)")]
    public void GivenAnEqualWhoseWaitIsOver_WhenItIsKeptOffTheEngineLongerThanTheThreshold_ThenItIsReportedStarved()
    {
        // Given two equals: A stopped on a WAIT_FENCE (the device left it: LeftOnWait), B with a long buffer running.
        using var rig = new AdvancedRig(new RigOptions { RunLists = RunListMechanism.History, QuantumCycles = Quantum });
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p, 5);
        var b = rig.Scheduler.CreateContext(p, 5);
        var fence = p.AllocatePinned(4096);
        var big = p.AllocatePinned(1 << 20);
        rig.Submit(a, (ref PacketWriter w) => { w.WaitFence(fence.Va, 1); w.WriteData(fence.Va + 8, 1); });
        rig.Submit(b, (ref PacketWriter w) => { for (int i = 0; i < 150; i++) w.Fill(big.Va, (uint)i, 1 << 20); });
        rig.Machine.RunFor(100_000);
        Assert.That(a.LeftOnWait, Is.True, "precondition: A's turn ended on its WAIT");

        // When its fence is written, and passes then show B running for 20 quanta while A stays ready with work.
        rig.Machine.VidMm.Memory.Write64(rig.Machine.VidMm.PhysicalAddressOf(fence.Handle, 0), 1);
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        ulong t = rig.Machine.Device.Cycle;
        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(rig.Scheduler.AuditorState!, EngineKind.Render, b.SaveArea, t);
            auditor.OnRunListPass(rig.Scheduler.AuditorState!, EngineKind.Render, b.SaveArea, t + 20 * Quantum);
        }
        auditor.Finish(t + 20 * Quantum);

        // Then A is reported: its wait was over, so it waited for a turn.
        Assert.That(auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.Starved).Select(f => f.ContextId), Is.EqualTo(new[] { (int)a.Id }));
    }

    // Two contexts of one process with the given priorities, each with one buffer queued (nothing run yet).
    private static (VaContext, VaContext) TwoContexts(AdvancedRig rig, int first, int second)
    {
        var p = rig.Scheduler.CreateProcess();
        var target = p.AllocatePinned(4096);
        var x = rig.Scheduler.CreateContext(p, first);
        var y = rig.Scheduler.CreateContext(p, second);
        rig.Submit(x, (ref PacketWriter w) => w.WriteData(target.Va, 1));
        rig.Submit(y, (ref PacketWriter w) => w.WriteData(target.Va + 4, 2));
        return (x, y);
    }
}
