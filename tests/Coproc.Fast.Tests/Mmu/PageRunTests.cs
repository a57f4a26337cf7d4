using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>Page runs: physically contiguous pages merge, and a run costs one walk per leaf table, not one per page.</summary>
public class PageRunTests
{
    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;
    private PageTableBuilder _tables = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = DeviceMemory.Allocate(16UL << 20, 1UL << 20);
        _mmu = new GpuMmu(_memory);
        _tables = new PageTableBuilder(_memory, MemoryLocation.Local, 12UL << 20);
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    [Test]
    public void ContiguousPages_MergeIntoOneRun_WithOneWalk()
    {
        ulong va = 0x1_0000_0000;
        _tables.MapRange(va, MemoryLocation.Local, 0x10_0000, 16);
        long walks = _mmu.Walks;
        Assert.That(_mmu.TranslateRun(null, _tables.Space(), va + 0x10, 64 * 1024, AccessKind.Write, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((run.PhysicalOffset, run.Length), Is.EqualTo((0x10_0010UL, 64 * 1024UL - 0x10)));
        Assert.That(_mmu.Walks - walks, Is.EqualTo(1));
    }

    [Test]
    public void RunEnds_AtADiscontinuity_ALocationChange_AReadOnlyPageForWrites_AndMaxLength()
    {
        ulong va = 0x2000_0000;
        _tables.MapRange(va, MemoryLocation.Local, 0x10_0000, 4);
        _tables.MapRange(va + 4 * 4096, MemoryLocation.Local, 0x20_0000, 2);          // discontinuity
        _tables.MapRange(va + 6 * 4096, MemoryLocation.System, 0x20_2000 - 0x20_0000, 1); // location change
        _tables.MapRange(va + 7 * 4096, MemoryLocation.System, 0x3000, 1, writable: false);
        var space = _tables.Space();

        ulong Len(ulong at, ulong max, AccessKind a)
        {
            Assert.That(_mmu.TranslateRun(null, space, at, max, a, false, out var r), Is.EqualTo(TranslationStatus.Ok));
            return r.Length;
        }
        Assert.That(Len(va, 1 << 20, AccessKind.Read), Is.EqualTo(4 * 4096UL));
        Assert.That(Len(va + 4 * 4096, 1 << 20, AccessKind.Read), Is.EqualTo(2 * 4096UL));
        Assert.That(Len(va + 6 * 4096, 1 << 20, AccessKind.Read), Is.EqualTo(2 * 4096UL), "system 0x2000 and 0x3000 are contiguous");
        Assert.That(Len(va + 6 * 4096, 1 << 20, AccessKind.Write), Is.EqualTo(4096UL), "the read-only page ends a write run");
        Assert.That(Len(va + 100, 5000, AccessKind.Read), Is.EqualTo(5000UL));
    }

    [Test]
    public void DummyPages_MergeIntoOneRun_AcrossUnmappedDirectories()
    {
        var space = _tables.Space(faultOnInvalid: false);
        Assert.That(_mmu.TranslateRun(null, space, 0x10_0000_0000, 8UL << 20, AccessKind.Write, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((run.IsDummy, run.Length), Is.EqualTo((true, 8UL << 20)));
        Assert.That(_mmu.Walks, Is.EqualTo(1), "one invalid root entry covers 512 GiB");
    }

    [Test]
    public void LargePage_IsOneRunOfTwoMiB_FromOneWalk()
    {
        ulong va = 0x4000_0000;
        _tables.MapLarge(va, MemoryLocation.Local, 4UL << 20);
        Assert.That(_mmu.TranslateRun(null, _tables.Space(), va, 2UL << 20, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((run.PhysicalOffset, run.Length), Is.EqualTo((4UL << 20, 2UL << 20)));
        Assert.That(_mmu.Walks, Is.EqualTo(1));
    }

    [Test]
    public void RunCrossingALeafTableBoundary_WalksOncePerLeafTable()
    {
        ulong va = 0x4000_0000 + (2UL << 20) - 4 * 4096; // last 4 pages of one L0 table, first 4 of the next
        _tables.MapRange(va, MemoryLocation.Local, 0x10_0000, 8);
        Assert.That(_mmu.TranslateRun(null, _tables.Space(), va, 8 * 4096, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.Length, Is.EqualTo(8 * 4096UL));
        Assert.That(_mmu.Walks, Is.EqualTo(2));
    }

    [Test]
    public void Copy_TranslatesOncePerRun_NotOncePerPage()
    {
        ulong src = 0x1000_0000, dst = 0x2000_0000;
        _tables.MapRange(src, MemoryLocation.Local, 0x10_0000, 16);           // one 64 KiB run
        _tables.MapRange(dst, MemoryLocation.Local, 0x20_0000, 8);            // two 32 KiB runs
        _tables.MapRange(dst + 8 * 4096, MemoryLocation.System, 0x1_0000, 8);
        var srcBytes = _memory.GetSpan(PhysicalAddress.Local(0x10_0000), 64 * 1024);
        for (int i = 0; i < srcBytes.Length; i++) srcBytes[i] = (byte)(i * 7);
        var vm = new GpuVirtualMemory(_mmu, _memory, new Tlb(64), _tables.Space(), false);

        Assert.That(vm.Copy(dst, src, 64 * 1024, out ulong done, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(done, Is.EqualTo(64 * 1024UL));
        Assert.That(_mmu.Walks, Is.EqualTo(3), "src 0..64K, dst 0..32K, dst 32K.. — each side keeps its run until it is used up: 3 walks for 32 pages");
        Assert.That(_memory.GetSpan(PhysicalAddress.Local(0x20_0000), 32 * 1024).ToArray(),
            Is.EqualTo(_memory.GetSpan(PhysicalAddress.Local(0x10_0000), 32 * 1024).ToArray()));
        Assert.That(_memory.GetSpan(PhysicalAddress.System(0x1_0000), 32 * 1024).ToArray(),
            Is.EqualTo(_memory.GetSpan(PhysicalAddress.Local(0x10_8000), 32 * 1024).ToArray()));
    }

    [Test]
    public void Copy_ContiguousSourceIntoScatteredDestination_WalksTheSourceOncePerLeafTable()
    {
        // Given a 4 MiB source in one physical run and a destination whose 1,024 pages are scattered (reversed order)
        const int pages = 1024;
        ulong src = 0x4000_0000, dst = 0x8000_0000;
        _tables.MapRange(src, MemoryLocation.Local, 0x10_0000, pages);
        for (int i = 0; i < pages; i++)
            _tables.MapRange(dst + (ulong)i * 4096, MemoryLocation.Local, 0x60_0000 + (ulong)(pages - 1 - i) * 4096, 1);
        var srcBytes = _memory.GetSpan(PhysicalAddress.Local(0x10_0000), pages * 4096);
        for (int i = 0; i < srcBytes.Length; i++) srcBytes[i] = (byte)(i * 13 + (i >> 12));
        var vm = new GpuVirtualMemory(_mmu, _memory, new Tlb(64), _tables.Space(), false);

        // When the whole range is copied
        Assert.That(vm.Copy(dst, src, pages * 4096UL, out ulong done, out _), Is.EqualTo(TranslationStatus.Ok));

        // Then every page lands in its frame, the source costs one walk per leaf table (2) and each destination page one
        // (plus one: the run of the last page of the destination's first leaf table looks into the next table)
        Assert.That(done, Is.EqualTo(pages * 4096UL));
        for (int i = 0; i < pages; i += 97)
            Assert.That(_memory.GetSpan(PhysicalAddress.Local(0x60_0000 + (ulong)(pages - 1 - i) * 4096), 4096).ToArray(),
                Is.EqualTo(srcBytes.Slice(i * 4096, 4096).ToArray()), $"page {i}");
        Assert.That(_mmu.Walks, Is.EqualTo(2 + pages + 1), "not a re-walk of the rest of the source for every destination page");
    }

    [Test]
    public void RunExtension_ContinuesAcrossSoftwareBits_AndStopsAtARightTheAccessLacks()
    {
        // Given 8 contiguous pages where page 3 differs only in its software bits and page 6 is read-only
        ulong va = 0x5000_0000;
        _tables.MapRange(va, MemoryLocation.Local, 0x10_0000, 8);
        _tables.Map(va + 3 * 4096, PageTableEntry.Create(MemoryLocation.Local, 0x10_3000, software: 5));
        _tables.Map(va + 6 * 4096, PageTableEntry.Create(MemoryLocation.Local, 0x10_6000, writable: false));
        var space = _tables.Space();

        // When runs are translated from page 0 for a read and for a write
        Assert.That(_mmu.TranslateRun(null, space, va, 8 * 4096, AccessKind.Read, false, out var read), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(_mmu.TranslateRun(null, space, va, 8 * 4096, AccessKind.Write, false, out var write), Is.EqualTo(TranslationStatus.Ok));

        // Then the read covers all 8 pages and the write ends before the read-only page
        Assert.That(read.Length, Is.EqualTo(8 * 4096UL));
        Assert.That(write.Length, Is.EqualTo(6 * 4096UL));
    }

    [Test]
    public void RunExtension_StopsAtTheEndOfPhysicalMemory_WhichTheNextCallReports()
    {
        // Given 4 contiguous pages whose last two frames lie past the end of local memory (16 MiB)
        ulong va = 0x6000_0000, frame = (16UL << 20) - 2 * 4096;
        _tables.MapRange(va, MemoryLocation.Local, frame - 2 * 4096, 2);
        _tables.MapRange(va + 2 * 4096, MemoryLocation.Local, frame, 4);
        var space = _tables.Space();

        // When a run is translated over all of them
        Assert.That(_mmu.TranslateRun(null, space, va, 6 * 4096, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));

        // Then it ends with the last page inside memory, and the next page reports the bad frame
        Assert.That(run.Length, Is.EqualTo(4 * 4096UL));
        Assert.That(_mmu.TranslateRun(null, space, va + run.Length, 4096, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
    }

    [Test]
    public void RunExtension_StopsAtAnUnmappedPage_WhichTheNextCallReports()
    {
        ulong va = 0x3000_0000;
        _tables.MapRange(va, MemoryLocation.Local, 0x10_0000, 2);
        var space = _tables.Space(faultOnInvalid: true);
        Assert.That(_mmu.TranslateRun(null, space, va, 4 * 4096, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.Length, Is.EqualTo(2 * 4096UL));
        Assert.That(_mmu.TranslateRun(null, space, va + run.Length, 2 * 4096, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
    }
}
