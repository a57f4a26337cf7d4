using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// A paging buffer larger than the device paging queue's arena is written to the ring in arena-sized pieces, in order
/// (docs/driver-conventions.md §15.1): the queue takes no VidMm memory after construction, so an operation never waits
/// for memory that only its own execution frees — an eviction's vacated range stays in transit until its last fence
/// (ResidencyManager.InTransit.cs) — and it makes progress whenever the device runs and fence interrupts are serviced.
/// </summary>
[TestFixture]
public sealed class DevicePagingQueueLargeBufferTests
{
    [Test]
    public void GivenFullMemory_WhenAMappedAllocationIsEvictedWithABufferLargerThanTheArena_ThenTheEvictionStillRuns()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm, arenaBytes: 4096);
        var a = rig.Rm.CreateAllocation(2 * MiB, 1);
        rig.Stamp(a, 9);
        var space = rig.Vm.CreateGpuAddressSpace();
        space.MapAllocation(a);
        Pump(rig, q, q.MakeResident(a, 1));
        Assert.That(rig.Rm.IsResident(a), Is.True, "precondition");
        Assert.That(q.Backlog, Is.Zero, "precondition");

        // Memory is full (other users): the eviction's vacated 2 MiB is the only local room there will be.
        FillMemory(rig);

        ulong v = q.Evict(a); // recorded; its 512-PTE buffer is larger than the arena
        Assert.That(v, Is.GreaterThan(0UL));
        Assert.That(q.Backlog, Is.EqualTo(1), "its last piece waits for arena room");

        // The device runs, the driver services fences and kicks: the backlog drains.
        for (int i = 0; i < 1000 && !q.Fence.IsSignaled(v); i++)
        {
            rig.Device.Step(1 << 16);
            while (rig.Device.Interrupts.TryDequeue(out _)) { }
            rig.Device.Interrupts.Acknowledge(InterruptSources.AllMask);
            q.NotifyFenceInterrupt();
            q.Kick();
        }
        Assert.That(q.Fence.IsSignaled(v), Is.True,
            $"the eviction never runs: backlog {q.Backlog}, in transit {rig.Rm.InTransitBytes} bytes (its own vacated range)");
    }

    [Test]
    public void GivenATinyArenaAndFullMemory_WhenAnAllocationMappedInTwoSpacesIsEvicted_ThenItsBackingStoreHoldsItsBytes_AndEveryPteNamesTheBackingStore()
    {
        // Given a 2 MiB allocation mapped in two GPU spaces (1024 PTE edits, about twice the 4 KiB arena), resident,
        // and no free memory besides.
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm, arenaBytes: 4096);
        var a = rig.Rm.CreateAllocation(2 * MiB, 1);
        rig.Stamp(a, 5);
        var spaces = new[] { rig.Vm.CreateGpuAddressSpace(), rig.Vm.CreateGpuAddressSpace() };
        var vas = spaces.Select(s => s.MapAllocation(a)).ToArray();
        Pump(rig, q, q.MakeResident(a, 1));
        FillMemory(rig);
        int live = rig.Vm.LiveAllocations;

        // When it is evicted.
        ulong v = q.Evict(a);
        Assert.That(q.Backlog, Is.EqualTo(1), "the rest of its buffer waits for the arena");
        Assert.That(rig.Vm.LiveAllocations, Is.EqualTo(live), "the queue took no memory for it");
        var fenceWrites = Pump(rig, q, v);

        // Then the backing store holds its bytes, every PTE of both spaces names the backing store, and the range it
        // vacated was released by its last fence.
        var backing = rig.Rm.BackingOf(a);
        Assert.That(rig.Rm.IsResident(a), Is.False);
        Assert.That(rig.Device.Memory.GetSpan(backing.Address, (int)(2 * MiB)).SequenceEqual(Pattern(5, (int)(2 * MiB))), Is.True,
            "the COPY ran before anything reused its source");
        for (int s = 0; s < spaces.Length; s++)
        for (ulong page = 0; page < 512; page++)
        {
            Assert.That(rig.Device.Mmu.Walk(spaces[s].Descriptor, vas[s] + page * 4096, out var leaf, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
            Assert.That((leaf.Location, leaf.FrameOffset), Is.EqualTo((MemoryLocation.System, backing.Address.Offset + page * 4096)),
                $"space {s} page {page} is retargeted");
        }
        Assert.That(rig.Rm.InTransitBytes, Is.Zero);
        Assert.That(fenceWrites, Is.Ordered, "the paging fence never goes back (pieces write no value, wake-ups rewrite the current one)");
        Assert.That(fenceWrites[^1], Is.EqualTo(v));
        Assert.That((q.Backlog, q.InFlight, rig.Vm.LiveAllocations), Is.EqualTo((0, 0, live)));
    }

    [Test]
    public void GivenALargeEvictionWaitingForTheArena_WhenLaterOperationsAreAsked_ThenTheyQueueBehindItInOrder_UntilOneArenaOfPacketsWaits()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm, arenaBytes: 4096);
        var a = rig.Rm.CreateAllocation(2 * MiB, 1);
        rig.Stamp(a, 7);
        var space = rig.Vm.CreateGpuAddressSpace();
        ulong va = space.MapAllocation(a);
        Pump(rig, q, q.MakeResident(a, 1));
        FillMemory(rig);

        // Given the eviction, partly written to the ring and partly waiting.
        ulong evicted = q.Evict(a);
        Assert.That(q.Backlog, Is.EqualTo(1), "precondition");

        // When the allocation is made resident again at once: recorded behind the eviction (its only room is the range
        // the eviction vacates, still in transit) and queued behind it.
        ulong pagedIn = q.MakeResident(a, 1);
        Assert.That(pagedIn, Is.EqualTo(evicted + 1), "fence values are unique and increasing");
        Assert.That(q.Backlog, Is.EqualTo(2));

        // More than one arena of packets now waits: the next operation is refused, with nothing changed.
        string before = rig.State([a], 1);
        Assert.Throws<PagingQueueFullException>(() => q.Evict(a));
        Assert.That((q.LastSubmitted, rig.State([a], 1)), Is.EqualTo((pagedIn, before)));

        var fenceWrites = Pump(rig, q, pagedIn);

        // Then the page-in ran after the eviction's COPY (else it would have read a backing store not written yet), and
        // the mapping names the new local home.
        Assert.That(rig.Rm.IsResident(a), Is.True);
        Assert.That(rig.Read(a).SequenceEqual(Pattern(7, (int)(2 * MiB))), Is.True);
        var home = rig.Vm.PhysicalAddressOf(a, 2 * MiB - 4096);
        Assert.That(rig.Device.Mmu.Walk(space.Descriptor, va + 2 * MiB - 4096, out var leaf, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((leaf.Location, leaf.FrameOffset), Is.EqualTo((home.Location, home.Offset)));
        Assert.That(fenceWrites, Is.Ordered);
        Assert.That(fenceWrites, Does.Contain(evicted).And.Contain(pagedIn));
        Assert.That(fenceWrites.IndexOf(evicted), Is.LessThan(fenceWrites.IndexOf(pagedIn)));
    }

    [Test]
    public void GivenATinyArena_WhenLargeAndSmallOperationsAreAskedFasterThanTheDeviceRuns_ThenEveryValueIsNewAndIncreasing_AndAllRunInOrder()
    {
        using var rig = new ResidencyRig(localBytes: 16 * MiB);
        var q = new DevicePagingQueue(rig.Rm, arenaBytes: 4096);
        var big = new[] { rig.Rm.CreateAllocation(2 * MiB, 1), rig.Rm.CreateAllocation(2 * MiB, 1) };
        var small = rig.Rm.CreateAllocation(64 * KiB, 1);
        var space = rig.Vm.CreateGpuAddressSpace();
        var vas = big.Select(h => space.MapAllocation(h)).ToArray();
        rig.Stamp(big[0], 11);
        rig.Stamp(big[1], 12);
        rig.Stamp(small, 13);

        var handedOut = new List<ulong>();
        var fenceWrites = new List<ulong>();
        for (int round = 0; round < 4; round++)
        {
            foreach (var h in new[] { big[0], small, big[1] })
            {
                handedOut.Add(Ask(() => q.MakeResident(h, 1)));
                handedOut.Add(Ask(() => q.Evict(h)));
            }
        }
        foreach (var h in big) handedOut.Add(Ask(() => q.MakeResident(h, 1)));
        fenceWrites.AddRange(Pump(rig, q, q.LastSubmitted));

        Assert.That(handedOut, Is.EqualTo(Enumerable.Range(1, handedOut.Count).Select(i => (ulong)i)), "one new value per operation, in order");
        Assert.That(fenceWrites, Is.Ordered);
        Assert.That(rig.Read(big[0]).SequenceEqual(Pattern(11, (int)(2 * MiB))), Is.True);
        Assert.That(rig.Read(big[1]).SequenceEqual(Pattern(12, (int)(2 * MiB))), Is.True);
        Assert.That(rig.Read(small).SequenceEqual(Pattern(13, (int)(64 * KiB))), Is.True);
        for (int i = 0; i < big.Length; i++)
        {
            var home = rig.Vm.PhysicalAddressOf(big[i], 0x1000);
            Assert.That(rig.Device.Mmu.Walk(space.Descriptor, vas[i] + 0x1000, out var leaf, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
            Assert.That((leaf.Location, leaf.FrameOffset), Is.EqualTo((home.Location, home.Offset)));
        }

        // An operation refused for back-pressure changed nothing: let the device run one slice, then ask again.
        ulong Ask(Func<ulong> operation)
        {
            for (int i = 0; i < 1000; i++)
            {
                try { return operation(); }
                catch (PagingQueueFullException) { fenceWrites.AddRange(Step(rig, q)); }
            }
            Assert.Fail("the queue never accepted the operation (failure guard)");
            return 0;
        }
    }

    [Test]
    public void GivenABufferWhoseFenceIsWrittenBeforeItsLastPacketIsRead_WhenTheNextOperationIsWritten_ThenItDoesNotOverwriteThatBuffer()
    {
        // Given a page-in whose buffer ends FENCE, ENABLE_CONTEXT_SWITCH (native-layout.md §14.4), run until its fence is
        // written but the ENABLE not yet read, and the fence interrupt serviced.
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm, arenaBytes: 4096);
        var a = rig.Rm.CreateAllocation(64 * KiB, 1);
        rig.Stamp(a, 3);
        ulong v = q.MakeResident(a, 1);
        for (int i = 0; i < 100_000 && !q.Fence.IsSignaled(v); i++) rig.Device.Step(1);
        Assert.That(q.Fence.IsSignaled(v), Is.True, "failure guard");
        Assert.That(q.Context.IsDrained, Is.False, "precondition: the device has not retired the buffer yet");
        q.NotifyFenceInterrupt();

        // When a map is queued (its UPDATE_PAGE_TABLE would put PTE values where the page-in's ENABLE lies).
        var space = rig.Vm.CreateGpuAddressSpace();
        var t = rig.Vm.Allocate(64 * KiB, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        q.ReserveGpuVa(space, 64 * KiB, 4096, out ulong va);
        ulong mapped = q.MapGpuVa(space, va, t, 0, 64 * KiB);

        // Then the device finishes the page-in's buffer as written (no malformed packet) and runs the map after it.
        Pump(rig, q, mapped);
        Assert.That(rig.Bytes(a).SequenceEqual(Pattern(3, (int)(64 * KiB))), Is.True);
        Assert.That(rig.Device.Mmu.Walk(space.Descriptor, va + 0x3000, out var leaf, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(leaf.FrameOffset, Is.EqualTo(rig.Vm.PhysicalAddressOf(t, 0x3000).Offset));
    }

    [Test]
    public void GivenAnArenaSmallerThanAPage_WhenTheQueueIsCreated_ThenItIsRefusedBeforeAnythingIsAllocated()
    {
        using var rig = new ResidencyRig();
        int live = rig.Vm.LiveAllocations;
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new DevicePagingQueue(rig.Rm, arenaBytes: 2048));
        Assert.That(rig.Vm.LiveAllocations, Is.EqualTo(live));
    }

    private static void FillMemory(ResidencyRig rig)
    {
        while (rig.Vm.System.FreeBytes > 0) rig.Vm.Allocate(4096, placement: PlacementHint.SystemOnly);
        while (rig.Vm.Local.FreeBytes > 0) rig.Vm.Allocate(4096, placement: PlacementHint.LocalOnly);
    }

    // Runs the device and services the paging fence's interrupts — only them, as the interrupt handler does; no Kick: the
    // queue's own wake-up fences must suffice — until `target` is reached and nothing waits; returns the values the
    // paging fence was written with, in order.
    private static List<ulong> Pump(ResidencyRig rig, DevicePagingQueue q, ulong target)
    {
        var writes = new List<ulong>();
        for (int i = 0; i < 10_000 && (!q.Fence.IsSignaled(target) || !q.Context.IsDrained || q.Backlog > 0); i++) writes.AddRange(Step(rig, q));
        Assert.That(q.Fence.IsSignaled(target), Is.True, "the paging ran (failure guard)");
        Assert.That((q.Backlog, q.Context.IsDrained), Is.EqualTo((0, true)));
        return writes;
    }

    private static List<ulong> Step(ResidencyRig rig, DevicePagingQueue q)
    {
        var writes = new List<ulong>();
        rig.Device.Step(1 << 14);
        while (rig.Device.Interrupts.TryDequeue(out var info))
        {
            Assert.That(info.Source, Is.Not.AnyOf(InterruptSource.PageFault, InterruptSource.ProtectionFault, InterruptSource.InvalidCommand, InterruptSource.Error),
                $"unexpected {info.Source} data0=0x{info.Data0:X}");
            if (info.Source == InterruptSource.Fence && info.Data1 == q.Fence.Address.Encoded) writes.Add(info.Data0);
        }
        rig.Device.Interrupts.Acknowledge(InterruptSources.AllMask);
        if (writes.Count > 0) q.NotifyFenceInterrupt();
        return writes;
    }
}
