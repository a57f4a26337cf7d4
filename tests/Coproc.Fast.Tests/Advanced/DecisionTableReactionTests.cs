using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Seed 001 §6.4: under the two-element rules the driver learns from a context-switch interrupt and the running-context
/// query whether the engine left the head of the current list. When it did (LeftHead), the head is no longer "already
/// running": new work of a higher-priority head needs a new list — first one without it (rule 1), then one headed by
/// it — or it would wait behind a lower priority until that one's buffer ends.
/// </summary>
public class DecisionTableReactionTests
{
    [Test]
    public void AHeadTheEngineLeft_IsScheduledAgain_WhenItGetsWork_AheadOfALowerPriorityLongBuffer()
    {
        // Given high (priority 2) with a short buffer and low (priority 1) with a long one: list [high, low].
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.TwoElement) with { QuantumCycles = 50_000 });
        var p = rig.Scheduler.CreateProcess();
        var high = rig.Scheduler.CreateContext(p, 2);
        var low = rig.Scheduler.CreateContext(p, 1);
        var surface = p.AllocatePinned(1 << 20);
        var marks = p.AllocatePinned(4096);
        var first = rig.Submit(high, (ref PacketWriter w) => w.Fill(surface.Va, 1, 4096));
        var longJob = rig.Submit(low, (ref PacketWriter w) => { for (int i = 0; i < 40; i++) { w.Fill(surface.Va, (uint)i, 1 << 20); w.WriteData(marks.Va, (uint)i + 1); } });

        // When high's first buffer is done and the engine has moved on to low (the interrupt's outcome: left the head).
        Assert.That(rig.Machine.RunUntil(() => first.IsComplete && rig.Read32(marks, 0) >= 2), Is.True);
        Assert.That(rig.Scheduler.LastTwoElementOutcome, Is.EqualTo(TwoElementOutcome.LeftHead));

        // … and high submits again while low is in the middle of its long buffer.
        var second = rig.Submit(high, (ref PacketWriter w) => w.Fill(surface.Va, 2, 4096));
        Assert.That(rig.Machine.RunUntil(() => second.IsComplete), Is.True);

        // Then high's second buffer ran long before low's ended: the driver acted on "left the head".
        Assert.That(longJob.IsComplete, Is.False, "high did not wait for the lower priority's whole buffer");
        Assert.That(rig.Read32(marks, 0), Is.LessThan(30u));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(longJob.IsComplete, Is.True);
    }
}
