using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>Seed 001 §21 behaviours 13–17 and the extra faulting behaviours, on the advanced scheduler.</summary>
[TestFixture]
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedFaultTests
{
    [Test]
    public void Behaviour13_InvariantVa_EvictedAndPagedBackElsewhere_TheSameBufferWorksWithoutPatching()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var s = p.AllocateSurface(1 << 20);
        rig.Submit(ctx, (ref PacketWriter w) => w.Fill(s.Va, 0x11111111, 1 << 20), s.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var firstHome = rig.Machine.VidMm.PhysicalAddressOf(s.Handle, 0);

        // Given another process fills local memory, so VidMm evicts s (its PTEs become invalid, the VA stays)
        var q = rig.Scheduler.CreateProcess();
        var other = rig.Scheduler.CreateContext(q);
        ulong chunk = 1 << 20;
        int count = (int)(rig.Residency().ResidentBudget / chunk);
        for (int i = 0; i < count; i++)
        {
            var big = q.AllocateSurface(chunk);
            rig.Submit(other, (ref PacketWriter w) => w.Fill(big.Va, 0x22222222, chunk), big.Handle);
        }
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(rig.Residency().IsResident(s.Handle), Is.False, "s was evicted");
        Assert.That(p.Space.ReadLeaf(s.Va).IsValid, Is.False, "an evicted allocation's VA is invalid in the advanced model");

        // When a buffer using the same VA runs again (no resource list: it demand-faults)
        var t = rig.Submit(ctx, (ref PacketWriter w) => w.Fill(s.Va + 4096, 0x33333333, 4096));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then the VA is unchanged, the bytes written before eviction survived, and the new write landed
        Assert.That(t.IsComplete, Is.True);
        Assert.That(p.Allocations.Single(a => a.Handle == s.Handle).Va, Is.EqualTo(s.Va));
        var bytes = rig.Read(s);
        AdvancedRig.AssertBytes(bytes.AsSpan(0, 4096).ToArray(), AdvancedRig.Pattern(0x11111111, 4096));
        AdvancedRig.AssertBytes(bytes.AsSpan(4096, 4096).ToArray(), AdvancedRig.Pattern(0x33333333, 4096));
        AdvancedRig.AssertBytes(bytes.AsSpan(8192).ToArray(), AdvancedRig.Pattern(0x11111111, (1 << 20) - 8192));
        Assert.That(ctx.PageFaults, Is.EqualTo(1));
        TestContext.Out.WriteLine($"first home {firstHome}, now {rig.Machine.VidMm.PhysicalAddressOf(s.Handle, 0)}");
    }

    [Test]
    public void Behaviour14_UnbackedVa_FaultsAndStopsOnlyThatContext()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var bad = rig.Scheduler.CreateContext(rig.Scheduler.CreateProcess());
        var p = rig.Scheduler.CreateProcess();
        var good = rig.Scheduler.CreateContext(p);
        var s = p.AllocateSurface(64 << 10);

        var tb = rig.Submit(bad, (ref PacketWriter w) => w.WriteData(0x7700_0000, 0xDEAD));
        var tg = rig.Submit(good, (ref PacketWriter w) => w.Fill(s.Va, 0x5A5A5A5A, 64 << 10), s.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(bad.State, Is.EqualTo(VaContextState.Error));
        Assert.That(bad.ErrorAddress, Is.EqualTo(0x7700_0000UL));
        Assert.That(tb.HasFailed, Is.True);
        Assert.That(tg.IsComplete, Is.True);
        AdvancedRig.AssertBytes(rig.Read(s), AdvancedRig.Pattern(0x5A5A5A5A, 64 << 10));
    }

    [Test]
    public void Behaviour15_SurfaceFault_DeviceMovesToTheNextEntryWithoutTheCpu_ContextGoesToThePagingList()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { InterruptLatencyCycles = 200_000 });
        var p = rig.Scheduler.CreateProcess();
        var faulting = rig.Scheduler.CreateContext(p);
        var next = rig.Scheduler.CreateContext(p);
        var texture = p.AllocateSurface(64 << 10);
        var scratch = p.AllocatePinned(64 << 10);

        // Given texture T is not resident and the buffer's resource list omits it
        var t1 = rig.Submit(faulting, (ref PacketWriter w) => w.Copy(scratch.Va, texture.Va, 4096));
        var t2 = rig.Submit(next, (ref PacketWriter w) => w.Fill(scratch.Va + 8192, 0x77777777, 4096));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then the history shows the device left the faulted context for the next entry by itself, fault address included
        Assert.That(rig.Scheduler.HistoryRecordsRead, Is.GreaterThanOrEqualTo(2));
        var fault = rig.Scheduler.Events.First(e => e.Kind == RunListEventKind.PageFault);
        Assert.That(fault.ContextId, Is.EqualTo(faulting.Id));
        Assert.That(fault.Detail, Is.EqualTo(texture.Va));
        Assert.That(rig.Scheduler.Events.Any(e => e.Kind == RunListEventKind.FaultResolved && e.ContextId == faulting.Id), Is.True);
        Assert.That(t1.IsComplete && t2.IsComplete, Is.True);
        Assert.That(faulting.PageFaults, Is.EqualTo(1));
        Assert.That(next.PageFaults, Is.Zero);
    }

    [Test]
    public void Behaviour15_SwitchAfterAFault_IsRecordedWithReasonPageFault_AndTheNextContextRanBeforeTheCpuAnswered()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { InterruptLatencyCycles = 500_000 });
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p);
        var b = rig.Scheduler.CreateContext(p);
        var texture = p.AllocateSurface(64 << 10);
        var log = p.AllocatePinned(4096);
        rig.Submit(a, (ref PacketWriter w) => w.Copy(log.Va, texture.Va, 64));
        var tb = rig.Submit(b, (ref PacketWriter w) => w.WriteData(log.Va + 2048, 0xB0B0));

        // When the device runs long enough for b to finish, but before the CPU handled anything
        rig.Machine.RunUntil(() => rig.Read32(log, 2048) == 0xB0B0, 400_000);

        Assert.That(rig.Read32(log, 2048), Is.EqualTo(0xB0B0u), "b ran while a's fault waited for the CPU");
        Assert.That(rig.Machine.InterruptBatches, Is.Zero);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var records = rig.Scheduler.Events.Where(e => e.Kind == RunListEventKind.Switch && e.ContextId == a.Id).Select(e => (SwitchReason)(uint)e.Detail);
        Assert.That(records, Does.Contain(SwitchReason.PageFault));
        Assert.That(tb.IsComplete, Is.True);
    }

    [Test]
    public void Behaviour16_PagingList_ServesHighestPriorityFirst_AndBoostsAPassedOverContext()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p = rig.Scheduler.CreateProcess();
        var low = rig.Scheduler.CreateContext(p, priority: 3);
        var high = rig.Scheduler.CreateContext(p, priority: 9);
        var list = new PagingList(boostPeriodCycles: 1000);
        list.Add(new PagingRequest(low, 0x1000, [], Since: 0));
        list.Add(new PagingRequest(high, 0x2000, [], Since: 10));
        Assert.That(list.TryTake(100, out var first), Is.True);
        Assert.That(first.Context, Is.SameAs(high), "priority 9 is resolved first");

        // Given fresh priority-9 faults keep arriving, the priority-3 one gains a level per boost period
        ulong now = 100;
        int served = 0;
        while (true)
        {
            now += 500;
            list.Add(new PagingRequest(high, 0x2000, [], Since: now));
            Assert.That(list.TryTake(now, out var r), Is.True);
            served++;
            if (r.Context == low) break;
            Assert.That(served, Is.LessThan(100), "the low-priority context must eventually be served");
        }
        Assert.That(list.BoostedPicks, Is.EqualTo(1));
        Assert.That(now, Is.GreaterThanOrEqualTo(6000UL), "served only after 6 boost periods (3 → 9)");
    }

    [Test]
    public void Behaviour16_OnTheMachine_TheHigherPriorityFaultIsServedFirst()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History));
        var p = rig.Scheduler.CreateProcess();
        var low = rig.Scheduler.CreateContext(p, priority: 3);
        var high = rig.Scheduler.CreateContext(p, priority: 9);
        var sl = p.AllocateSurface(64 << 10);
        var sh = p.AllocateSurface(64 << 10);
        rig.Submit(low, (ref PacketWriter w) => w.Fill(sl.Va, 1, 4096));
        rig.Submit(high, (ref PacketWriter w) => w.Fill(sh.Va, 2, 4096));
        // Both fault before the paging thread runs (the paging thread's modeled cost exceeds one switch)
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var served = rig.Scheduler.Events.Where(e => e.Kind == RunListEventKind.PagingServed).Select(e => e.ContextId).ToArray();
        Assert.That(served, Is.EqualTo(new[] { high.Id, low.Id }));
    }

    [Test]
    public void Behaviour17_PagingRunsInVidMmsContext_WhosePriorityIsTheHighestOnThePagingList()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { PagingServiceCycles = 50_000 });
        var p = rig.Scheduler.CreateProcess();
        var busy = rig.Scheduler.CreateContext(p, priority: 5);
        var faulting = rig.Scheduler.CreateContext(p, priority: 9);
        var scratch = p.AllocatePinned(1 << 20);
        var tex = p.AllocateSurface(64 << 10);
        rig.Submit(busy, (ref PacketWriter w) => { for (int i = 0; i < 8; i++) w.Fill(scratch.Va, (uint)i, 1 << 20); });
        rig.Submit(faulting, (ref PacketWriter w) => w.Fill(tex.Va, 9, 4096));

        // When the priority-9 context is on the paging list
        Assert.That(rig.Machine.RunUntil(() => rig.Scheduler.PagingList.Count == 1), Is.True);
        Assert.That(rig.Scheduler.PagingContextPriority, Is.EqualTo(9));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then VidMm's context headed a run list ahead of the priority-5 context, and the paging buffer ran in it: the
        // history shows a switch into VidMm's context (memory changed only after the running context was switched out)
        var heads = rig.Scheduler.Events.Where(e => e.Kind == RunListEventKind.RunListSubmitted).Select(e => e.ContextId).ToArray();
        Assert.That(heads, Does.Contain(Coproc.Fast.Driver.VidMm.Paging.DevicePagingQueue.ContextId));
        Assert.That(rig.Scheduler.Paging.BuffersSubmitted, Is.GreaterThan(0));
        Assert.That(rig.Scheduler.Paging.Completed, Is.EqualTo(rig.Scheduler.Paging.LastSubmitted));
        Assert.That(rig.Scheduler.Paging.Context.IsDrained, Is.True);
    }

    [Test]
    public void PageLevelFault_ReportsOnlyTheVa_VidMmBringsInWhatItNames_AndTheContextResumes()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(faults: FaultGranularity.Page));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var a = p.AllocateSurface(64 << 10);
        var b = p.AllocateSurface(64 << 10);
        var c = p.AllocateSurface(64 << 10);
        // The resource list names c only; the buffer touches a then b.
        var t = rig.Submit(ctx, (ref PacketWriter w) => { w.Fill(a.Va, 0xAAAAAAAA, 64 << 10); w.Copy(b.Va, a.Va, 64 << 10); }, c.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(t.IsComplete, Is.True);
        var faults = rig.Scheduler.Events.Where(e => e.Kind == RunListEventKind.PageFault).Select(e => e.Detail).ToArray();
        Assert.That(faults, Is.EqualTo(new[] { a.Va, b.Va }), "one fault per allocation touched, each reporting only its VA");
        AdvancedRig.AssertBytes(rig.Read(b), AdvancedRig.Pattern(0xAAAAAAAA, 64 << 10));
    }

    [Test]
    public void SurfaceLevelFault_BringsInEveryListedResource_SoOneFaultSuffices()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(faults: FaultGranularity.Surface));
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var a = p.AllocateSurface(64 << 10);
        var b = p.AllocateSurface(64 << 10);
        // Make the prefetch impossible to help: evict after submission by listing nothing, then fault with a listed set.
        var t0 = rig.Submit(ctx, (ref PacketWriter w) => w.Nop());
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var t = rig.Submit(ctx, (ref PacketWriter w) => { w.Fill(a.Va, 0xAAAAAAAA, 64 << 10); w.Copy(b.Va, a.Va, 64 << 10); });
        // The first buffer listed nothing; a second outstanding buffer lists both (the surface-level set includes it)
        var t2 = rig.Submit(ctx, (ref PacketWriter w) => w.Nop(), a.Handle, b.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(t0.IsComplete && t.IsComplete && t2.IsComplete, Is.True);
        Assert.That(ctx.PageFaults, Is.LessThanOrEqualTo(1));
        AdvancedRig.AssertBytes(rig.Read(b), AdvancedRig.Pattern(0xAAAAAAAA, 64 << 10));
    }

    [Test]
    public void PrivilegedPageInsideALimitedResourcesRange_Faults_EvenThoughItsFirstPageIsNot()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var vidmm = rig.Machine.VidMm;
        var h = vidmm.Allocate(3 * 4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        vidmm.Memory.GetSpan(vidmm.PhysicalAddressOf(h, 0), 3 * 4096).Clear();
        ulong va = p.Space.Reserve(3 * 4096);
        p.Space.Map(va, h, 0, 4096, GpuMappingFlags.Writable);
        p.Space.Map(va + 4096, h, 4096, 4096, GpuMappingFlags.Writable | GpuMappingFlags.Privileged);
        p.Space.Map(va + 8192, h, 8192, 4096, GpuMappingFlags.Writable);

        var t = rig.Submit(ctx, (ref PacketWriter w) => w.Fill(va, 0xEEEEEEEE, 3 * 4096));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.State, Is.EqualTo(VaContextState.Error));
        Assert.That(ctx.ErrorReason, Is.EqualTo(nameof(SwitchReason.ProtectionFault)));
        Assert.That(ctx.ErrorAddress, Is.EqualTo(va + 4096), "the privileged page in the middle faulted");
        Assert.That(t.HasFailed, Is.True);
        var bytes = vidmm.Memory.GetSpan(vidmm.PhysicalAddressOf(h, 4096), 8192).ToArray();
        Assert.That(bytes, Is.All.Zero, "nothing reached the privileged page or beyond");
    }

    [Test]
    public void SavedContextQuery_OfAFaultedContext_GivesReasonCyclesFaultAddressAndResourcesInUse()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small() with { PagingServiceCycles = 100_000 });
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var listed = p.AllocateSurface(64 << 10);
        var texture = p.AllocateSurface(64 << 10);
        rig.Submit(ctx, (ref PacketWriter w) => { w.Fill(listed.Va, 1, 64 << 10); w.Fill(texture.Va + 8192, 2, 4096); }, listed.Handle);
        Assert.That(rig.Machine.RunUntil(() => rig.Scheduler.PagingList.Count == 1), Is.True);

        var info = rig.Scheduler.QuerySavedContext(ctx);
        Assert.That(info.Faulted, Is.True);
        Assert.That(info.LastSwitchReason, Is.EqualTo(SwitchReason.PageFault));
        Assert.That(info.FaultAddress, Is.EqualTo(texture.Va + 8192));
        Assert.That(info.CyclesRun, Is.GreaterThan(0UL));
        Assert.That(info.HasQueuedWork, Is.True, "stopped inside its DMA buffer");
        Assert.That(info.ResourcesInUse, Is.EquivalentTo(new[] { listed.Handle, texture.Handle }));

        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(rig.Scheduler.QuerySavedContext(ctx).Faulted, Is.False);
    }

    [Test]
    public void LostFaultInterrupt_TheSavedContextSweepStillPutsTheContextOnThePagingList()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small() with { InterruptLatencyCycles = 100_000, QuantumCycles = 50_000 });
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var texture = p.AllocateSurface(64 << 10);
        var t = rig.Submit(ctx, (ref PacketWriter w) => w.Fill(texture.Va, 3, 4096));
        Assert.That(rig.Machine.RunUntil(() => rig.Scheduler.QuerySavedContext(ctx).Faulted), Is.True);

        // Given the fault's interrupts are lost (the information queue drained behind the driver's back)
        var mmio = rig.Machine.Device.Mmio;
        uint irq = Coproc.Fast.Device.Mmio.MmioMap.InterruptBase;
        while (mmio.Read32(irq + 0x10) != 0) mmio.Write32(irq + 0x38, 1);
        mmio.Write32(irq + 0x08, mmio.Read32(irq + 0x00));

        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(t.IsComplete, Is.True);
        Assert.That(rig.Scheduler.FaultsFoundBySweep, Is.EqualTo(1));
    }

    [Test]
    public void EvictionUnderAPreemptedCopy_FaultsMidPacket_AndTheCopyResumesWhereItStopped()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { QuantumCycles = 1_000_000 });
        var px = rig.Scheduler.CreateProcess();
        var x = rig.Scheduler.CreateContext(px, 0);
        var py = rig.Scheduler.CreateProcess();
        var y = rig.Scheduler.CreateContext(py, 9);
        ulong size = 2 << 20;
        var a = px.AllocateSurface(size);
        var b = px.AllocateSurface(size);
        var c = py.AllocateSurface(size);
        var d = py.AllocateSurface(size);
        rig.Submit(x, (ref PacketWriter w) => w.Fill(a.Va, 0x5EED5EED, size), a.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var tx = rig.Submit(x, (ref PacketWriter w) => w.Copy(b.Va, a.Va, size), a.Handle, b.Handle);
        // Given x is in the middle of its 2 MiB copy
        Assert.That(rig.Machine.RunUntil(() => !rig.Scheduler.Paging.HasWork), Is.True); // b paged in
        rig.Machine.RunFor(30_000);                                                          // about half of the copy
        Assert.That(tx.IsComplete, Is.False);
        // When a higher-priority process needs more memory than is left, so VidMm evicts x's surfaces
        var ty = rig.Submit(y, (ref PacketWriter w) => { w.Fill(c.Va, 1, size); w.Fill(d.Va, 2, size); }, c.Handle, d.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then x faulted inside its copy (not at a surface's first byte) and resumed it: every byte arrived
        Assert.That(tx.IsComplete && ty.IsComplete, Is.True);
        var faults = rig.Scheduler.Events.Where(e => e.Kind == RunListEventKind.PageFault && e.ContextId == x.Id).Select(e => e.Detail).ToArray();
        Assert.That(faults, Is.Not.Empty);
        Assert.That(faults.Any(va => va != a.Va && va != b.Va), Is.True, $"a mid-copy fault; got {string.Join(", ", faults.Select(f => $"0x{f:X}"))} (a 0x{a.Va:X}, b 0x{b.Va:X})");
        AdvancedRig.AssertBytes(rig.Read(b), AdvancedRig.Pattern(0x5EED5EED, (int)size), "b");
    }
}
