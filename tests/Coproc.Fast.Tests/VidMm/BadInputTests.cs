using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// Every rejected request is a typed <see cref="VidMmException"/> that leaves every other allocation, mapping
/// and page-table entry untouched: each test snapshots both memories and all bookkeeping before and after.
/// </summary>
public class BadInputTests
{
    private const ulong Page = VidMmTestRig.Page;

    private sealed class World : IDisposable
    {
        public readonly VidMmTestRig Rig;
        public readonly GpuAddressSpace Gpu;
        public readonly GpuAddressSpace Flat;
        public readonly CpuAddressSpace Cpu;
        public readonly AllocationHandle Local;
        public readonly AllocationHandle System;
        public readonly ulong LocalGpuVa;
        public readonly ulong LocalCpuVa;

        public World(ulong localBytes = 8 << 20, ulong systemBytes = 8 << 20, ulong apertureBytes = 1 << 20)
        {
            Rig = new VidMmTestRig(localBytes, systemBytes, apertureBytes);
            var vm = Rig.Vm;
            Gpu = vm.CreateGpuAddressSpace();
            Flat = vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { Format = PageTableFormat.Flat, FlatMaxBytes = 4 << 20 });
            Cpu = vm.CreateCpuAddressSpace();
            Local = vm.Allocate(4 * Page, placement: PlacementHint.LocalOnly);
            System = vm.Allocate(4 * Page, placement: PlacementHint.SystemOnly);
            LocalGpuVa = Gpu.MapAllocation(Local);
            Flat.MapAllocation(System);
            LocalCpuVa = vm.MapToCpu(Cpu, Local, 0, 2 * Page, CpuAddressHalf.User);
            Cpu.Write32(LocalCpuVa, 0x12345678);
        }

        public VideoMemoryManager Vm => Rig.Vm;

        public VidMmTestRig.Snapshot Take() => Rig.Take([Gpu, Flat], [Cpu]);

        public void Rejects(VidMmError expected, Action request)
        {
            var before = Take();
            var ex = Assert.Throws<VidMmException>(request);
            Assert.That(ex!.Error, Is.EqualTo(expected), ex.Message);
            before.AssertSame(Take());
            Assert.That(Cpu.Read32(LocalCpuVa), Is.EqualTo(0x12345678u), "existing CPU mapping still works");
            Assert.That(Rig.Device.Mmu.Walk(Gpu.Descriptor, LocalGpuVa, out _, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
        }

        public void Dispose() => Rig.Dispose();
    }

    [TestCase(0UL)]
    [TestCase(100UL)]
    [TestCase(4097UL)]
    public void UnalignedSize_IsRejected(ulong size)
    {
        using var w = new World();
        w.Rejects(VidMmError.UnalignedSize, () => w.Vm.Allocate(size));
    }

    [TestCase(0UL)]
    [TestCase(2048UL)]
    [TestCase(3 * 4096UL)]
    public void BadAlignment_IsRejected(ulong alignment)
    {
        using var w = new World();
        w.Rejects(VidMmError.InvalidAlignment, () => w.Vm.Allocate(Page, alignment));
    }

    [Test]
    public void OversizedRequest_IsRejected()
    {
        using var w = new World();
        w.Rejects(VidMmError.RequestTooLarge, () => w.Vm.Allocate(64 << 20));
        w.Rejects(VidMmError.RequestTooLarge, () => w.Vm.Allocate(16 << 20, placement: PlacementHint.LocalOnly));
    }

    [Test]
    public void PrimarySurfaceInSystemMemory_IsRejected()
    {
        using var w = new World();
        w.Rejects(VidMmError.InvalidPlacement, () => w.Vm.Allocate(Page, placement: PlacementHint.SystemOnly, flags: AllocationFlags.PrimarySurface));
    }

    [Test]
    public void DoubleFree_AndStaleHandles_AreRejected()
    {
        using var w = new World();
        var h = w.Vm.Allocate(Page);
        w.Vm.Free(h);
        w.Rejects(VidMmError.InvalidHandle, () => w.Vm.Free(h));
        w.Rejects(VidMmError.InvalidHandle, () => w.Vm.Free(default));
        w.Rejects(VidMmError.InvalidHandle, () => w.Vm.Free(new AllocationHandle(9999, 1)));
        w.Rejects(VidMmError.InvalidHandle, () => w.Gpu.MapAllocation(h));
        w.Rejects(VidMmError.InvalidHandle, () => w.Vm.MapToCpu(w.Cpu, h, 0, Page, CpuAddressHalf.User));
    }

    [Test]
    public void FreeWhileMapped_IsRejected()
    {
        using var w = new World();
        w.Rejects(VidMmError.StillMapped, () => w.Vm.Free(w.Local));
        w.Rejects(VidMmError.StillMapped, () => w.Vm.Free(w.System));
    }

    [Test]
    public void UnmapOfSomethingNeverMapped_IsRejected()
    {
        using var w = new World();
        w.Rejects(VidMmError.NotMapped, () => w.Gpu.Unmap(0x7000_0000));
        w.Rejects(VidMmError.NotMapped, () => w.Gpu.Unmap(w.LocalGpuVa + Page));
        w.Rejects(VidMmError.NotMapped, () => w.Vm.UnmapFromCpu(w.Cpu, 0x5000_0000));
        w.Rejects(VidMmError.NotMapped, () => w.Vm.UnmapFromCpu(w.Cpu, w.LocalCpuVa + Page));
        w.Rejects(VidMmError.NotMapped, () => w.Vm.UnmapAndFree(w.Cpu, 0x5000_0000));
        w.Rejects(VidMmError.NotReserved, () => w.Gpu.Release(0x7000_0000));
    }

    [Test]
    public void BadMapRanges_AreRejected()
    {
        using var w = new World();
        var h = w.Vm.Allocate(4 * Page);
        ulong r = w.Gpu.Reserve(8 * Page);
        w.Rejects(VidMmError.RangeOutsideAllocation, () => w.Gpu.Map(r, h, 2 * Page, 4 * Page));
        w.Rejects(VidMmError.UnalignedOffset, () => w.Gpu.Map(r, h, 100, Page));
        w.Rejects(VidMmError.UnalignedOffset, () => w.Gpu.Map(r + 8, h, 0, Page));
        w.Rejects(VidMmError.NotReserved, () => w.Gpu.Map(r + 6 * Page, h, 0, 4 * Page));
        w.Rejects(VidMmError.AlreadyMapped, () => w.Gpu.Map(w.LocalGpuVa, h, 0, Page));
        w.Rejects(VidMmError.RangeOutsideAllocation, () => w.Vm.MapToCpu(w.Cpu, h, 4 * Page, Page, CpuAddressHalf.User));
        w.Rejects(VidMmError.UnalignedSize, () => w.Vm.MapToCpu(w.Cpu, h, 0, 10, CpuAddressHalf.User));
        w.Gpu.Map(r, h, 0, 2 * Page);
        w.Rejects(VidMmError.AlreadyMapped, () => w.Gpu.Map(r + Page, h, 0, 2 * Page));
        w.Rejects(VidMmError.AlreadyReserved, () => w.Gpu.ReserveAt(r + Page, Page));
        // Two adjacent reservations are still two: a mapping may not straddle them.
        w.Gpu.ReserveAt(0x4000_0000, 3 * Page);
        w.Gpu.ReserveAt(0x4000_0000 + 3 * Page, 5 * Page);
        w.Rejects(VidMmError.NotReserved, () => w.Gpu.Map(0x4000_0000 + 2 * Page, h, 0, 2 * Page));
        Assert.That(() => w.Gpu.Map(0x4000_0000 + 4 * Page, h, 0, 4 * Page), Throws.Nothing, "interior of the second reservation");
    }

    [Test]
    public void MappingBeyondTheAddressSpaceLimit_IsRejected()
    {
        using var w = new World();
        var h = w.Vm.Allocate(4 * Page, placement: PlacementHint.SystemOnly);
        w.Rejects(VidMmError.BeyondAddressSpaceLimit, () => w.Flat.ReserveAt((4 << 20) - Page, 2 * Page));
        w.Rejects(VidMmError.BeyondAddressSpaceLimit, () => w.Flat.Reserve(8 << 20));
        w.Rejects(VidMmError.BeyondAddressSpaceLimit, () => w.Flat.Map(4 << 20, h, 0, Page));
        w.Rejects(VidMmError.BeyondAddressSpaceLimit, () => w.Gpu.ReserveAt(1UL << 48, Page));
    }

    [Test]
    public void ExhaustingLocalAndSystemMemory_IsRejected()
    {
        using var w = new World(localBytes: 2 << 20, systemBytes: 1 << 20);
        while (w.Vm.Local.FreeBytes >= 64 * Page) w.Vm.Allocate(64 * Page, placement: PlacementHint.LocalOnly);
        w.Rejects(VidMmError.OutOfLocalMemory, () => w.Vm.Allocate(64 * Page, placement: PlacementHint.LocalOnly));
        w.Rejects(VidMmError.OutOfSystemMemory, () => w.Vm.Allocate(253 * Page, placement: PlacementHint.SystemOnly));
        w.Rejects(VidMmError.OutOfSystemMemory, () => w.Vm.Allocate(253 * Page, placement: PlacementHint.PreferLocal));
    }

    [Test]
    public void ExhaustingTheAperture_IsATypedError()
    {
        using var w = new World(apertureBytes: 8 * Page);
        var big = w.Vm.Allocate(16 * Page, placement: PlacementHint.LocalOnly);
        // 2 pages already used by the world: 6 more fill the window even though they are not one free run.
        ulong va = w.Vm.MapToCpu(w.Cpu, big, 0, 6 * Page, CpuAddressHalf.User);
        w.Cpu.Write32(va + 5 * Page, 99);
        Assert.That(w.Rig.Device.Memory.Read32(w.Vm.PhysicalAddressOf(big, 5 * Page)), Is.EqualTo(99u));
        w.Rejects(VidMmError.OutOfApertureSpace, () => w.Vm.MapToCpu(w.Cpu, big, 8 * Page, Page, CpuAddressHalf.Kernel));
        // System memory does not need the aperture.
        var sys = w.Vm.Allocate(Page, placement: PlacementHint.SystemOnly);
        Assert.That(() => w.Vm.MapToCpu(w.Cpu, sys, 0, Page, CpuAddressHalf.User), Throws.Nothing);
    }

    [Test]
    public void ExhaustingGpuVirtualAddressSpace_IsRejected()
    {
        using var w = new World();
        while (true)
        {
            try { w.Flat.Reserve(64 * Page); }
            catch (VidMmException e) when (e.Error == VidMmError.OutOfVirtualAddressSpace) { break; }
        }
        w.Rejects(VidMmError.OutOfVirtualAddressSpace, () => w.Flat.Reserve(64 * Page));
    }

    [Test]
    public void PageTablesThatCannotBeAllocated_LeaveNoHalfBuiltTables()
    {
        using var w = new World(localBytes: 2 << 20, systemBytes: 1 << 20);
        var h = w.Vm.Allocate(Page, placement: PlacementHint.SystemOnly);
        // Fill both memories so no page-table page is left.
        while (w.Vm.Local.FreeBytes > 0) w.Vm.Allocate(Page, placement: PlacementHint.LocalOnly);
        while (w.Vm.System.FreeBytes > 0) w.Vm.Allocate(Page, placement: PlacementHint.SystemOnly);
        ulong far = w.Gpu.Reserve(Page, 1UL << 40); // a VA whose level-2..0 tables do not exist yet
        w.Rejects(VidMmError.OutOfSystemMemory, () => w.Gpu.Map(far, h, 0, Page));
    }
}
