using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Advanced;

namespace Coproc.Fast.Tests.RunListPagingContext;

/// <summary>
/// VidMm's paging context (the seed 004 device paging queue's kernel context) runs on the run-list back end's first
/// engine (RunListScheduler.RunList.cs). Another engine may name it only as an idle stand-in (a list that takes a
/// stopped context off the device) — it must never load it while it has paging to run: two engines starting one ring
/// from the same saved position would run every paging buffer twice, concurrently.
/// </summary>
public class PagingContextOnOneEngineTests
{
    [Test]
    [Explicit("bug: a second engine whose list names the paging context as a stopped context's stand-in loads and runs it, concurrently with the first engine, once it has paging")]
    public void GivenASecondEngineWhoseListNamesThePagingContextAfterItsOnlyContextFailed_WhenTheFirstEngineFaults_ThenOnlyTheFirstEngineRunsThePaging()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { Engines = [EngineKind.Render, EngineKind.Compute] });
        var s = rig.Scheduler;
        var paging = s.Paging.Context.SaveArea.Encoded;
        var bp = s.CreateProcess();
        var bad = s.CreateContext(bp, 1, EngineKind.Compute);
        var failed = rig.Submit(bad, (ref PacketWriter w) => w.WriteData(0x7700_0000, 0xDEAD)); // an unbacked VA: stops the context
        Assert.That(rig.Machine.RunUntil(() => bad.State == VaContextState.Error, 10_000_000), Is.True);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(failed.HasFailed, Is.True);
        Assert.That(s.RunListsFor(EngineKind.Compute).Current.ToArray(), Does.Contain(paging),
            "precondition: compute's list names the paging context (the stand-in that took the failed context off)");

        // A render context demand-faults a surface in: the paging context gets work, on render's lists.
        var p = s.CreateProcess();
        var r = s.CreateContext(p, 1, EngineKind.Render);
        var surfaces = new GpuAllocation[4];
        for (int i = 0; i < surfaces.Length; i++) surfaces[i] = p.AllocateSurface(1 << 20);
        var work = rig.Submit(r, (ref PacketWriter w) => { for (int i = 0; i < surfaces.Length; i++) w.Fill(surfaces[i].Va, 0x0101_0101u * (uint)(i + 1), 1 << 20); });

        int computeRanPaging = 0, bothRanPaging = 0;
        for (int step = 0; step < 20_000 && !work.IsComplete; step++)
        {
            rig.Machine.RunFor(500);
            if (s.RunListsFor(EngineKind.Compute).RunningContext != paging || !s.Paging.HasWork) continue;
            computeRanPaging++;
            if (s.RunListsFor(EngineKind.Render).RunningContext == paging) bothRanPaging++;
        }
        Assert.That(work.IsComplete, Is.True);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        for (int i = 0; i < surfaces.Length; i++)
            AdvancedRig.AssertBytes(rig.Read(surfaces[i]), AdvancedRig.Pattern(0x0101_0101u * (uint)(i + 1), 1 << 20), $"surface {i}");
        Assert.That(computeRanPaging, Is.Zero, $"compute loaded VidMm's paging context while it had paging to run ({bothRanPaging} samples with render running it too)");
    }
}
