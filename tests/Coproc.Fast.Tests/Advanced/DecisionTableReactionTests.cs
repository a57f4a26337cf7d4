using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Seed 001 §6.4: under the two-element rules the driver learns from a context-switch interrupt and the running-context
/// query whether the engine left the head of the current list. When it did (LeftHead: the head yielded on a WAIT), the
/// head is no longer "already running": at the next quantum tick the driver builds a list without it (rule 1), then
/// one headed by it — otherwise a higher-priority head waits behind a lower priority until that one's buffer ends.
/// </summary>
public class DecisionTableReactionTests
{
    [Test]
    public void AHeadTheEngineLeftOnAWait_RunsAgainSoonAfterTheWaitIsSatisfied_NotAfterTheLowerPrioritysWholeBuffer()
    {
        // Given high (priority 2) whose buffer WAITs on a counter that is still 0 and then fills, and low (priority 1)
        // with a long buffer: list [high, low].
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.TwoElement) with { QuantumCycles = 50_000 });
        var p = rig.Scheduler.CreateProcess();
        var high = rig.Scheduler.CreateContext(p, 2);
        var low = rig.Scheduler.CreateContext(p, 1);
        var surface = p.AllocatePinned(1 << 20);
        var counter = p.AllocatePinned(4096);
        var marks = p.AllocatePinned(4096);
        var waiting = rig.Submit(high, (ref PacketWriter w) => { w.Wait(counter.Va); w.Fill(surface.Va, 7, 4096); });
        var longJob = rig.Submit(low, (ref PacketWriter w) => { for (int i = 0; i < 40; i++) { w.Fill(surface.Va + 8192, (uint)i, 512 << 10); w.WriteData(marks.Va, (uint)i + 1); } });

        // When the engine yields from high's WAIT to low (the interrupt's outcome: it left the head of the list) …
        Assert.That(rig.Machine.RunUntil(() => rig.Read32(marks, 0) >= 2), Is.True);
        Assert.That(rig.Scheduler.HeadsLeft, Is.GreaterThan(0), "a switch interrupt's outcome said the engine left the head");
        Assert.That(waiting.IsComplete, Is.False);
        // … and the counter is then signalled (a CPU write) while low is early in its long buffer.
        rig.Machine.Device.Memory.Write32(rig.Machine.VidMm.PhysicalAddressOf(counter.Handle, 0), 1);
        Assert.That(rig.Machine.RunUntil(() => waiting.IsComplete), Is.True);

        // Then high ran again within a few quanta: the driver did not treat the head it had left as "already running".
        Assert.That(longJob.IsComplete, Is.False, "high did not wait for the lower priority's whole buffer");
        Assert.That(rig.Read32(marks, 0), Is.LessThan(20u));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(longJob.IsComplete, Is.True);
    }
}
