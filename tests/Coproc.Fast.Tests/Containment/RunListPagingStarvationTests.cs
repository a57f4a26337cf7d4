using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// A run-list context whose buffer waits in its ring for VidMm's paging (a prefetch of a listed resource: a WAIT_FENCE on
/// the paging fence, RunListScheduler.Submit.cs) must see that paging run, whatever another process's context does — here
/// a higher-priority context of another process waiting on a fence that never comes. Otherwise the waiting, innocent
/// context is the one the timeout stops (RunListOptions.TimeoutCycles), and the malicious one runs on. (With two-element
/// lists the waiting head holds the engine until its own timeout, strict priority; the innocent buffer completes after.)
/// </summary>
public class RunListPagingStarvationTests
{
    private const ulong Mi = 1UL << 20;

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenAHigherPriorityContextWaitingForever_WhenALowerPriorityProcessPrefetchesAListedSurface_ThenThePagingRunsAndItsBufferCompletes(RunListMechanism mechanism)
    {
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new CoprocessorOptions { LocalMemoryBytes = 8 * Mi, SystemMemoryBytes = 48 * Mi, ApertureBytes = Mi, VsyncPeriodCycles = 0 },
            RunLists = new RunListOptions { Mechanism = mechanism, QuantumCycles = 50_000, TimeoutCycles = 5_000_000 },
        });
        var rl = m.RunListScheduler;

        // The attacker: priority 2, its buffer waits on its own surface for a value nobody writes.
        var evil = rl.CreateProcess();
        var e = rl.CreateContext(evil, 2);
        var own = evil.AllocateSurface(64 << 10);
        var eb = evil.CreateDmaBuffer(64);
        var ew = eb.Writer();
        ew.Fill(own.Va, 0, 4096);
        ew.WaitFence(own.Va, 1UL << 62);
        Assert.That(rl.TrySubmit(e, eb, ew.Written, [], out _), Is.True);

        // The innocent process: priority 0; a first buffer that demand-faults its first surface in and completes.
        var good = rl.CreateProcess();
        var g = rl.CreateContext(good, 0);
        var s1 = good.AllocateSurface(Mi);
        var s2 = good.AllocateSurface(Mi);
        var b1 = good.CreateDmaBuffer(64);
        var w1 = b1.Writer();
        w1.Fill(s1.Va, 0x11111111, Mi);
        Assert.That(rl.TrySubmit(g, b1, w1.Written, [], out var first), Is.True);
        // ... and a long one behind it (many fills of that resident surface): the context keeps work on the lists.
        var bLong = good.CreateDmaBuffer(256);
        var wl = bLong.Writer();
        for (int i = 0; i < 24; i++) wl.Fill(s1.Va, 0x11110000u | (uint)i, Mi);
        Assert.That(rl.TrySubmit(g, bLong, wl.Written, [], out var longTicket), Is.True);
        Assert.That(m.RunUntil(() => first.IsComplete, 50_000_000), Is.True, "the first buffer completes beside the waiting attacker");
        Assert.That(longTicket.IsComplete, Is.False, "the long buffer is still running");

        // When its next buffer lists a surface that is not resident: VidMm pages it in, the ring waits for that paging.
        var b2 = good.CreateDmaBuffer(64);
        var w2 = b2.Writer();
        w2.Fill(s2.Va, 0x22222222, Mi);
        Assert.That(rl.TrySubmit(g, b2, w2.Written, [s2.Handle], out var second), Is.True);

        // Then the paging runs and the buffer completes; the innocent context is not stopped.
        bool done = m.RunUntil(() => second.IsComplete || g.State == VaContextState.Error, 50_000_000);
        Assert.That(g.State, Is.Not.EqualTo(VaContextState.Error), $"the innocent context was stopped: {g.ErrorReason}; paging {rl.Paging.Completed}/{rl.Paging.LastSubmitted}");
        Assert.That(done && second.IsComplete, Is.True, $"its prefetched buffer completed; paging {rl.Paging.Completed}/{rl.Paging.LastSubmitted}");
    }
}
