using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Fair share among equals in the run-list back end (seed 001 §5.5; RunListScheduler.RunList.cs, least recently served
/// first) where a turn ends on a WAIT, and on several engines at once (<see cref="RunListOptions.Engines"/>), watched by
/// the scheduling auditor, which must stay silent on these fair runs.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class EqualWaiterRotationTests
{
    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenAnEqualThatStoppedOnAWait_WhenItsFenceIsWritten_ThenItRunsBeforeTheOtherEqualsLongBufferEnds(RunListMechanism mechanism)
    {
        // Given two equals: B with many quanta of work, A stopped on a WAIT for a fence the CPU writes later (the device
        // leaves A for B and does not come back by itself).
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { QuantumCycles = 200_000 });
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var s = rig.Scheduler;
        var p = s.CreateProcess();
        var a = s.CreateContext(p, 5);
        var b = s.CreateContext(p, 5);
        var big = p.AllocatePinned(1 << 20);
        var fence = p.AllocatePinned(4096);
        var target = p.AllocatePinned(64 << 10);
        var waiting = rig.Submit(a, (ref PacketWriter w) =>
        {
            w.WaitFence(fence.Va, 1);
            w.Fill(target.Va, 0xAAAA_AAAA, 64 << 10);
        });
        var longB = rig.Submit(b, (ref PacketWriter w) => { for (int i = 0; i < 150; i++) w.Fill(big.Va, (uint)i, 1 << 20); });
        rig.Machine.RunFor(600_000);
        Assert.That(waiting.IsComplete, Is.False, "precondition: A waits for its fence");

        // When the CPU writes the fence.
        rig.Machine.VidMm.Memory.Write64(rig.Machine.VidMm.PhysicalAddressOf(fence.Handle, 0), 1);

        // Then A runs within a few quanta (its turn comes back at B's quantum), not after B's whole buffer.
        Assert.That(rig.Machine.RunUntil(() => waiting.IsComplete, 50_000_000), Is.True);
        Assert.That(longB.IsComplete, Is.False, "A did not wait for the equal's whole buffer");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(rig.Machine.Device.Cycle);
        Assert.That(auditor.Findings, Is.Empty, "waiting for a fence is not starvation");
        AdvancedRig.AssertBytes(rig.Read(target), AdvancedRig.Pattern(0xAAAA_AAAA, 64 << 10), "A");
        AdvancedRig.AssertBytes(rig.Read(big), AdvancedRig.Pattern(149, 1 << 20), "B");
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenThreeEqualsOnEachOfTwoEngines_WhenTwoKeepResubmittingShortBuffers_ThenTheThirdOnEachEngineIsServedAndNothingIsReported(RunListMechanism mechanism)
    {
        // Given lists of two on render and compute; on each engine A and B resubmit a short buffer as soon as theirs
        // completes, C has twenty queued.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with
        {
            RunListLength = 2, QuantumCycles = 20_000, Engines = [EngineKind.Render, EngineKind.Compute],
        });
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var s = rig.Scheduler;
        var p = s.CreateProcess();
        var target = p.AllocatePinned(64 << 10);
        EngineKind[] engines = [EngineKind.Render, EngineKind.Compute];
        var contexts = engines.Select(e => Enumerable.Range(0, 3).Select(_ => s.CreateContext(p, 4, e)).ToArray()).ToArray();
        VaTicket Short(VaContext ctx) => rig.Submit(ctx, (ref PacketWriter w) => w.Fill(target.Va, 1, 64 << 10));
        var resubmitting = contexts.SelectMany(c => c.Take(2)).Select(c => (Context: c, Ticket: Short(c))).ToArray();
        var lastOfC = contexts.Select(c => Enumerable.Range(0, 20).Select(_ => Short(c[2])).Last()).ToArray();

        // When the resubmitting ones keep going until both Cs are done (or 400 buffers: a failure guard).
        int served = 0;
        while (!lastOfC.All(t => t.IsComplete) && served < 400)
        {
            Assert.That(rig.Machine.RunUntil(() => resubmitting.Any(r => r.Ticket.IsComplete) || lastOfC.All(t => t.IsComplete)), Is.True);
            for (int i = 0; i < resubmitting.Length; i++)
                if (resubmitting[i].Ticket.IsComplete) { resubmitting[i].Ticket = Short(resubmitting[i].Context); served++; }
        }
        bool[] cDoneWhileOthersRan = [.. lastOfC.Select(t => t.IsComplete)];
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(rig.Machine.Device.Cycle);

        // Then both Cs finished while the others still ran, and the auditor, watching both engines, reports nothing.
        Assert.That(cDoneWhileOthersRan, Is.All.True, $"the others completed {served} buffers");
        Assert.That(auditor.Findings, Is.Empty);
    }
}
