using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Tests.VidMm;

public class AllocationTests
{
    private const ulong Page = VidMmTestRig.Page;

    [Test]
    public void Segments_AreSizedFromTheDeviceRegisters()
    {
        using var rig = new VidMmTestRig(localBytes: 4 << 20, systemBytes: 6 << 20, apertureBytes: 256 << 10);
        Assert.That(rig.Vm.Local.SizeBytes, Is.EqualTo(4UL << 20));
        Assert.That(rig.Vm.System.SizeBytes, Is.EqualTo(6UL << 20));
        Assert.That(rig.Vm.Aperture.Entries, Is.EqualTo(64UL));
        // The aperture table itself (64 entries × 8 B = one page) came out of local memory; local page 0 is never handed
        // out (PA 0 is "idle" to CONTEXT_SWITCH, native-layout.md §10.1).
        Assert.That(rig.Vm.Local.FreeBytes, Is.EqualTo((4UL << 20) - 2 * Page));
        Assert.That(rig.Vm.Aperture.TableAddress.Location, Is.EqualTo(MemoryLocation.Local));
    }

    [TestCase(PlacementHint.LocalOnly)]
    [TestCase(PlacementHint.SystemOnly)]
    public void AProcessAllocationOnFreedMemory_ReadsZeros_NotTheFormerOwnersBytes(PlacementHint placement)
    {
        using var rig = new VidMmTestRig(localBytes: 4 << 20, systemBytes: 4 << 20, apertureBytes: 64 << 10);
        // Given memory a former owner filled and freed ...
        var old = rig.Vm.Allocate(16 * Page, placement: placement);
        var at = rig.Vm.PhysicalAddressOf(old, 0);
        rig.Vm.Memory.GetSpan(at, (int)(16 * Page)).Fill(0xA5);
        rig.Vm.Free(old);
        // ... when a process's allocation is placed there,
        var mine = rig.Vm.AllocateForProcess(16 * Page, Page, placement, AllocationFlags.None);
        Assert.That(rig.Vm.PhysicalAddressOf(mine, 0), Is.EqualTo(at), "precondition: the freed block is reused");
        // then it reads zeros (isolation: no process sees another's bytes).
        Assert.That(rig.Vm.Memory.GetSpan(at, (int)(16 * Page)).ToArray(), Is.All.EqualTo((byte)0));
    }

    [Test]
    public void EveryLocalPageAllocated_NoneIsAtPhysicalAddressZero()
    {
        // PA 0 is "idle" to CONTEXT_SWITCH and CURRENT_CONTEXT (native-layout.md §10.1): a save area there could never be
        // loaded, so VidMm never hands out local page 0 — also once every other page is taken.
        using var rig = new VidMmTestRig(localBytes: 6 << 20, systemBytes: 2 << 20, apertureBytes: 64 << 10); // not a power of two: the first block taken is not at 0
        var pages = new List<AllocationHandle>();
        while (rig.Vm.Local.FreeBytes > 0) pages.Add(rig.Vm.Allocate(Page, placement: PlacementHint.LocalOnly));
        Assert.That(pages.Select(p => rig.Vm.PhysicalAddressOf(p, 0)), Has.None.EqualTo(PhysicalAddress.Local(0)));
        Assert.That(Assert.Throws<VidMmException>(() => rig.Vm.Allocate(Page, placement: PlacementHint.LocalOnly))!.Error,
            Is.EqualTo(VidMmError.OutOfLocalMemory));
    }

    [TestCase(PlacementHint.PreferLocal, MemoryLocation.Local)]
    [TestCase(PlacementHint.LocalOnly, MemoryLocation.Local)]
    [TestCase(PlacementHint.PreferSystem, MemoryLocation.System)]
    [TestCase(PlacementHint.SystemOnly, MemoryLocation.System)]
    public void Placement_PicksTheHintedSegment(PlacementHint hint, MemoryLocation expected)
    {
        using var rig = new VidMmTestRig();
        var h = rig.Vm.Allocate(16 * Page, placement: hint);
        Assert.That(rig.Vm.LocationOf(h), Is.EqualTo(expected));
        Assert.That(rig.Vm.ExtentsOf(h)[0].Address.Location, Is.EqualTo(expected));
    }

    [Test]
    public void PreferLocal_FallsBackToSystem_WhenLocalIsFull()
    {
        using var rig = new VidMmTestRig(localBytes: 2 << 20);
        var fill = rig.Vm.Allocate(rig.Vm.Local.FreeBytes, placement: PlacementHint.LocalOnly);
        var h = rig.Vm.Allocate(Page);
        Assert.That(rig.Vm.LocationOf(h), Is.EqualTo(MemoryLocation.System));
        Assert.That(rig.Vm.IsLive(fill), Is.True);
    }

    [TestCase(64UL << 10)]
    [TestCase(2UL << 20)]
    public void Alignment_IsHonoured(ulong alignment)
    {
        using var rig = new VidMmTestRig();
        rig.Vm.Allocate(Page);
        var h = rig.Vm.Allocate(Page, alignment);
        Assert.That(rig.Vm.PhysicalAddressOf(h, 0).Offset % alignment, Is.Zero);
    }

    [Test]
    public void LiveAllocations_NeverOverlapPhysically()
    {
        using var rig = new VidMmTestRig();
        var handles = new List<AllocationHandle>();
        for (int i = 1; i <= 40; i++) handles.Add(rig.Vm.Allocate((ulong)(i % 7 + 1) * Page, placement: i % 2 == 0 ? PlacementHint.LocalOnly : PlacementHint.SystemOnly));
        var pages = new HashSet<(MemoryLocation, ulong)>();
        foreach (var h in handles)
            foreach (var e in rig.Vm.ExtentsOf(h))
                for (ulong o = 0; o < e.Bytes; o += Page)
                    Assert.That(pages.Add((e.Address.Location, e.Address.Offset + o)), Is.True, $"{h} overlaps");
    }

    [Test]
    public void FragmentedMemory_GivesANonContiguousAllocation_UnlessContiguousIsRequested()
    {
        using var rig = new VidMmTestRig(localBytes: 2 << 20);
        var vm = rig.Vm;
        // Fill local with 4-page allocations and free every other one: 16 KiB holes, no larger run.
        var all = new List<AllocationHandle>();
        while (vm.Local.FreeBytes >= 4 * Page) all.Add(vm.Allocate(4 * Page, placement: PlacementHint.LocalOnly));
        for (int i = 0; i < all.Count; i += 2) vm.Free(all[i]);
        var ex = Assert.Throws<VidMmException>(() => vm.Allocate(8 * Page, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous));
        Assert.That(ex!.Error, Is.EqualTo(VidMmError.OutOfLocalMemory));
        var h = vm.Allocate(8 * Page, placement: PlacementHint.LocalOnly);
        var extents = vm.ExtentsOf(h);
        Assert.That(extents.Length, Is.EqualTo(2));
        Assert.That(extents.Sum(e => (long)e.Bytes), Is.EqualTo(8 * (long)Page));
        Assert.That(vm.PhysicalAddressOf(h, 4 * Page), Is.EqualTo(extents[1].Address));
    }

    [Test]
    public void PrimarySurface_IsLocalAndContiguous()
    {
        using var rig = new VidMmTestRig();
        var h = rig.Vm.Allocate(64 * Page, placement: PlacementHint.PreferLocal, flags: AllocationFlags.PrimarySurface);
        Assert.That(rig.Vm.LocationOf(h), Is.EqualTo(MemoryLocation.Local));
        Assert.That(rig.Vm.ExtentsOf(h), Has.Length.EqualTo(1));
        Assert.That(rig.Vm.FlagsOf(h) & AllocationFlags.Contiguous, Is.EqualTo(AllocationFlags.Contiguous));
    }

    [Test]
    public void Free_ReturnsTheMemory_AndTheHandleGoesStale()
    {
        using var rig = new VidMmTestRig();
        ulong before = rig.Vm.System.FreeBytes;
        var h = rig.Vm.Allocate(8 * Page, placement: PlacementHint.SystemOnly);
        rig.Vm.Free(h);
        Assert.That(rig.Vm.System.FreeBytes, Is.EqualTo(before));
        Assert.That(rig.Vm.IsLive(h), Is.False);
        var reused = rig.Vm.Allocate(8 * Page, placement: PlacementHint.SystemOnly);
        Assert.That(reused.Index, Is.EqualTo(h.Index), "the slot is reused");
        Assert.That(reused.Generation, Is.Not.EqualTo(h.Generation));
        Assert.That(Assert.Throws<VidMmException>(() => rig.Vm.SizeOf(h))!.Error, Is.EqualTo(VidMmError.InvalidHandle));
        Assert.That(rig.Vm.SizeOf(reused), Is.EqualTo(8 * Page));
    }
}
