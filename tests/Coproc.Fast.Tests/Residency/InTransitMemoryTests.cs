using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;
using Coproc.Fast.Tests.VidMm;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// Local memory an eviction frees is "in transit" until the device has executed the eviction's COPY (seed 001 §3.6: the
/// paging buffer runs later, on an engine). The kernel writes its own structures (a context's save area and ring, page
/// tables, fence pages) with CPU stores the moment it allocates them, so such a structure must never be placed on a
/// range an unexecuted paging operation still reads: the evicted allocation's backing store would receive the kernel's
/// bytes instead of the process's data (docs/memory.md, "Memory in transit").
/// </summary>
[TestFixture]
public sealed class InTransitMemoryTests
{
    private const ulong MiB = 1024 * 1024;
    internal const uint PatternY = 0x1111_1111;

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenTheKernelCreatesAContextWhoseOnlyRoomIsTheEvictedRange_ThenTheEvictedBytesSurvive()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true,
            localBytes: 32 * MiB, systemBytes: 96 * MiB, engines: [EngineKind.Render, EngineKind.Compute]);
        var (y, render, r2Busy, _) = FillLocalThenRecordEvictionOfY(h);

        // When the kernel creates a context on the other engine: its save-area page and ring are local-only, and the only
        // free local memory is what y's recorded (not executed) eviction handed back.
        ulong evictionRecorded = render.Paging.LastSubmitted;
        var c = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        Assert.That(render.Paging.Completed, Is.GreaterThanOrEqualTo(evictionRecorded),
            "the context was created once the eviction that vacated its only room had executed (ordering, not refusal)");
        var out1 = h.Allocate(2, 4096, PlacementHint.SystemOnly);
        long id = h.Submit(2, c, cb => cb.Fill(out1, 0, 0xC0FFEE00, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then y's evicted bytes are its own, and the new context works.
        Assert.That(h.Machine.SchedulerFor(EngineKind.Render).Paging.Completed, Is.EqualTo(render.Paging.LastSubmitted));
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes, not the kernel's");
        Assert.That(c.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(out1, 4092), Is.EqualTo(0xC0FFEE00u));
        Assert.That(r2Busy(), Is.EqualTo(SubmissionStatus.Completed));
    }

    private sealed class CreateContextTap(Machine m) : IInterruptTap
    {
        public Exception? Refusal;
        public bool Called;

        public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
        {
            if (Called) return;
            Called = true;
            try { m.CreateContext(2, 0, EngineKind.Compute); }
            catch (VidMmException e) { Refusal = e; }
        }
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenAnInterruptTapCreatesAContextThatOnlyFitsInTheEvictedRange_ThenItIsRefusedInsteadOfRunningTheMachineInsideTheDelivery()
    {
        // From inside an interrupt delivery, waiting for the paging would run the machine within its own step (the nested
        // run would drain interrupts into the records the outer delivery is still reading): the typed refusal stands.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true,
            localBytes: 32 * MiB, systemBytes: 96 * MiB, engines: [EngineKind.Render, EngineKind.Compute]);
        var (y, render, r2Busy, _) = FillLocalThenRecordEvictionOfY(h);
        var tap = new CreateContextTap(h.Machine);
        h.Machine.InterruptTap = tap;

        Assert.That(h.Machine.RunUntil(() => tap.Called, 50_000_000), Is.True);
        h.Machine.InterruptTap = null;

        Assert.That(tap.Refusal, Is.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.OutOfLocalMemory));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's evicted bytes are its own");
        Assert.That(r2Busy(), Is.EqualTo(SubmissionStatus.Completed));
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenAUserQueueIsRegisteredWhoseSaveAreaOnlyFitsInTheEvictedRange_ThenTheEvictedBytesSurvive()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true,
            localBytes: 32 * MiB, systemBytes: 96 * MiB, engines: [EngineKind.Render, EngineKind.Compute]);
        var (y, render, _, _) = FillLocalThenRecordEvictionOfY(h);

        // When a process registers a user queue: its save area is a local page the kernel clears at once.
        GpuAddressSpace space;
        lock (h.Scheduler.KernelLock) space = h.Machine.VidMm.CreateGpuAddressSpace();
        ulong evictionRecorded = render.Paging.LastSubmitted;
        var registration = h.Machine.CreateUserQueue(2, space, 0x100, EngineKind.Copy);

        // Then it was registered once the eviction had run, and y's evicted bytes are its own.
        Assert.That(registration, Is.Not.Null);
        Assert.That(render.Paging.Completed, Is.GreaterThanOrEqualTo(evictionRecorded), "registered after the eviction ran (ordering, not refusal)");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes, not the kernel's");
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenVidMmAllocatesAndClearsKernelPagesInLocalMemory_ThenNoneLandsOnTheEvictedRange()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true,
            localBytes: 32 * MiB, systemBytes: 96 * MiB, engines: [EngineKind.Render, EngineKind.Compute]);
        var (y, _, _, _) = FillLocalThenRecordEvictionOfY(h);
        var vidmm = h.Machine.VidMm;
        var rm = (ResidencyManager)h.Machine.Residency;
        Assert.That(rm.InTransitBytes, Is.EqualTo(8 * MiB), "the half of y's range v did not take is in transit (precondition)");

        // When the kernel asks VidMm for page-table pages (local memory first, then system memory; zeroed by the CPU at
        // once) and for a local page it fills itself, as a fence page or a save area is.
        var space = vidmm.CreateGpuAddressSpace();
        AllocationHandle page;
        lock (h.Scheduler.KernelLock) page = vidmm.Allocate(4096, placement: PlacementHint.PreferLocal, flags: AllocationFlags.Contiguous);
        vidmm.Memory.GetSpan(vidmm.PhysicalAddressOf(page, 0), 4096).Fill(0xEE);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then y's evicted bytes are its own.
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes, not the kernel's");
        Assert.That(space.Asid, Is.Not.Zero);
        Assert.That(vidmm.LocationOf(page), Is.EqualTo(MemoryLocation.System), "the only local room was in transit: system memory, as PreferLocal allows");
        Assert.That(rm.InTransitBytes, Is.Zero, "returned to VidMm once the paging fence passed the eviction");
        Assert.That(vidmm.Local.FreeBytes, Is.EqualTo(8 * MiB));
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenAPageInNeedsTheRoom_ThenItIsPlacedThereAtOnce_AndBothAllocationsKeepTheirBytes()
    {
        // Given A (4 MiB) resident with its bytes, every other local page pinned, and A's eviction recorded (queued, not run).
        using var rig = new ResidencyRig();
        var a = rig.Rm.CreateAllocation(4 * MiB, 1);
        var b = rig.Rm.CreateAllocation(4 * MiB, 2);
        rig.MakeResident(1, a);
        rig.Stamp(a, 11);
        var home = rig.Vm.ExtentsOf(a)[0];
        while (rig.Vm.Local.FreeBytes > 0) rig.Vm.Allocate(4096, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
        var evict = new List<PagingOperation>();
        Assert.That(rig.Rm.Evict(a, evict), Is.True);
        rig.SubmitPaging(evict);
        Assert.That(rig.Rm.InTransitBytes, Is.EqualTo(4 * MiB));
        rig.Write(b, ResidencyRig.Pattern(22, (int)(4 * MiB))); // b's backing store

        // When the kernel asks for a local page, and then a buffer needs B resident.
        var kernel = Assert.Throws<VidMmException>(() => rig.Vm.Allocate(4096, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous));
        var pageIn = new List<PagingOperation>();
        var outcome = rig.Rm.MakeResident(ResidencyRig.Refs(b), 2, pageIn);

        // Then the kernel is refused (typed) while B is placed in A's range at once — ordering, not refusal: its page-in
        // runs after A's eviction in the paging order — and both keep their bytes.
        Assert.That(kernel!.Error, Is.EqualTo(VidMmError.OutOfLocalMemory));
        Assert.That(outcome, Is.EqualTo(ResidencyOutcome.PagingRequired));
        Assert.That(rig.Vm.ExtentsOf(b)[0], Is.EqualTo(home));
        Assert.That(rig.Rm.InTransitBytes, Is.Zero, "all of A's range is B's now");
        rig.SubmitPaging(pageIn);
        rig.RunQueuedPaging();
        Assert.That(rig.Read(a).AsSpan().SequenceEqual(ResidencyRig.Pattern(11, (int)(4 * MiB))), Is.True, "A's backing store holds A's bytes");
        Assert.That(rig.Read(b).AsSpan().SequenceEqual(ResidencyRig.Pattern(22, (int)(4 * MiB))), Is.True, "B's local copy holds B's bytes");
    }

    [Test]
    public void GivenAPageInRecordedButNotExecuted_WhenTheAllocationIsDestroyed_ThenKernelPagesFilledMeanwhileAreNotOverwrittenByThePageIn()
    {
        // Given a managed allocation whose page-in into local memory is recorded (paging buffer built and queued), not run.
        using var rig = new ResidencyRig();
        var a = rig.Rm.CreateAllocation(1 * MiB, 1);
        rig.Stamp(a, 5);
        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.MakeResident(ResidencyRig.Refs(a), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        rig.SubmitPaging(ops);
        var home = rig.Vm.ExtentsOf(a)[0];

        // When it is destroyed, and the kernel then takes every free local page and fills it with the CPU.
        rig.Rm.DestroyAllocation(a);
        var pages = new List<AllocationHandle>();
        while (true)
        {
            try { pages.Add(rig.Vm.Allocate(4096, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous)); }
            catch (VidMmException e) when (e.Error == VidMmError.OutOfLocalMemory) { break; }
            rig.Bytes(pages[^1]).Fill(0xA5);
        }

        // Then none of them lies in the page-in's target, and once the page-in ran every kernel byte is intact.
        foreach (var p in pages)
        {
            var at = rig.Vm.PhysicalAddressOf(p, 0).Offset;
            Assert.That(at + 4096 <= home.Address.Offset || at >= home.Address.Offset + home.Bytes, Is.True, $"page at 0x{at:X} is in the page-in's target");
        }
        Assert.That(rig.Rm.InTransitBytes, Is.EqualTo(1 * MiB + 1 * MiB), "its local home and backing store wait for the page-in");
        rig.RunContext(EngineKind.Copy, rig.Paging);
        Assert.That(pages.Count(p => rig.Bytes(p).ToArray().Any(b => b != 0xA5)), Is.Zero, "kernel pages overwritten by the page-in");
        Assert.That(rig.Rm.RetireInTransit(), Is.EqualTo(2 * MiB), "returned once the paging fence passed");
        Assert.That(rig.Vm.Local.FreeBytes, Is.EqualTo(1 * MiB));
    }

    [Test]
    public void ThreadedMode_ContextsCreatedWhileSubmittersThrashLocalMemory_EveryManagedByteIsKept_AndNothingDeadlocks()
    {
        // Given a threaded machine whose render submitters oversubscribe local memory (evictions recorded all the time).
        const int threads = 2, perContext = 4, perThread = 40, created = 12;
        // 2 × (1 + 0.5 + 1 + 0.5) MiB = 6 MiB on the 4 MiB of local memory left free (the rest is pinned): evicting a
        // large one for a small one leaves half of its range in transit, often the only room for a new context. (This run
        // also put a save area at local PA 0 before VidMm reserved that page: the engine went idle and 12 buffers hung.)
        static ulong SizeOf(int k) => k % 2 == 0 ? 1 * MiB : 512 * 1024;
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 20_000 }, mode: MachineRunMode.Threaded,
            localBytes: 6 * MiB, realResidency: true, engines: [EngineKind.Render, EngineKind.Compute]);
        var ctx = Enumerable.Range(0, threads).Select(i => h.Machine.CreateContext((uint)i + 1, 0, EngineKind.Render)).ToArray();
        var alloc = new AllocationHandle[threads][];
        var value = new uint[threads][];
        for (int t = 0; t < threads; t++)
        {
            alloc[t] = Enumerable.Range(0, perContext).Select(k => h.Machine.AllocateManaged((uint)t + 1, ctx[t], SizeOf(k))).ToArray();
            value[t] = new uint[perContext];
        }
        var output = h.Allocate(9, 4096 * created, PlacementHint.SystemOnly);
        var vidmm = h.Machine.VidMm;
        lock (h.Scheduler.KernelLock)
        {
            while (vidmm.Local.FreeBytes > 4 * MiB)
                vidmm.Allocate(4096, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
        }
        h.Machine.Start();

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var rng = new Random(300 + t);
            for (int i = 0; i < perThread; i++)
            {
                int a = rng.Next(perContext), b = (a + 1 + rng.Next(perContext - 1)) % perContext;
                uint va = (uint)rng.Next(), vb = (uint)rng.Next();
                h.Submit((uint)t + 1, ctx[t], cb => { cb.Fill(alloc[t][a], 0, va, SizeOf(a), resourceId: 0); cb.Fill(alloc[t][b], 0, vb, SizeOf(b), resourceId: 1); });
                value[t][a] = va;
                value[t][b] = vb;
            }
        })).ToArray();
        foreach (var w in workers) w.Start();

        // When the host thread creates compute contexts meanwhile (save areas and rings in local memory), each as soon as
        // render has recorded another paging buffer, and runs one buffer on each.
        var render = h.Machine.SchedulerFor(EngineKind.Render);
        var made = new List<(VidSchContext Context, long Id, int Slot)>();
        int refused = 0;
        long seen = 0;
        var guard = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < created; i++)
        {
            while (seen == render.PagingBuffersBuilt && workers.Any(w => w.IsAlive) && guard.Elapsed < TimeSpan.FromSeconds(30))
                Thread.SpinWait(100);
            seen = render.PagingBuffersBuilt;
            try
            {
                var c = h.Machine.CreateContext(9, 0, EngineKind.Compute);
                int slot = i;
                made.Add((c, h.Submit(9, c, cb => cb.Fill(output, (ulong)slot * 4096, 0xC0DE_0000u + (uint)slot, 4096)), slot));
            }
            catch (VidMmException e) when (e.Error == VidMmError.OutOfLocalMemory)
            {
                // Every local page held by resident allocations (not in transit) at that moment: kernel structures do
                // not evict, the typed refusal stands.
                refused++;
            }
        }
        foreach (var w in workers) Assert.That(w.Join(TimeSpan.FromSeconds(30)), Is.True, "submitters finished (failure guard)");
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "every buffer retired (failure guard)");

        // Then every managed allocation holds its last fill and every created context ran.
        for (int t = 0; t < threads; t++)
            for (int k = 0; k < perContext; k++)
                if (value[t][k] != 0)
                    Assert.That(CountNot(h.Read(alloc[t][k]), value[t][k]), Is.Zero, $"submitter {t} allocation {k}");
        foreach (var (c, id, slot) in made)
        {
            Assert.That(c.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
            Assert.That(h.Read32(output, (ulong)slot * 4096 + 4092), Is.EqualTo(0xC0DE_0000u + (uint)slot));
        }
        Assert.That(made.Count + refused, Is.EqualTo(created));
        Assert.That(h.Machine.SchedulerFor(EngineKind.Render).PagingBuffersBuilt, Is.GreaterThan(threads * perContext), "allocations were evicted and paged in again");
    }

    // Given render and compute, 32 MiB of local memory: y (16 MiB) and g (8 MiB) resident and filled, every other free
    // local page held by pinned allocations; render busy with a long buffer on system memory, and render is the paging engine
    // (no copy engine scheduled), so the paging queue's context cannot take the engine; then a buffer that needs v (8 MiB) besides g: y (least recently used) is evicted for it — recorded
    // in a paging buffer, not executed. Returns y, the render scheduler, the busy buffer's status and y's local home.
    internal static (AllocationHandle Y, VidSchScheduler Render, Func<SubmissionStatus> Busy, PhysicalExtent[] YHome) FillLocalThenRecordEvictionOfY(SchedulingHarness h)
    {
        var r = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var r2 = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var y = h.Machine.AllocateManaged(1, r, 16 * MiB);
        var g = h.Machine.AllocateManaged(1, r, 8 * MiB);
        var v = h.Machine.AllocateManaged(1, r, 8 * MiB);
        var big = h.Allocate(1, 24 * MiB, PlacementHint.SystemOnly);
        var render = h.Machine.SchedulerFor(EngineKind.Render);

        h.Submit(1, r, cb => cb.Fill(y, 0, PatternY, 16 * MiB));
        h.Submit(1, r, cb => cb.Fill(g, 0, 0x2222_2222, 8 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        var vidmm = h.Machine.VidMm;
        var yHome = vidmm.ExtentsOf(y);
        lock (h.Scheduler.KernelLock)
        {
            while (vidmm.Local.FreeBytes > 0)
                vidmm.Allocate(4096, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
        }

        long busy = h.Submit(1, r2, cb => cb.Fill(big, 0, 0x3333_3333, 24 * MiB));
        Assert.That(h.Machine.RunUntil(() => h.Trace.Of(ScheduleEventKind.BufferStarted).Any(e => e.ContextId == r2.Id)), Is.True);
        h.Machine.RunFor(5_000);
        long built = render.PagingBuffersBuilt;
        h.Submit(1, r, cb => { cb.Fill(g, 0, 0x4444_4444, 4096); cb.Fill(v, 0, 0x5555_5555, 4096); });
        Assert.That(h.Machine.RunUntil(() => render.PagingBuffersBuilt > built), Is.True);
        Assert.That(render.Paging.Completed, Is.LessThan(render.Paging.LastSubmitted), "y's eviction recorded, not executed (precondition)");
        Assert.That(h.Machine.Residency is ResidencyManager rm && !rm.IsResident(y), Is.True, "y was the victim (precondition)");
        return (y, render, () => r2.StatusOf(busy), yHome);
    }

    internal static int CountNot(byte[] bytes, uint pattern)
    {
        int bad = 0;
        for (int i = 0; i < bytes.Length; i += 4) if (BitConverter.ToUInt32(bytes, i) != pattern) bad++;
        return bad;
    }
}
