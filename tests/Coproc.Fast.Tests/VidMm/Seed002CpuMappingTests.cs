using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>One test per claim of seed 002 (device memory allocated and mapped into CPU address spaces on demand).</summary>
public class Seed002CpuMappingTests
{
    private const ulong Page = VidMmTestRig.Page;

    private static void AssertCpuReachesDevice(VidMmTestRig rig, CpuAddressSpace cpu, ulong va, AllocationHandle h, ulong allocOffset, ulong bytes)
    {
        for (ulong o = 0; o < bytes; o += Page)
        {
            uint value = (uint)(0xA5000000 | (o >> 12) | ((ulong)h.Index << 16));
            cpu.Write32(va + o + 12, value);
            Assert.That(rig.Device.Memory.Read32(rig.Vm.PhysicalAddressOf(h, allocOffset + o).Add(12)), Is.EqualTo(value), $"page +0x{o:X}");
            rig.Device.Memory.Write32(rig.Vm.PhysicalAddressOf(h, allocOffset + o).Add(40), ~value);
            Assert.That(cpu.Read32(va + o + 40), Is.EqualTo(~value));
        }
    }

    [Test]
    public void Seed002_AllocateOnRequest_GivesMemoryTheCoprocessorCanUse()
    {
        using var rig = new VidMmTestRig();
        var h = rig.Vm.Allocate(4 * Page);
        var gpu = rig.Vm.CreateGpuAddressSpace();
        ulong gva = gpu.MapAllocation(h);
        rig.Device.Memory.Write64(rig.Vm.PhysicalAddressOf(h, 3 * Page), 0x1122334455667788);
        Assert.That(rig.Device.Mmu.Translate(null, gpu.Descriptor, gva + 3 * Page, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(rig.Device.Memory.Read64(run.Address), Is.EqualTo(0x1122334455667788UL));
    }

    [TestCase(PlacementHint.LocalOnly)]
    [TestCase(PlacementHint.SystemOnly)]
    public void Seed002_MapAtAnyTimeAfterStartup_CpuReachesExactlyTheDeviceBytes(PlacementHint placement)
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        // Work happens first; the map request comes later, not at initialisation.
        var other = rig.Vm.Allocate(16 * Page);
        var gpu = rig.Vm.CreateGpuAddressSpace();
        gpu.MapAllocation(other);
        var h = rig.Vm.Allocate(6 * Page, placement: placement);
        ulong va = rig.Vm.MapToCpu(cpu, h, Page, 4 * Page, CpuAddressHalf.User);
        AssertCpuReachesDevice(rig, cpu, va, h, Page, 4 * Page);
        var bytes = new byte[3 * Page];
        new Random(7).NextBytes(bytes);
        cpu.Write(va + 100, bytes);
        var check = new byte[bytes.Length];
        cpu.Read(va + 100, check);
        Assert.That(check, Is.EqualTo(bytes));
    }

    [Test]
    public void Seed002_LocalMemory_IsReachedThroughTheAperture_SystemMemoryDirectly()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var local = rig.Vm.Allocate(2 * Page, placement: PlacementHint.LocalOnly);
        var sys = rig.Vm.Allocate(2 * Page, placement: PlacementHint.SystemOnly);
        ulong freeAperture = rig.Vm.Aperture.FreePages;
        ulong lva = rig.Vm.MapToCpu(cpu, local, 0, 2 * Page, CpuAddressHalf.User);
        ulong sva = rig.Vm.MapToCpu(cpu, sys, 0, 2 * Page, CpuAddressHalf.User);
        Assert.That(rig.Vm.Aperture.FreePages, Is.EqualTo(freeAperture - 2), "only the local mapping takes aperture pages");
        Assert.That(cpu.TryGetEntry(lva, out var le) && le.IsAperture, Is.True);
        Assert.That(cpu.TryGetEntry(sva, out var se) && !se.IsAperture, Is.True);
        // The aperture PTE in local memory, in the documented format, redirects to the allocation's page.
        var apte = new PageTableEntry(rig.Device.Memory.Read64(rig.Vm.Aperture.TableAddress.Add((le.Frame >> 12) * 8)));
        Assert.That(apte.IsValid, Is.True);
        Assert.That(apte.Location, Is.EqualTo(MemoryLocation.Local));
        Assert.That(apte.FrameOffset, Is.EqualTo(rig.Vm.PhysicalAddressOf(local, 0).Offset));
        Assert.That(cpu.TryTranslate(sva + 5, out var spa) && spa == rig.Vm.PhysicalAddressOf(sys, 5), Is.True);
    }

    [Test]
    public void Seed002_Unmap_AddressesNoLongerReferToMemory()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(2 * Page);
        ulong va = rig.Vm.MapToCpu(cpu, h, 0, 2 * Page, CpuAddressHalf.User);
        cpu.Write32(va + Page, 1);
        rig.Vm.UnmapFromCpu(cpu, va);
        var ex = Assert.Throws<CpuPageFaultException>(() => cpu.Read32(va + Page + 4));
        Assert.That(ex!.Address, Is.EqualTo(va + Page + 4));
        Assert.That(ex.Reason, Is.EqualTo(CpuFaultReason.NotMapped));
        Assert.That(Assert.Throws<CpuPageFaultException>(() => cpu.Write32(va, 2))!.IsWrite, Is.True);
        Assert.That(rig.Vm.MapCountOf(h), Is.Zero);
    }

    [Test]
    public void Seed002_MappingModifiesPageTableEntries_UnmappingClearsThem()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(3 * Page, placement: PlacementHint.LocalOnly);
        ulong va = rig.Vm.MapToCpu(cpu, h, 0, 3 * Page, CpuAddressHalf.User);
        Assert.That(cpu.MappedPages, Is.EqualTo(3));
        cpu.TryGetEntry(va, out var e);
        ulong apertureEntry = rig.Vm.Aperture.TableAddress.Offset + (e.Frame >> 12) * 8;
        Assert.That(rig.Device.Memory.Read64(PhysicalAddress.Local(apertureEntry)), Is.Not.Zero);
        rig.Vm.UnmapFromCpu(cpu, va);
        Assert.That(cpu.MappedPages, Is.Zero);
        Assert.That(cpu.TryGetEntry(va, out _), Is.False);
        Assert.That(rig.Device.Memory.Read64(PhysicalAddress.Local(apertureEntry)), Is.Zero, "aperture entry cleared");
    }

    [Test]
    public void Seed002_FrameBuffer_PixelsWrittenByTheCpuLandInTheContiguousScanOutRange()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        const int width = 64, height = 32; // 32-bit pixels: 8 KiB per 32 rows of 64 px
        var (fb, va) = rig.Vm.AllocateAndMap(cpu, width * height * 4, CpuAddressHalf.User, flags: AllocationFlags.PrimarySurface);
        Assert.That(rig.Vm.ExtentsOf(fb), Has.Length.EqualTo(1), "scan-out needs one physical range");
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                cpu.Write32(va + (ulong)(y * width + x) * 4, 0xFF000000u | (uint)(y << 8) | (uint)x);
        var scanOut = rig.Device.Memory.GetSpan(rig.Vm.ExtentsOf(fb)[0].Address, width * height * 4);
        var pixels = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(scanOut);
        Assert.That(pixels[17 * width + 5], Is.EqualTo(0xFF000000u | (17 << 8) | 5));
        Assert.That(pixels[height * width - 1], Is.EqualTo(0xFF000000u | ((height - 1) << 8) | (width - 1)));
    }

    [Test]
    public void Seed002_CommandBuffer_FilledThroughACpuMapping_IsReadByTheGpuThroughItsPageTables()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var gpu = rig.Vm.CreateGpuAddressSpace();
        var (cb, va) = rig.Vm.AllocateAndMap(cpu, 2 * Page, CpuAddressHalf.User, PlacementHint.SystemOnly, AllocationFlags.CommandBuffer);
        ulong gva = gpu.MapAllocation(cb, GpuMappingFlags.ReadOnly);
        for (uint i = 0; i < 2048; i++) cpu.Write32(va + i * 4, 0x10000000 + i);
        for (uint i = 0; i < 2048; i += 511)
        {
            Assert.That(rig.Device.Mmu.Translate(null, gpu.Descriptor, gva + i * 4, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
            Assert.That(rig.Device.Memory.Read32(run.Address), Is.EqualTo(0x10000000 + i));
        }
    }

    [Test]
    public void Seed002_SecondPortion_IsMappedIntoASecondRegion()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(8 * Page);
        ulong a = rig.Vm.MapToCpu(cpu, h, 0, 2 * Page, CpuAddressHalf.User);
        ulong b = rig.Vm.MapToCpu(cpu, h, 5 * Page, 3 * Page, CpuAddressHalf.User);
        Assert.That(b >= a + 2 * Page || b + 3 * Page <= a, Is.True, "disjoint regions");
        AssertCpuReachesDevice(rig, cpu, a, h, 0, 2 * Page);
        AssertCpuReachesDevice(rig, cpu, b, h, 5 * Page, 3 * Page);
        Assert.That(VideoMemoryManager.CpuMappingCount(cpu), Is.EqualTo(2));
    }

    [Test]
    public void Seed002_OverlappingPortions_InDisjointRegions_AreAliases()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(8 * Page, placement: PlacementHint.LocalOnly);
        ulong a = rig.Vm.MapToCpu(cpu, h, 0, 4 * Page, CpuAddressHalf.User);   // pages 0..3
        ulong b = rig.Vm.MapToCpu(cpu, h, 2 * Page, 4 * Page, CpuAddressHalf.User); // pages 2..5: overlaps 2..3
        Assert.That(b >= a + 4 * Page || b + 4 * Page <= a, Is.True, "virtual regions do not overlap");
        Assert.That(VideoMemoryManager.CpuMappingCount(cpu), Is.EqualTo(2), "not inside the first: a new mapping");
        cpu.Write32(a + 3 * Page + 8, 0xDEADBEEF);
        Assert.That(cpu.Read32(b + Page + 8), Is.EqualTo(0xDEADBEEFu), "same device byte through both regions");
        cpu.Write32(b + 8, 0x0BADF00D);
        Assert.That(cpu.Read32(a + 2 * Page + 8), Is.EqualTo(0x0BADF00Du));
    }

    [Test]
    public void Seed002_NonContiguousPortions_MapToOneContiguousRegion()
    {
        using var rig = new VidMmTestRig(localBytes: 2 << 20);
        var vm = rig.Vm;
        var all = new List<AllocationHandle>();
        while (vm.Local.FreeBytes >= 4 * Page) all.Add(vm.Allocate(4 * Page, placement: PlacementHint.LocalOnly));
        for (int i = 0; i < all.Count; i += 2) vm.Free(all[i]);
        var h = vm.Allocate(12 * Page, placement: PlacementHint.LocalOnly);
        var extents = vm.ExtentsOf(h);
        Assert.That(extents.Length, Is.GreaterThan(1));
        var cpu = vm.CreateCpuAddressSpace();
        ulong va = vm.MapToCpu(cpu, h, 0, 12 * Page, CpuAddressHalf.Kernel);
        var data = new byte[12 * Page];
        new Random(3).NextBytes(data);
        cpu.Write(va, data); // one contiguous virtual write
        ulong o = 0;
        foreach (var e in extents)
        {
            Assert.That(rig.Device.Memory.GetSpan(e.Address, (int)e.Bytes).SequenceEqual(data.AsSpan((int)o, (int)e.Bytes)), Is.True);
            o += e.Bytes;
        }
    }

    [Test]
    public void Seed002_KernelAndUserSpace_EachRequestSaysWhich()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(2 * Page);
        ulong user = rig.Vm.MapToCpu(cpu, h, 0, 2 * Page, CpuAddressHalf.User);
        ulong kernel = rig.Vm.MapToCpu(cpu, h, 0, 2 * Page, CpuAddressHalf.Kernel);
        Assert.That(CpuAddressSpace.HalfOf(user), Is.EqualTo(CpuAddressHalf.User));
        Assert.That(CpuAddressSpace.HalfOf(kernel), Is.EqualTo(CpuAddressHalf.Kernel));
        Assert.That(kernel, Is.GreaterThanOrEqualTo(CpuAddressSpace.KernelBase));
        Assert.That(user, Is.LessThan(CpuAddressSpace.UserEnd));
        Assert.That(VideoMemoryManager.CpuMappingCount(cpu), Is.EqualTo(2), "a user mapping is not reused for a kernel request");
        cpu.Write32(kernel + 4, 77);
        Assert.That(cpu.Read32(user + 4), Is.EqualTo(77u));
    }

    [Test]
    public void Seed002_AllocateAndMap_AllocatesFromTheHeapThenMaps()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        ulong free = rig.Vm.Local.FreeBytes;
        var (h, va) = rig.Vm.AllocateAndMap(cpu, 3 * Page, CpuAddressHalf.User);
        Assert.That(rig.Vm.IsLive(h), Is.True);
        Assert.That(rig.Vm.Local.FreeBytes, Is.EqualTo(free - 3 * Page));
        Assert.That(rig.Vm.AllocationAt(cpu, va), Is.EqualTo(h));
        AssertCpuReachesDevice(rig, cpu, va, h, 0, 3 * Page);
    }

    [Test]
    public void Seed002_AllocateAndMap_WhenTheMapFails_FreesTheAllocation()
    {
        using var rig = new VidMmTestRig(apertureBytes: 16 * Page);
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var before = rig.Take(cpu: [cpu]);
        var ex = Assert.Throws<VidMmException>(() => rig.Vm.AllocateAndMap(cpu, 32 * Page, CpuAddressHalf.User, PlacementHint.LocalOnly));
        Assert.That(ex!.Error, Is.EqualTo(VidMmError.OutOfApertureSpace));
        before.AssertSame(rig.Take(cpu: [cpu]));
    }

    [Test]
    public void Seed002_UnmapAndFree_UnmapsFirstThenReturnsTheMemory()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        ulong free = rig.Vm.System.FreeBytes;
        var (h, va) = rig.Vm.AllocateAndMap(cpu, 4 * Page, CpuAddressHalf.Kernel, PlacementHint.SystemOnly);
        rig.Vm.UnmapAndFree(cpu, va);
        Assert.That(rig.Vm.IsLive(h), Is.False);
        Assert.That(rig.Vm.System.FreeBytes, Is.EqualTo(free));
        Assert.That(Assert.Throws<CpuPageFaultException>(() => cpu.Read32(va))!.Address, Is.EqualTo(va));
    }

    [Test]
    public void Seed002_UnmapAndFree_RefusesWhileAnotherMappingRemains_AndChangesNothing()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var (h, va) = rig.Vm.AllocateAndMap(cpu, 4 * Page, CpuAddressHalf.User);
        rig.Vm.MapToCpu(cpu, h, 0, 4 * Page, CpuAddressHalf.Kernel);
        var before = rig.Take(cpu: [cpu]);
        Assert.That(Assert.Throws<VidMmException>(() => rig.Vm.UnmapAndFree(cpu, va))!.Error, Is.EqualTo(VidMmError.StillMapped));
        before.AssertSame(rig.Take(cpu: [cpu]));
        Assert.That(cpu.Read32(va), Is.Zero);
    }

    [Test]
    public void Seed002_MapRequestInsideExistingMapping_ReusesIt()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(8 * Page, placement: PlacementHint.LocalOnly);
        ulong outer = rig.Vm.MapToCpu(cpu, h, Page, 6 * Page, CpuAddressHalf.User);
        ulong aperture = rig.Vm.Aperture.FreePages;
        ulong inner = rig.Vm.MapToCpu(cpu, h, 5 * Page, 2 * Page, CpuAddressHalf.User); // ends exactly where the outer ends
        Assert.That(inner, Is.EqualTo(outer + 4 * Page), "the address inside the existing mapping");
        ulong whole = rig.Vm.MapToCpu(cpu, h, Page, 6 * Page, CpuAddressHalf.User); // the very same portion
        Assert.That(whole, Is.EqualTo(outer));
        rig.Vm.UnmapFromCpu(cpu, whole);
        Assert.That(VideoMemoryManager.CpuMappingCount(cpu), Is.EqualTo(1));
        Assert.That(cpu.MappedPages, Is.EqualTo(6));
        Assert.That(rig.Vm.Aperture.FreePages, Is.EqualTo(aperture), "no new aperture pages");
        // Reference counted: the first unmap keeps the PTEs, the last removes them.
        rig.Vm.UnmapFromCpu(cpu, outer);
        Assert.That(cpu.MappedPages, Is.EqualTo(6));
        cpu.Write32(inner, 5);
        Assert.That(Assert.Throws<VidMmException>(() => rig.Vm.UnmapFromCpu(cpu, outer))!.Error, Is.EqualTo(VidMmError.NotMapped),
            "that reference was already dropped");
        rig.Vm.UnmapFromCpu(cpu, inner);
        Assert.That(cpu.MappedPages, Is.Zero);
        Assert.That(rig.Vm.MapCountOf(h), Is.Zero);
    }

    [Test]
    public void ReadOnlyCpuMapping_RejectsWrites_WithATypedFault()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(Page, placement: PlacementHint.SystemOnly);
        ulong va = rig.Vm.MapToCpu(cpu, h, 0, Page, CpuAddressHalf.User, writable: false);
        Assert.That(Assert.Throws<CpuPageFaultException>(() => cpu.Write32(va, 1))!.Reason, Is.EqualTo(CpuFaultReason.WriteProtected));
        Assert.That(cpu.Read32(va), Is.Zero);
        ulong rw = rig.Vm.MapToCpu(cpu, h, 0, Page, CpuAddressHalf.User);
        Assert.That(rw, Is.Not.EqualTo(va), "a writable request is not served by a read-only mapping");
    }
}
