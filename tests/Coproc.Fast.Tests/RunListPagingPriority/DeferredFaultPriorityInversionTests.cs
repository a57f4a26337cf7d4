using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Advanced;

namespace Coproc.Fast.Tests.RunListPagingPriority;

/// <summary>
/// A fault the paging thread defers for priority (RunListScheduler.Paging.cs, DeferredForPriority: serving it would evict
/// a higher busy context's working set) goes back on the paging list with its old join cycle, so its boost keeps growing;
/// a higher-priority context's own fault that would fit at once must still be served promptly (seed 001 §5.5 strict
/// priority, §5.6 the paging list) rather than wait behind the deferred request for its whole protection window.
/// </summary>
public class DeferredFaultPriorityInversionTests
{
    private const int MiB = 1 << 20;

    [Test]
    [Explicit("bug: a fault deferred for priority keeps its boost and is taken every paging turn, so a higher context's fault that fits waits its whole protection window")]
    public void GivenALowerFaultDeferredForAHigherBusyContext_WhenTheHigherContextFaultsOnMemoryThatFits_ThenItsFaultIsServedWithinAQuantum()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { Engines = [EngineKind.Render, EngineKind.Compute] });
        var s = rig.Scheduler;
        var hp = s.CreateProcess();
        var lp = s.CreateProcess();
        var high = s.CreateContext(hp, 2, EngineKind.Render);
        var low = s.CreateContext(lp, 1, EngineKind.Compute);
        // 8 MiB of local memory: a (5 MiB) and b (5 MiB) cannot be resident together; c (256 KiB) fits beside a.
        var a = hp.AllocateSurface(5 * MiB);
        var c = hp.AllocateSurface(256 << 10);
        var b = lp.AllocateSurface(5 * MiB);

        // The high buffer names a (prefetched) and uses it for about ten quanta, then touches c, which it does not name.
        var highWork = rig.Submit(high, (ref PacketWriter w) =>
        {
            for (int i = 0; i < 25; i++) w.Fill(a.Va, (uint)i, 5 * MiB);
            w.Fill(c.Va, 0xCCCC_CCCC, 256 << 10);
        }, a.Handle);
        rig.Machine.RunFor(100_000);
        // The low buffer names nothing: its first touch of b faults, and the fault is deferred (a is busy and higher).
        var lowWork = rig.Submit(low, (ref PacketWriter w) => w.Fill(b.Va, 0x1111_1111, 5 * MiB));

        Assert.That(rig.Machine.RunUntil(() => high.PageFaults > 0 || highWork.IsComplete, 500_000_000), Is.True);
        Assert.That(high.PageFaults, Is.EqualTo(1), "precondition: the high context faults on c while its buffer is outstanding");
        Assert.That(s.DeferredForPriority, Is.GreaterThan(0), "precondition: the low fault was deferred for the higher work");
        ulong faulted = rig.Machine.Device.Cycle;

        Assert.That(rig.Machine.RunUntil(() => highWork.IsComplete, 500_000_000), Is.True);
        ulong served = rig.Machine.Device.Cycle - faulted;
        Assert.That(served, Is.LessThan(rig.Scheduler.Options.QuantumCycles),
            $"the high context's fault (c fits beside a) waited {served} cycles behind the deferred low request " +
            $"({s.DeferredForPriority} deferrals; the low request's boost outranks the high one's, so the paging thread takes it every turn)");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(lowWork.IsComplete, Is.True);
        AdvancedRig.AssertBytes(rig.Read(c), AdvancedRig.Pattern(0xCCCC_CCCC, 256 << 10), "high c");
    }
}
