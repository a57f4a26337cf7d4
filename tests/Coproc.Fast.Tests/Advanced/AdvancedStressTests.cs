using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>Fault storms at 2× oversubscription, a malicious process, and determinism of the advanced model.</summary>
[TestFixture]
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedStressTests
{
    private sealed record Workload(VaContext Ctx, GpuAllocation A, GpuAllocation B, uint Fill, uint Patch, List<VaTicket> Tickets);

    // Each context: FILL A, COPY A→B, patch one page of B. Even contexts list their resources, odd ones list nothing.
    private static List<Workload> Storm(AdvancedRig rig, int contexts, ulong surfaceBytes, Random? random = null)
    {
        var list = new List<Workload>();
        for (int i = 0; i < contexts; i++)
        {
            var p = rig.Scheduler.CreateProcess();
            var ctx = rig.Scheduler.CreateContext(p, random?.Next(0, 3) ?? i % 3);
            var a = p.AllocateSurface(surfaceBytes);
            var b = p.AllocateSurface(surfaceBytes);
            list.Add(new Workload(ctx, a, b, 0x01010101u * (uint)(i + 1), 0xF0F0F0F0u ^ (uint)i, new()));
        }
        foreach (var w in list)
        {
            bool listed = random is null ? w.Ctx.Id % 2 == 0 : random.Next(2) == 0;
            AllocationHandle[] res = listed ? [w.A.Handle, w.B.Handle] : [];
            w.Tickets.Add(rig.Submit(w.Ctx, (ref PacketWriter pw) => pw.Fill(w.A.Va, w.Fill, surfaceBytes), res));
            w.Tickets.Add(rig.Submit(w.Ctx, (ref PacketWriter pw) => pw.Copy(w.B.Va, w.A.Va, surfaceBytes), res));
            w.Tickets.Add(rig.Submit(w.Ctx, (ref PacketWriter pw) => pw.Fill(w.B.Va + 4096, w.Patch, 4096), res));
        }
        return list;
    }

    private static void AssertIntact(AdvancedRig rig, List<Workload> storm, ulong surfaceBytes)
    {
        foreach (var w in storm)
        {
            Assert.That(w.Ctx.State, Is.EqualTo(VaContextState.Ready), w.Ctx.ToString());
            Assert.That(w.Tickets.All(t => t.IsComplete), Is.True, $"{w.Ctx}: no lost work");
            AdvancedRig.AssertBytes(rig.Read(w.A), AdvancedRig.Pattern(w.Fill, (int)surfaceBytes), $"{w.Ctx}: A");
            var expected = AdvancedRig.Pattern(w.Fill, (int)surfaceBytes);
            AdvancedRig.Pattern(w.Patch, 4096).CopyTo(expected, 4096);
            AdvancedRig.AssertBytes(rig.Read(w.B), expected, $"{w.Ctx}: B");
        }
    }

    [TestCase(RunListMechanism.TwoElement, FaultGranularity.Surface)]
    [TestCase(RunListMechanism.History, FaultGranularity.Page)]
    public void FaultStorm_ManyContextsFaultingAtTwiceOversubscription_EveryByteIntact_NoLostWork(RunListMechanism runLists, FaultGranularity faults)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(runLists, faults: faults));
        const int contexts = 8;
        ulong surface = rig.Residency().ResidentBudget / (contexts) & ~0xFFFFUL; // 2 surfaces each: 2× what fits
        var storm = Storm(rig, contexts, surface);
        Assert.That(2 * contexts * surface, Is.GreaterThan(rig.Residency().ResidentBudget * 3 / 2));

        bool idle = rig.Machine.RunUntilIdle();
        TestContext.Out.WriteLine($"idle {idle} faults {storm.Sum(w => w.Ctx.PageFaults)}, served {rig.Scheduler.PagingServed} paging buffers {rig.Scheduler.Paging.BuffersSubmitted}, " +
            $"run lists {rig.Scheduler.RunListsSubmitted}, cycles {rig.Machine.Now} events {rig.Scheduler.Events.Length} budget {rig.Residency().ResidentBudget} surface {surface}");
        Assert.That(idle, Is.True);

        AssertIntact(rig, storm, surface);
        Assert.That(storm.Sum(w => w.Ctx.PageFaults), Is.GreaterThan(0), "the storm did fault");
        Assert.That(rig.Scheduler.PagingList.Count, Is.Zero);
    }

    [Test]
    public void MaliciousProcess_ForgedListPrivilegedPacketForeignVaAndEndlessWait_HarmOnlyItself()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History));
        var v = rig.Scheduler.CreateProcess();
        var victim = rig.Scheduler.CreateContext(v);
        var vs = v.AllocateSurface(256 << 10);
        var vd = v.AllocateSurface(256 << 10);
        var m = rig.Scheduler.CreateProcess();
        var forged = rig.Scheduler.CreateContext(m);
        var privileged = rig.Scheduler.CreateContext(m);
        var foreign = rig.Scheduler.CreateContext(m);
        var waiter = rig.Scheduler.CreateContext(m);
        var own = m.AllocateSurface(64 << 10);
        var counter = m.AllocatePinned(4096);

        // Forged resource list: names the victim's surfaces, not its own (dropped: it only costs itself a fault)
        var tf = rig.Submit(forged, (ref PacketWriter w) => w.Fill(own.Va, 0x66666666, 64 << 10), vs.Handle, vd.Handle);
        var tp = rig.Submit(privileged, (ref PacketWriter w) => w.DisableContextSwitch());
        var tx = rig.Submit(foreign, (ref PacketWriter w) => { w.Fill(vs.Va, 0xBADBADBA, 256 << 10); w.Fill(vd.Va, 0xBADBADBA, 256 << 10); });
        var tw = rig.Submit(waiter, (ref PacketWriter w) => w.Wait(counter.Va));
        var t1 = rig.Submit(victim, (ref PacketWriter w) => w.Fill(vs.Va, 0x12121212, 256 << 10), vs.Handle);
        var t2 = rig.Submit(victim, (ref PacketWriter w) => w.Copy(vd.Va, vs.Va, 256 << 10), vs.Handle, vd.Handle);

        Assert.That(rig.Machine.RunUntil(() => t1.IsComplete && t2.IsComplete && tf.IsComplete && tp.HasFailed && foreign.State != VaContextState.Faulted), Is.True);

        AdvancedRig.AssertBytes(rig.Read(vs), AdvancedRig.Pattern(0x12121212, 256 << 10));
        AdvancedRig.AssertBytes(rig.Read(vd), AdvancedRig.Pattern(0x12121212, 256 << 10));
        Assert.That(victim.State, Is.EqualTo(VaContextState.Ready));
        Assert.That(victim.PageFaults, Is.Zero);
        Assert.That(forged.PageFaults, Is.EqualTo(1), "the forged list cost its own process a fault");
        AdvancedRig.AssertBytes(rig.Read(own), AdvancedRig.Pattern(0x66666666, 64 << 10));
        Assert.That(privileged.State, Is.EqualTo(VaContextState.Error));
        Assert.That(foreign.State, Is.EqualTo(VaContextState.Error), "the victim's VAs are unbacked in the attacker's space");
        Assert.That(tx.HasFailed, Is.True);
        Assert.That(tw.IsComplete, Is.False, "the endless wait never completes");
        Assert.That(waiter.State, Is.EqualTo(VaContextState.Ready));
    }

    private static RunListEvent[] RunSeeded(int seed, out byte[] bytes)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { QuantumCycles = 30_000 });
        var random = new Random(seed);
        ulong surface = 512 << 10;
        var storm = Storm(rig, 6, surface, random);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        AssertIntact(rig, storm, surface);
        bytes = storm.SelectMany(w => rig.Read(w.B)).ToArray();
        return rig.Scheduler.Events;
    }

    [Test]
    public void Determinism_SameSeed_IdenticalEventOrderAndBytes()
    {
        var first = RunSeeded(1234, out var b1);
        var second = RunSeeded(1234, out var b2);
        Assert.That(first.Length, Is.GreaterThan(20));
        Assert.That(second, Is.EqualTo(first));
        AdvancedRig.AssertBytes(b2, b1, "bytes");
    }
}
