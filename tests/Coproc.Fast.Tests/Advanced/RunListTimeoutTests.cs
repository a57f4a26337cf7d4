using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Timeout detection in the run-list back end (seed 001 §13): a context that holds the engine without progress for
/// the timeout is stopped — its buffers fail — and no other context is touched; a context that only waits for its turn
/// behind a long-running one is never stopped.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class RunListTimeoutTests
{
    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void AContextWaitingForEver_IsStopped_AfterTheTimeout_AndAnotherContextStillRuns(RunListMechanism mechanism)
    {
        // Given a context whose buffer WAITs on a counter nobody signals, another that fills a surface, a 100 K-cycle
        // quantum and a 1 M-cycle timeout.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { QuantumCycles = 100_000, TimeoutCycles = 1_000_000 });
        var hungProcess = rig.Scheduler.CreateProcess();
        var hung = rig.Scheduler.CreateContext(hungProcess, priority: 1);
        var counter = hungProcess.AllocatePinned(4096);
        var stuck = rig.Submit(hung, (ref PacketWriter w) => w.Wait(counter.Va));
        var healthyProcess = rig.Scheduler.CreateProcess();
        var healthy = rig.Scheduler.CreateContext(healthyProcess, priority: 1);
        var target = healthyProcess.AllocatePinned(64 << 10);

        // When the machine runs for three timeouts, the healthy context submitting now and then.
        var done = new List<VaTicket>();
        for (int i = 0; i < 6; i++)
        {
            uint k = (uint)i;
            done.Add(rig.Submit(healthy, (ref PacketWriter w) => w.Fill(target.Va, k, 64 << 10)));
            rig.Machine.RunFor(500_000);
        }

        // Then the waiting context is stopped with a timeout, its buffer failed, and every healthy buffer completed.
        Assert.That(hung.State, Is.EqualTo(VaContextState.Error));
        Assert.That(hung.ErrorReason, Does.StartWith("timeout"));
        Assert.That(stuck.HasFailed, Is.True);
        Assert.That(rig.Scheduler.Timeouts, Is.EqualTo(1));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(done.All(t => t.IsComplete), Is.True);
        Assert.That(healthy.State, Is.EqualTo(VaContextState.Ready));
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void AStoppedContext_IsTakenOffTheEngine_AndItsFailedBufferNeverRunsLater(RunListMechanism mechanism)
    {
        // Given a lone context whose buffer WAITs on a counter and then fills a surface, stopped by the timeout.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { QuantumCycles = 100_000, TimeoutCycles = 1_000_000 });
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p, priority: 1);
        var counter = p.AllocatePinned(4096);
        var target = p.AllocatePinned(4096);
        var stuck = rig.Submit(ctx, (ref PacketWriter w) => { w.Wait(counter.Va); w.Fill(target.Va, 0xDEAD, 4096); });
        rig.Machine.RunFor(3_000_000);
        Assert.That(ctx.State, Is.EqualTo(VaContextState.Error));
        Assert.That(stuck.HasFailed, Is.True);

        // When the counter it waited on is written afterwards and the machine runs on.
        rig.Machine.Device.Memory.Write32(rig.Machine.VidMm.PhysicalAddressOf(counter.Handle, 0), 1);
        rig.Machine.RunFor(3_000_000);

        // Then the stopped context never ran again: off the engine, its buffer still failed, the surface untouched.
        Assert.That(rig.Scheduler.RunLists.RunningContext, Is.Not.EqualTo(ctx.SaveArea));
        Assert.That(rig.Scheduler.RunLists.Current.ToArray(), Does.Not.Contain(ctx.SaveArea));
        Assert.That(stuck.HasFailed, Is.True);
        Assert.That(stuck.IsComplete, Is.False);
        Assert.That(rig.Read32(target, 0), Is.Zero);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
    }

    [Test]
    public void AContextWaitingForItsTurn_BehindAHigherPriorityOne_IsNeverStopped()
    {
        // Given a priority-2 context with 3 M cycles of work and a priority-1 context queued behind it, timeout 1 M.
        using var rig = new AdvancedRig(AdvancedRig.Small() with { QuantumCycles = 100_000, TimeoutCycles = 1_000_000 });
        var p = rig.Scheduler.CreateProcess();
        var high = rig.Scheduler.CreateContext(p, 2);
        var low = rig.Scheduler.CreateContext(p, 1);
        var big = p.AllocatePinned(1 << 20);
        var busy = rig.Submit(high, (ref PacketWriter w) => { for (int i = 0; i < 12; i++) w.Fill(big.Va, (uint)i, 1 << 20); });
        var waiting = rig.Submit(low, (ref PacketWriter w) => w.Fill(big.Va, 7, 4096));

        // When everything runs.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then both complete: waiting for a turn is not a hang, and progress resets the count.
        Assert.That((busy.IsComplete, waiting.IsComplete), Is.EqualTo((true, true)));
        Assert.That(rig.Scheduler.Timeouts, Is.Zero);
    }
}
