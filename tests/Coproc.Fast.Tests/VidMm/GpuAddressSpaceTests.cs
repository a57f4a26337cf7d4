using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Tests.VidMm;

public class GpuAddressSpaceTests
{
    private const ulong Page = VidMmTestRig.Page;

    private static void AssertDeviceSees(VidMmTestRig rig, GpuAddressSpace space, ulong va, AllocationHandle h, ulong allocOffset, ulong bytes)
    {
        var desc = space.Descriptor;
        for (ulong o = 0; o < bytes; o += Page)
        {
            var s = rig.Device.Mmu.Walk(desc, va + o, out var leaf, out _, out _, out _);
            Assert.That(s, Is.EqualTo(TranslationStatus.Ok), $"walk at 0x{va + o:X}");
            var expected = rig.Vm.PhysicalAddressOf(h, allocOffset + o);
            Assert.That(leaf.Location, Is.EqualTo(expected.Location));
            Assert.That(leaf.FrameOffset, Is.EqualTo(expected.Offset));
            Assert.That(space.ReadLeaf(va + o), Is.EqualTo(leaf), "driver view of the PTE = device view");
        }
    }

    [TestCase(PageTableFormat.MultiLevel)]
    [TestCase(PageTableFormat.Flat)]
    public void MapAllocation_DeviceWalkerAgreesWithTheDriversTables(PageTableFormat format)
    {
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { Format = format });
        var local = rig.Vm.Allocate(5 * Page, placement: PlacementHint.LocalOnly);
        var sys = rig.Vm.Allocate(3 * Page, placement: PlacementHint.SystemOnly);
        ulong va1 = space.MapAllocation(local);
        ulong va2 = space.MapAllocation(sys);
        AssertDeviceSees(rig, space, va1, local, 0, 5 * Page);
        AssertDeviceSees(rig, space, va2, sys, 0, 3 * Page);
        Assert.That(space.Descriptor.Asid, Is.EqualTo(space.Asid));
        Assert.That(space.Descriptor.Format, Is.EqualTo(format));
    }

    [Test]
    public void GpuVirtualMemory_ReachesTheAllocationBytes_ThroughTheDriversTables()
    {
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace();
        var h = rig.Vm.Allocate(2 * Page, placement: PlacementHint.SystemOnly);
        ulong va = space.MapAllocation(h);
        rig.Device.Memory.Write32(rig.Vm.PhysicalAddressOf(h, Page + 8), 0xC0FFEE);
        var s = rig.Device.Mmu.Translate(null, space.Descriptor, va + Page + 8, AccessKind.Read, false, out var run);
        Assert.That(s, Is.EqualTo(TranslationStatus.Ok));
        Assert.That(rig.Device.Memory.Read32(run.Address), Is.EqualTo(0xC0FFEEu));
    }

    [Test]
    public void NonContiguousAllocation_IsMappedToOneContiguousVaRange()
    {
        using var rig = new VidMmTestRig(localBytes: 2 << 20);
        var vm = rig.Vm;
        var all = new List<AllocationHandle>();
        while (vm.Local.FreeBytes >= 4 * Page) all.Add(vm.Allocate(4 * Page, placement: PlacementHint.LocalOnly));
        for (int i = 0; i < all.Count; i += 2) vm.Free(all[i]);
        var h = vm.Allocate(8 * Page, placement: PlacementHint.LocalOnly);
        Assert.That(vm.ExtentsOf(h).Length, Is.GreaterThan(1));
        var space = vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { Format = PageTableFormat.Flat });
        ulong va = space.MapAllocation(h);
        AssertDeviceSees(rig, space, va, h, 0, 8 * Page);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void InvalidVa_HitsTheDummyPageOrFaults_PerAddressSpaceOption(bool faultOnInvalid)
    {
        var expected = faultOnInvalid ? TranslationStatus.InvalidAddress : TranslationStatus.Ok;
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = faultOnInvalid });
        var h = rig.Vm.Allocate(Page);
        ulong va = space.MapAllocation(h);
        var s = rig.Device.Mmu.Translate(null, space.Descriptor, va + Page, AccessKind.Read, false, out var run);
        Assert.That(s, Is.EqualTo(expected));
        if (!faultOnInvalid) Assert.That(run.IsDummy, Is.True);
        Assert.That(rig.Device.Mmu.Translate(null, space.Descriptor, 0, AccessKind.Read, false, out _),
            Is.EqualTo(expected), "VA 0 is never mapped");
    }

    [Test]
    public void MappingFlags_WritableAndPrivileged_ReachTheLeafPtes()
    {
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace();
        var ro = rig.Vm.Allocate(Page);
        var priv = rig.Vm.Allocate(Page);
        ulong vaRo = space.MapAllocation(ro, GpuMappingFlags.ReadOnly);
        ulong vaPriv = space.MapAllocation(priv, GpuMappingFlags.Writable | GpuMappingFlags.Privileged);
        var mmu = rig.Device.Mmu;
        Assert.That(mmu.Translate(null, space.Descriptor, vaRo, AccessKind.Write, true, out _), Is.EqualTo(TranslationStatus.WriteProtected));
        Assert.That(mmu.Translate(null, space.Descriptor, vaRo, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(mmu.Translate(null, space.Descriptor, vaPriv, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.PrivilegeViolation));
        Assert.That(mmu.Translate(null, space.Descriptor, vaPriv, AccessKind.Write, true, out _), Is.EqualTo(TranslationStatus.Ok));
    }

    [Test]
    public void Unmap_ClearsThePtes_AndTheVaNoLongerTranslates()
    {
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        var h = rig.Vm.Allocate(3 * Page);
        ulong va = space.MapAllocation(h);
        space.UnmapAllocation(va);
        for (ulong o = 0; o < 3 * Page; o += Page)
        {
            Assert.That(space.ReadLeaf(va + o).Raw, Is.Zero);
            Assert.That(rig.Device.Mmu.Walk(space.Descriptor, va + o, out _, out _, out _, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
        }
        Assert.That(rig.Vm.MapCountOf(h), Is.Zero);
        rig.Vm.Free(h);
    }

    [Test]
    public void MappedVa_IsInvariantForTheAllocationsLifetime_WhileOtherMappingsComeAndGo()
    {
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace();
        var keep = rig.Vm.Allocate(2 * Page);
        ulong va = space.MapAllocation(keep);
        for (int i = 0; i < 50; i++)
        {
            var t = rig.Vm.Allocate((ulong)(i % 5 + 1) * Page);
            ulong tva = space.MapAllocation(t);
            Assert.That(tva, Is.Not.EqualTo(va));
            space.UnmapAllocation(tva);
            rig.Vm.Free(t);
        }
        AssertDeviceSees(rig, space, va, keep, 0, 2 * Page);
    }

    [Test]
    public void FlatTable_GrowsByPowersOfTwo_AndMovesWithTheLimitRegister()
    {
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { Format = PageTableFormat.Flat });
        Assert.That(space.Descriptor.FlatLimit, Is.EqualTo(512UL));
        var low = rig.Vm.Allocate(Page);
        ulong lowVa = space.MapAllocation(low);
        var h = rig.Vm.Allocate(Page);
        space.ReserveAt(3000 * Page, Page);
        space.Map(3000 * Page, h, 0, Page);
        Assert.That(space.Descriptor.FlatLimit, Is.EqualTo(4096UL), "next power of two above entry 3000");
        Assert.That(space.TablePages, Is.EqualTo(8UL));
        AssertDeviceSees(rig, space, lowVa, low, 0, Page);
        AssertDeviceSees(rig, space, 3000 * Page, h, 0, Page);
        Assert.That(rig.Device.Mmu.Walk(space.Descriptor, 4096 * Page, out _, out _, out _, out _), Is.EqualTo(TranslationStatus.InvalidAddress),
            "past the limit register");
    }

    [Test]
    public void PartialMapping_InsideAReservation_MapsThePortion()
    {
        using var rig = new VidMmTestRig();
        var space = rig.Vm.CreateGpuAddressSpace();
        var h = rig.Vm.Allocate(8 * Page);
        ulong r = space.Reserve(16 * Page, 64 << 10);
        Assert.That(r % (64 << 10), Is.Zero);
        space.Map(r + 4 * Page, h, 2 * Page, 3 * Page);
        AssertDeviceSees(rig, space, r + 4 * Page, h, 2 * Page, 3 * Page);
        Assert.That(space.ReadLeaf(r + 3 * Page).Raw, Is.Zero);
        Assert.That(Assert.Throws<VidMmException>(() => space.Release(r))!.Error, Is.EqualTo(VidMmError.StillMapped));
        space.Unmap(r + 4 * Page);
        space.Release(r);
        Assert.That(space.ReservationCount, Is.Zero);
    }

    [Test]
    public void Destroy_FreesEveryPageTable_AndReturnsTheAsid()
    {
        using var rig = new VidMmTestRig();
        ulong free = rig.Vm.Local.FreeBytes;
        var h = rig.Vm.Allocate(Page, placement: PlacementHint.SystemOnly);
        var space = rig.Vm.CreateGpuAddressSpace();
        space.MapAllocation(h);
        ushort asid = space.Asid;
        space.Destroy();
        Assert.That(rig.Vm.Local.FreeBytes, Is.EqualTo(free));
        Assert.That(rig.Vm.MapCountOf(h), Is.Zero);
        Assert.That(rig.Vm.CreateGpuAddressSpace().Asid, Is.EqualTo(asid));
        Assert.That(Assert.Throws<VidMmException>(() => space.MapAllocation(h))!.Error, Is.EqualTo(VidMmError.AddressSpaceReleased));
    }

    [Test]
    public void EachAddressSpace_HasItsOwnAsidAndTables()
    {
        using var rig = new VidMmTestRig();
        var a = rig.Vm.CreateGpuAddressSpace();
        var b = rig.Vm.CreateGpuAddressSpace();
        Assert.That(a.Asid, Is.Not.EqualTo(b.Asid));
        var h = rig.Vm.Allocate(Page);
        ulong va = a.MapAllocation(h);
        Assert.That(b.ReadLeaf(va).Raw, Is.Zero);
        Assert.That(a.Descriptor.RootTable, Is.Not.EqualTo(b.Descriptor.RootTable));
    }

    [Test]
    public void AlignedContiguousRun_IsMappedWithTwoMiBPages_AndUnmappedCleanly()
    {
        using var rig = new VidMmTestRig(localBytes: 16 << 20);
        const ulong large = 2UL << 20;
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        var h = rig.Vm.Allocate(2 * large, large, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        ulong tables = space.TablePages;
        ulong va = space.MapAllocation(h);
        Assert.That(va % large, Is.Zero);
        Assert.That(space.TablePages, Is.EqualTo(tables + 2), "a level-2 and a level-1 table, no level-0 tables");
        foreach (ulong o in new[] { 0UL, 5 * Page, large + 123 * Page + 8 })
        {
            Assert.That(rig.Device.Mmu.Walk(space.Descriptor, va + o, out var leaf, out _, out _, out ulong size), Is.EqualTo(TranslationStatus.Ok));
            Assert.That(size, Is.EqualTo(large));
            Assert.That(leaf.IsLargePage, Is.True);
            Assert.That(space.ReadLeaf(va + o), Is.EqualTo(leaf));
            Assert.That(rig.Device.Mmu.Translate(null, space.Descriptor, va + o, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
            Assert.That(run.Address, Is.EqualTo(rig.Vm.PhysicalAddressOf(h, o)));
        }
        space.UnmapAllocation(va);
        Assert.That(rig.Device.Mmu.Walk(space.Descriptor, va + large, out _, out _, out _, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
        // The same VA can later hold 4 KiB pages.
        var small = rig.Vm.Allocate(3 * Page);
        space.ReserveAt(va, 3 * Page);
        space.Map(va, small, 0, 3 * Page);
        Assert.That(rig.Device.Mmu.Walk(space.Descriptor, va + Page, out var l, out _, out _, out ulong sz), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(sz, Is.EqualTo(Page));
        Assert.That(l.FrameOffset, Is.EqualTo(rig.Vm.PhysicalAddressOf(small, Page).Offset));
    }
}
