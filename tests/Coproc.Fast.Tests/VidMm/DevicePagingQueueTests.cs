using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>Seed 004: the device paging queue, its fence values, CPU and GPU waits, deferred map/unmap.</summary>
public class DevicePagingQueueTests
{
    /// <summary>A scheduler hook that holds requests until released (the test decides when the paging context runs).</summary>
    private sealed class HeldScheduler(IPagingContextScheduler inner) : IPagingContextScheduler
    {
        private PhysicalAddress? _pending;
        public bool Held { get; set; } = true;
        public int Requests { get; private set; }

        public bool RequestRun(PhysicalAddress saveArea)
        {
            Requests++;
            if (Held) { _pending = saveArea; return false; }
            return inner.RequestRun(saveArea);
        }

        public void Release()
        {
            Held = false;
            if (_pending is { } p) inner.RequestRun(p);
        }
    }

    private static void Pump(ResidencyRig rig, DevicePagingQueue q)
    {
        for (int i = 0; i < 10_000 && !q.Fence.IsSignaled(q.LastSubmitted); i++)
        {
            rig.Device.Step(1 << 16);
            DrainAndCheck(rig);
            q.NotifyFenceInterrupt();
        }
        Assert.That(q.Fence.CurrentValue, Is.EqualTo(q.LastSubmitted));
        q.NotifyFenceInterrupt();
    }

    private static void DrainAndCheck(ResidencyRig rig)
    {
        while (rig.Device.Interrupts.TryDequeue(out var info))
            Assert.That(info.Source, Is.Not.AnyOf(InterruptSource.PageFault, InterruptSource.ProtectionFault, InterruptSource.InvalidCommand, InterruptSource.Error),
                $"unexpected {info.Source} data0=0x{info.Data0:X}");
        rig.Device.Interrupts.Acknowledge(InterruptSources.AllMask);
    }

    private static TranslationStatus Walk(ResidencyRig rig, GpuAddressSpace space, ulong va, out PageTableEntry leaf) =>
        rig.Device.Mmu.Walk(space.Descriptor, va, out leaf, out _, out _, out _);

    [Test]
    public void FenceValues_AreUniqueAndIncreasing_AndZeroForImmediateOperations()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm);
        var space = rig.Vm.CreateGpuAddressSpace();
        var a = rig.Rm.CreateAllocation(64 * KiB, 1);
        var b = rig.Rm.CreateAllocation(64 * KiB, 1);
        rig.Stamp(a, 3);

        Assert.That(q.ReserveGpuVa(space, 64 * KiB, 64 * KiB, out ulong va), Is.Zero, "a pure VA reservation is immediate");
        ulong v1 = q.MakeResident(Refs(a), 1);
        Assert.That(q.MakeResident(Refs(a), 1), Is.Zero, "already resident");
        Assert.That(q.Evict(b), Is.Zero, "not resident: nothing to do");
        ulong v2 = q.MapGpuVa(space, va, a, 0, 64 * KiB);
        ulong v3 = q.UnmapGpuVa(space, va);
        ulong v4 = q.Evict(a);

        Assert.That(new[] { v1, v2, v3, v4 }, Is.Ordered.Ascending.And.Unique);
        Assert.That(v1, Is.GreaterThan(0UL));
        Assert.That(q.Fence.IsSignaled(v1), Is.False, "nothing ran yet");
        Pump(rig, q);
        Assert.That(q.Fence.CurrentValue, Is.EqualTo(v4));
        Assert.That(q.InFlight, Is.Zero, "every paging buffer retired");
        Assert.That(rig.Bytes(a).SequenceEqual(Pattern(3, (int)(64 * KiB))), Is.True, "page-in then evict kept the bytes");
    }

    [Test]
    public void CpuWait_OnThePagingFence_ReturnsOnceTheDeviceSignalsIt()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm);
        var a = rig.Rm.CreateAllocation(1 * MiB, 1);
        ulong v = q.MakeResident(Refs(a), 1);
        Assert.That(q.Fence.TryWait(v, out _), Is.False);

        var device = new Thread(() =>
        {
            // The device side: steps and delivers the fence interrupt, as the interrupt handler would.
            for (int i = 0; i < 10_000 && !q.Fence.IsSignaled(v); i++)
            {
                rig.Device.Step(1 << 12);
                q.Fence.NotifySignaled();
            }
        });
        device.Start();
        bool reached = q.Fence.Wait(v, TimeSpan.FromSeconds(30));
        Assert.That(device.Join(TimeSpan.FromSeconds(30)), Is.True);

        Assert.That(reached, Is.True);
        Assert.That(q.Fence.CurrentValue, Is.EqualTo(v));
    }

    [Test]
    public void GpuWait_ContextWaitsOnThePagingFence_AndTouchesTheRangeOnlyAfterTheMap()
    {
        using var rig = new ResidencyRig();
        var hold = new HeldScheduler(new IdleEngineContextSwitch(rig.Vm.Bus));
        var q = new DevicePagingQueue(rig.Rm, hold);
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        ulong fenceVa = q.MapPagingFence(space);
        var target = rig.Vm.Allocate(64 * KiB, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        rig.Bytes(target).Clear();
        Assert.That(q.ReserveGpuVa(space, 64 * KiB, 4096, out ulong range), Is.Zero);
        ulong v = q.MapGpuVa(space, range, target, 0, 64 * KiB);

        var dma = rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        ulong dmaVa = space.MapAllocation(dma);
        var pw = new PacketWriter(MemoryMarshal.Cast<byte, uint>(rig.Bytes(dma)));
        pw.WaitFence(fenceVa, v);
        pw.WriteData(range + 0x10, 0xC0FFEEu);
        var user = new KernelContext(rig.Vm, space.Descriptor, 9);
        Assert.That(user.TrySubmitIndirect(dmaVa, (uint)pw.Written, privileged: false), Is.True);
        rig.Device.Mmio.Write64(0x400 + (uint)EngineKind.Render * 0x80, user.SaveArea.Encoded);

        for (int i = 0; i < 8; i++) { rig.Device.Step(1 << 14); DrainAndCheck(rig); }
        Assert.That(user.IsDrained, Is.False, "the render context is parked on WAIT_FENCE");
        Assert.That(Walk(rig, space, range, out _), Is.Not.EqualTo(TranslationStatus.Ok), "the map has not run");
        Assert.That(BitConverter.ToUInt32(rig.Bytes(target)[0x10..]), Is.Zero);

        hold.Release();
        for (int i = 0; i < 1000 && !(user.IsDrained && q.Fence.IsSignaled(v)); i++) { rig.Device.Step(1 << 14); DrainAndCheck(rig); }

        Assert.That(user.IsDrained, Is.True);
        Assert.That(BitConverter.ToUInt32(rig.Bytes(target)[0x10..]), Is.EqualTo(0xC0FFEEu), "written through the new mapping, never faulted");
    }

    [Test]
    public void GpuWait_ThroughAUserQueue_TheDependentSubmissionNeverObservesTheRangeUnmapped()
    {
        // Given a map queued on the paging queue (held: the paging context has not run yet) ...
        using var rig = new ResidencyRig();
        var hold = new HeldScheduler(new IdleEngineContextSwitch(rig.Vm.Bus));
        var q = new DevicePagingQueue(rig.Rm, hold);
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        ulong fenceVa = q.MapPagingFence(space);
        var target = rig.Vm.Allocate(64 * KiB, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        rig.Bytes(target).Clear();
        Assert.That(q.ReserveGpuVa(space, 64 * KiB, 4096, out ulong range), Is.Zero);
        ulong v = q.MapGpuVa(space, range, target, 0, 64 * KiB);
        Assert.That(v, Is.Not.Zero);

        // ... and a process's ring-3 user queue (descriptor, ring, the kernel's save area) on the render engine.
        var mem = rig.Vm.Allocate(3 * 4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        rig.Bytes(mem).Clear();
        var registrar = new UserQueueRegistrar(rig.Vm.Bus, new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None }));
        var reg = registrar.Register(5, new UserQueueRegistrationRequest
        {
            ContextId = 9, Engine = EngineKind.Render, Priority = 0, TimeSliceCycles = 10_000,
            DescriptorAddress = rig.Vm.PhysicalAddressOf(mem, 0).Encoded, RingBase = rig.Vm.PhysicalAddressOf(mem, 4096).Encoded, RingBytes = 4096,
        }, new UserQueueExecution(rig.Vm.PhysicalAddressOf(mem, 8192), space.Descriptor));
        var uq = reg.Open(rig.Device.Memory);

        // When the UMD queues a GPU wait on the paging fence before the first dependent submission, and rings.
        var packets = new uint[64];
        var pw = new PacketWriter(packets);
        pw.WaitFence(fenceVa, v);
        pw.WriteData(range + 0x10, 0xC0FFEEu);
        for (int off = 0; off < pw.Written; off += new PacketHeader(packets[off]).LengthDwords)
            Assert.That(uq.TryWrite(packets.AsSpan(off, new PacketHeader(packets[off]).LengthDwords)), Is.True);
        uq.Flush();

        // Then while the map has not run the queue stays parked on its WAIT_FENCE: no fault, range untouched ...
        for (int i = 0; i < 8; i++) { rig.Device.Step(1 << 14); DrainAndCheck(rig); }
        Assert.That(uq.DeviceReadPtr, Is.Not.EqualTo(uq.WritePosition), "the user queue is parked on WAIT_FENCE");
        Assert.That(Walk(rig, space, range, out _), Is.Not.EqualTo(TranslationStatus.Ok), "the map has not run");
        Assert.That(BitConverter.ToUInt32(rig.Bytes(target)[0x10..]), Is.Zero);

        // ... and once the paging context runs, the dependent write goes through the new mapping (DrainAndCheck: no fault).
        hold.Release();
        for (int i = 0; i < 1000 && !(uq.DeviceReadPtr == uq.WritePosition && q.Fence.IsSignaled(v)); i++)
        {
            rig.Device.Step(1 << 14);
            DrainAndCheck(rig);
        }
        Assert.That(uq.DeviceReadPtr, Is.EqualTo(uq.WritePosition));
        Assert.That(BitConverter.ToUInt32(rig.Bytes(target)[0x10..]), Is.EqualTo(0xC0FFEEu));
        Assert.That(rig.Device.SchedulingCore.QueueFaults, Is.Zero);
    }

    [Test]
    public void TiledReserve_IsAsynchronous_AGpuWaitOnItsFenceLetsTheContextReadZerosFromTheRange_WithoutAFault()
    {
        // Given a tiled-resource reserve queued on the paging queue (held: the paging context has not run yet) in a
        // fault-on-invalid space, and a context that waits on its fence, then copies the range's first page over a
        // target filled with 0xFF and writes into the range.
        using var rig = new ResidencyRig();
        var hold = new HeldScheduler(new IdleEngineContextSwitch(rig.Vm.Bus));
        var q = new DevicePagingQueue(rig.Rm, hold);
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        ulong fenceVa = q.MapPagingFence(space);
        ulong v = q.ReserveTiledGpuVa(space, 64 * KiB, 4096, out ulong range);
        Assert.That(v, Is.Not.Zero, "a reserve that writes page tables is asynchronous (seed 004)");
        Assert.That(Walk(rig, space, range, out _), Is.Not.EqualTo(TranslationStatus.Ok), "the range is not usable before its fence");
        var target = rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        rig.Bytes(target).Fill(0xFF);
        ulong targetVa = space.MapAllocation(target);
        var dma = rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        ulong dmaVa = space.MapAllocation(dma);
        var pw = new PacketWriter(MemoryMarshal.Cast<byte, uint>(rig.Bytes(dma)));
        pw.WaitFence(fenceVa, v);
        pw.WriteData(range + 0x10, 0xC0FFEEu); // discarded: the dummy page
        pw.Copy(targetVa, range, 4096);
        var user = new KernelContext(rig.Vm, space.Descriptor, 9);
        Assert.That(user.TrySubmitIndirect(dmaVa, (uint)pw.Written, privileged: false), Is.True);
        rig.Device.Mmio.Write64(0x400 + (uint)EngineKind.Render * 0x80, user.SaveArea.Encoded);

        // Then it waits (no fault) while the reserve has not run ...
        for (int i = 0; i < 8; i++) { rig.Device.Step(1 << 14); DrainAndCheck(rig); }
        Assert.That(user.IsDrained, Is.False, "the context is parked on WAIT_FENCE");
        Assert.That(rig.Bytes(target)[0], Is.EqualTo(0xFF));

        // ... and once it ran, the range reads zeros and swallows writes: the target is all zero, nothing faulted.
        hold.Release();
        for (int i = 0; i < 1000 && !(user.IsDrained && q.Fence.IsSignaled(v)); i++) { rig.Device.Step(1 << 14); DrainAndCheck(rig); }
        Assert.That(user.IsDrained, Is.True);
        Assert.That(rig.Bytes(target).ToArray(), Is.All.EqualTo((byte)0));
        Assert.That(space.ReadLeaf(range).Raw, Is.EqualTo(PageTableEntry.Dummy.Raw));
    }

    [Test]
    public void TiledReserve_ATileMappedBehindTheReserveAndUnmapped_GoesBackToTheDummyPage_AndReleaseInvalidatesTheRange()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm);
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        var tile = rig.Vm.Allocate(16 * KiB, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        ulong reserved = q.ReserveTiledGpuVa(space, 64 * KiB, 4096, out ulong range);

        // A deferred map of a tile may queue behind the reserve's own writes; an immediate one may not (they would land after it).
        Assert.That(() => space.Map(range + 16 * KiB, tile, 0, 16 * KiB), Throws.TypeOf<VidMmException>());
        Assert.That(() => space.Release(range), Throws.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.StillMapped),
            "the reserve's writes are still queued");
        ulong mapped = q.MapGpuVa(space, range + 16 * KiB, tile, 0, 16 * KiB);
        Assert.That(mapped, Is.GreaterThan(reserved));
        Pump(rig, q);
        Assert.That(space.ReadLeaf(range).Raw, Is.EqualTo(PageTableEntry.Dummy.Raw), "an unmapped tile is the dummy page");
        Assert.That(Walk(rig, space, range + 16 * KiB, out var leaf), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(leaf.FrameOffset, Is.EqualTo(rig.Vm.PhysicalAddressOf(tile, 0).Offset), "the mapped tile is the allocation");

        q.UnmapGpuVa(space, range + 16 * KiB);
        Pump(rig, q);
        Assert.That(space.ReadLeaf(range + 16 * KiB).Raw, Is.EqualTo(PageTableEntry.Dummy.Raw), "unmapping a tile restores the dummy page");

        space.Release(range);
        Assert.That(space.ReadLeaf(range).Raw, Is.Zero, "a released range is invalid again");
        Assert.That(Walk(rig, space, range, out _), Is.Not.EqualTo(TranslationStatus.Ok));
    }

    [Test]
    public void MapAndUnmap_AreVisibleToTheDeviceOnlyAfterTheirFence()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm);
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        var t1 = rig.Vm.Allocate(16 * KiB, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var t2 = rig.Rm.CreateAllocation(16 * KiB, 1);
        q.ReserveGpuVa(space, 16 * KiB, 4096, out ulong va);

        q.MapGpuVa(space, va, t1, 0, 16 * KiB);
        Assert.That(Walk(rig, space, va, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That(() => space.Map(va, t1, 0, 16 * KiB), Throws.TypeOf<VidMmException>(), "a queued map holds the VA");
        Pump(rig, q);
        Assert.That(Walk(rig, space, va + 0x3000, out var leaf), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(leaf.FrameOffset, Is.EqualTo(rig.Vm.PhysicalAddressOf(t1, 0x3000).Offset));

        q.UnmapGpuVa(space, va);
        Assert.That(Walk(rig, space, va, out _), Is.EqualTo(TranslationStatus.Ok), "still translating until the unmap runs");
        Assert.That(() => space.Map(va, t1, 0, 16 * KiB), Throws.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.AlreadyMapped),
            "an immediate map may not race a queued unmap");
        q.MapGpuVa(space, va, t2, 0, 16 * KiB); // a queued remap runs after the queued unmap
        Pump(rig, q);
        Assert.That(Walk(rig, space, va, out leaf), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(leaf.Location, Is.EqualTo(MemoryLocation.System), "t2 is not resident: its VA reaches the backing store");
        Assert.That(leaf.FrameOffset, Is.EqualTo(rig.Rm.BackingOf(t2).Address.Offset));

        q.UnmapGpuVa(space, va);
        Pump(rig, q);
        Assert.That(Walk(rig, space, va, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That(rig.Vm.MapCountOf(t2), Is.Zero);
    }

    [Test]
    public void ManyOperationsInARow_CompleteInOrder_WithEveryByteKept()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm);
        var space = rig.Vm.CreateGpuAddressSpace();
        var rnd = new Random(77);
        var managed = Enumerable.Range(0, 12).Select(i => rig.Rm.CreateAllocation(1 * MiB, i % 3)).ToArray();
        for (int i = 0; i < managed.Length; i++) rig.Stamp(managed[i], 500 + i);
        var vas = Enumerable.Range(0, 8).Select(_ => { q.ReserveGpuVa(space, 1 * MiB, 4096, out ulong va); return va; }).ToArray();
        var mappedTo = new int[vas.Length];
        Array.Fill(mappedTo, -1);
        ulong last = 0;
        int nonZero = 0;

        for (int step = 0; step < 150; step++)
        {
            int slot = rnd.Next(vas.Length);
            ulong v;
            switch (rnd.Next(3))
            {
                case 0:
                    v = q.MakeResident(Refs(managed[rnd.Next(managed.Length)]), rnd.Next(3));
                    break;
                case 1 when mappedTo[slot] < 0:
                    mappedTo[slot] = rnd.Next(managed.Length);
                    v = q.MapGpuVa(space, vas[slot], managed[mappedTo[slot]], 0, 1 * MiB);
                    break;
                default:
                    if (mappedTo[slot] < 0) continue;
                    v = q.UnmapGpuVa(space, vas[slot]);
                    mappedTo[slot] = -1;
                    break;
            }
            if (v == 0) continue;
            Assert.That(v, Is.GreaterThan(last), $"step {step}");
            last = v;
            nonZero++;
        }
        Pump(rig, q);

        Assert.That(nonZero, Is.GreaterThan(50));
        Assert.That(q.Fence.CurrentValue, Is.EqualTo(last));
        for (int i = 0; i < managed.Length; i++) Assert.That(rig.Bytes(managed[i]).SequenceEqual(Pattern(500 + i, (int)MiB)), Is.True, $"allocation {i}");
        for (int s = 0; s < vas.Length; s++)
        {
            var status = Walk(rig, space, vas[s] + 0x5000, out var leaf);
            if (mappedTo[s] < 0) { Assert.That(status, Is.Not.EqualTo(TranslationStatus.Ok)); continue; }
            Assert.That(status, Is.EqualTo(TranslationStatus.Ok));
            var home = rig.Vm.PhysicalAddressOf(managed[mappedTo[s]], 0x5000);
            Assert.That((leaf.Location, leaf.FrameOffset), Is.EqualTo((home.Location, home.Offset)), $"slot {s} follows its allocation's moves");
        }
    }

    [Test]
    public void DefaultHook_OnABusyCopyEngine_QueuesThePagingContextAsNext()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm);
        var big = rig.Rm.CreateAllocation(4 * MiB, 2);
        var ops = new List<PagingOperation>();
        rig.Rm.MakeResident(Refs(big), 2, ops);
        var pa = rig.Vm.PhysicalAddressOf(rig.Buffer, 0);
        int n = rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), MemoryMarshal.Cast<byte, uint>(rig.Device.Memory.GetSpan(pa, 4096)),
            rig.FenceAddress, 1, out _);
        Assert.That(rig.Paging.TrySubmitIndirect(rig.Rm.View.VaOf(pa), (uint)n, privileged: true), Is.True);
        const uint copyBank = 0x400 + (uint)EngineKind.Copy * 0x80;
        rig.Device.Mmio.Write64(copyBank, rig.Paging.SaveArea.Encoded);
        rig.Device.Step(10_000); // the other kernel context is mid-copy
        var small = rig.Rm.CreateAllocation(64 * KiB, 1);

        ulong v = q.MakeResident(small, 1);

        Assert.That(rig.Device.Mmio.Read64(copyBank + 0x10), Is.EqualTo(q.Context.SaveArea.Encoded), "NEXT_CONTEXT = the paging context");
        Pump(rig, q);
        Assert.That(q.Fence.IsSignaled(v), Is.True);
        Assert.That(rig.FenceValue, Is.EqualTo(1UL), "the first context's buffer completed too");
    }

    [Test]
    public void BufferLargerThanTheArena_IsWrittenInPieces_WithoutAnAllocationOfItsOwn()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm, arenaBytes: 4096);
        var space = rig.Vm.CreateGpuAddressSpace();
        var t = rig.Vm.Allocate(2 * MiB, 4096, PlacementHint.PreferSystem);
        q.ReserveGpuVa(space, 2 * MiB, 4096, out ulong va);
        int live = rig.Vm.LiveAllocations;

        ulong v = q.MapGpuVa(space, va, t, 0, 2 * MiB); // 512 PTEs: more than 4 KiB of packets
        Assert.That(rig.Vm.LiveAllocations, Is.EqualTo(live), "no memory taken for the buffer");
        Assert.That(q.Backlog, Is.EqualTo(1), "its first piece is in the ring, the rest waits for the arena");
        Assert.That(Walk(rig, space, va, out _), Is.EqualTo(TranslationStatus.InvalidAddress), "a first piece does not finish the map");
        Pump(rig, q);

        Assert.That(q.Fence.IsSignaled(v), Is.True);
        Assert.That(q.Backlog, Is.Zero);
        Assert.That(rig.Vm.LiveAllocations, Is.EqualTo(live));
        for (ulong page = 0; page < 512; page++)
        {
            Assert.That(Walk(rig, space, va + page * 4096, out var leaf), Is.EqualTo(TranslationStatus.Ok));
            Assert.That(leaf.FrameOffset, Is.EqualTo(rig.Vm.PhysicalAddressOf(t, page * 4096).Offset), $"page {page}");
        }
    }

    [Test]
    public void SetThatCannotFit_Throws_AndNoFenceValueIsUsed()
    {
        using var rig = new ResidencyRig();
        var q = new DevicePagingQueue(rig.Rm);
        var huge = Enumerable.Range(0, 5).Select(_ => rig.Rm.CreateAllocation(2 * MiB, 1)).ToArray();
        Assert.That(() => q.MakeResident(Refs(huge), 1),
            Throws.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.OutOfLocalMemory));
        Assert.That(q.LastSubmitted, Is.Zero);
        Assert.That(huge.Any(rig.Rm.IsResident), Is.False);
    }
}
