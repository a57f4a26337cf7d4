using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Diagnostics;

[TestFixture]
public sealed class MachineObserverTests
{
    [Test]
    public void TheMachineObserver_FeedsTheSchedulingObserver_CountsMatchTheScheduler()
    {
        var options = new VidSchOptions { QuantumCycles = 3_000, TimeoutCycles = 2_000_000 };
        using var h = new SchedulingHarness(options, realResidency: true);
        var observer = new SchedulingObserver();
        var machineObserver = new MachineObserver(observer, h.Machine);
        machineObserver.Attach(h.Machine);
        var ctx = Enumerable.Range(0, 3).Select(i => h.Machine.CreateContext((uint)i + 1)).ToArray();
        for (int i = 0; i < 3; i++) machineObserver.Register(ctx[i], $"app{i}", "ctx");
        var mem = Enumerable.Range(0, 3).Select(i => h.Machine.AllocateManaged((uint)i + 1, ctx[i], 256 * 1024)).ToArray();
        for (int n = 0; n < 4; n++)
            for (int i = 0; i < 2; i++)
            {
                int k = i;
                h.Submit((uint)k + 1, ctx[k], cb => { for (int j = 0; j < 4; j++) cb.Fill(mem[k], 0, (uint)j, 256 * 1024); });
            }
        h.Submit(3, ctx[2], cb => { cb.Wait(mem[2], 0); cb.Fill(mem[2], 4096, 1, 4096); }); // hangs: reset by timeout

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        var stats = observer.Contexts;
        for (int i = 0; i < 3; i++)
        {
            Assert.That(stats[i].BuffersSubmitted, Is.EqualTo(ctx[i].Submitted), $"context {i} submitted");
            Assert.That(stats[i].BuffersCompleted, Is.EqualTo(ctx[i].Completed), $"context {i} completed");
            Assert.That(stats[i].SubmitToStartCount, Is.GreaterThanOrEqualTo(ctx[i].Completed));
            Assert.That(stats[i].GpuCycles, Is.GreaterThan(0UL));
        }
        Assert.That(stats[0].Preemptions + stats[1].Preemptions, Is.GreaterThan(0));
        Assert.That(stats[2].Faults, Is.EqualTo(1), "the timeout reset");
        Assert.That(stats.Sum(s => s.BytesPaged), Is.GreaterThan(0));
    }
}
