using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

[TestFixture]
public class RunListObserverBridgeTests
{
    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void Replay_CountsEveryBufferAndFault_AndChargesEngineTime(RunListMechanism runLists)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(runLists) with { QuantumCycles = 20_000 });
        var contexts = new List<VaContext>();
        for (int i = 0; i < 3; i++)
        {
            var p = rig.Scheduler.CreateProcess();
            var ctx = rig.Scheduler.CreateContext(p);
            var s = p.AllocateSurface(256 << 10);
            for (int k = 0; k < 3; k++)
                rig.Submit(ctx, (ref PacketWriter w) => w.Fill(s.Va, (uint)k, 256 << 10), k == 0 && i == 0 ? [] : [s.Handle]);
            contexts.Add(ctx);
        }
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        var recorder = new TraceRecorder();
        var observer = new SchedulingObserver(recorder);
        RunListObserverBridge.Replay(rig.Scheduler, observer);

        var stats = observer.Contexts;
        Assert.That(stats, Has.Count.EqualTo(3));
        Assert.That(stats.All(s => s.BuffersSubmitted == 3 && s.BuffersCompleted == 3), Is.True);
        Assert.That(stats.Sum(s => s.Faults), Is.EqualTo(contexts.Sum(c => c.PageFaults)));
        Assert.That(stats.Sum(s => (long)s.GpuCycles), Is.GreaterThan(0));
        Assert.That(recorder.Count, Is.GreaterThan(0));
    }
}
