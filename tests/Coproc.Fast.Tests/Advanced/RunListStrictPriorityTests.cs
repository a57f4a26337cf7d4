using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Strict priority in the run-list back end (seed 001 §5.5, §6.3) when the higher context cannot run for a while: a head
/// that stopped on a WAIT gets the engine back once its wait is over, and a lower-priority fault does not page out the
/// memory a higher-priority context's outstanding buffer uses (RunListScheduler.RunList.cs, RunListScheduler.Paging.cs).
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class RunListStrictPriorityTests
{
    [Test]
    public void GivenAHigherHeadThatStoppedOnAWait_WhenItsFenceIsWritten_ThenItRunsBeforeTheLowerContextsLongBufferEnds()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History));
        var s = rig.Scheduler;
        var p = s.CreateProcess();
        var low = s.CreateContext(p, 1);
        var high = s.CreateContext(p, 9);
        var big = p.AllocatePinned(1 << 20);
        var fence = p.AllocatePinned(4096);
        var target = p.AllocatePinned(64 << 10);

        // Many quanta of work on the low context (about 16 K cycles per MiB filled).
        var longLow = rig.Submit(low, (ref PacketWriter w) => { for (int i = 0; i < 150; i++) w.Fill(big.Va, (uint)i, 1 << 20); });
        var waiting = rig.Submit(high, (ref PacketWriter w) =>
        {
            w.WaitFence(fence.Va, 1);
            w.Fill(target.Va, 0xAAAA_AAAA, 64 << 10);
        });
        rig.Machine.RunFor(600_000);
        Assert.That(waiting.IsComplete, Is.False, "the high context waits for its fence");
        Assert.That(longLow.IsComplete, Is.False, "precondition: the low buffer is still running");

        // The CPU writes the fence the high context waits for (a pinned allocation: a plain store).
        rig.Machine.VidMm.Memory.Write64(rig.Machine.VidMm.PhysicalAddressOf(fence.Handle, 0), 1);
        Assert.That(rig.Machine.RunUntil(() => waiting.IsComplete, 50_000_000), Is.True);

        Assert.That(longLow.IsComplete, Is.False, "the higher context did not wait for the lower one's whole buffer");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        AdvancedRig.AssertBytes(rig.Read(target), AdvancedRig.Pattern(0xAAAA_AAAA, 64 << 10), "high");
        AdvancedRig.AssertBytes(rig.Read(big), AdvancedRig.Pattern(149, 1 << 20), "low");
    }

    [Test]
    public void GivenAHigherContextWithWorkOutstanding_WhenALowerContextOnAnotherEngineFaults_ThenItWaitsInsteadOfPagingTheHigherSetOut()
    {
        const int MiB = 1 << 20;
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { Engines = [EngineKind.Render, EngineKind.Compute] });
        var s = rig.Scheduler;
        var hp = s.CreateProcess();
        var lp = s.CreateProcess();
        var high = s.CreateContext(hp, 9, EngineKind.Render);
        var low = s.CreateContext(lp, 1, EngineKind.Compute);
        // 8 MiB of local memory: the two 5 MiB surfaces cannot be resident together.
        var a = hp.AllocateSurface(5 * MiB);
        var b = lp.AllocateSurface(5 * MiB);

        // The high buffer names its surface (prefetched) and keeps using it for many quanta.
        var highWork = rig.Submit(high, (ref PacketWriter w) => { for (int i = 0; i < 40; i++) w.Fill(a.Va, (uint)i, 5 * MiB); }, a.Handle);
        rig.Machine.RunFor(100_000);
        // The low buffer names nothing: its first touch of b faults.
        var lowWork = rig.Submit(low, (ref PacketWriter w) => w.Fill(b.Va, 0x1111_1111, 5 * MiB));

        Assert.That(rig.Machine.RunUntil(() => highWork.IsComplete, 500_000_000), Is.True);
        Assert.That(high.PageFaults, Is.Zero, "the high context's surface stayed resident while its buffer ran");
        Assert.That(s.DeferredForPriority, Is.GreaterThan(0), "the low fault waited for the higher work");
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(lowWork.IsComplete, Is.True, "the low context ran once the higher work retired");
        Assert.That(low.State, Is.EqualTo(VaContextState.Ready));
        // Wherever VidMm put them (in pieces, or back in system memory).
        AdvancedRig.AssertBytes(SaveState.MachineSaveStateWorkload.Read(rig.Machine, a.Handle), AdvancedRig.Pattern(39, 5 * MiB), "high");
        AdvancedRig.AssertBytes(SaveState.MachineSaveStateWorkload.Read(rig.Machine, b.Handle), AdvancedRig.Pattern(0x1111_1111, 5 * MiB), "low");
    }
}
