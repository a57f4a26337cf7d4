using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.GuestRam;

/// <summary>
/// Translation over guest RAM in adjacent ranges (native-layout.md §20.6): a page run never crosses from one range into
/// the next (one host pointer per run), and a flat page table may span the boundary.
/// </summary>
public sealed unsafe class SplitRangeTranslationTests
{
    private const ulong Block = 64 * 1024;
    private NativeRegion _a = null!, _b = null!;
    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;

    [SetUp]
    public void SetUp()
    {
        _a = NativeRegion.Allocate(Block);
        _b = NativeRegion.Allocate(Block);
        _memory = new DeviceMemory(NativeRegion.Allocate(2UL << 20),
            [new GuestRamRange(0, NativeRegion.Wrap(_a.Base, Block)), new GuestRamRange(Block, NativeRegion.Wrap(_b.Base, Block))]);
        _mmu = new GpuMmu(_memory);
    }

    [TearDown]
    public void TearDown()
    {
        _memory.Dispose();
        _a.Dispose();
        _b.Dispose();
    }

    [Test]
    public void GivenAFlatTableAcrossTheBoundary_WhenPagesOnBothSidesAreTranslated_ThenEachEntryIsReadFromItsRange_AndRunsStopAtTheBoundary()
    {
        // Four entries at guest-physical Block - 16: two in range A, two in range B. They map frames 14..17 of system
        // memory, which are contiguous guest-physically (56 K .. 72 K) but straddle the ranges.
        ulong table = Block - 16;
        for (ulong i = 0; i < 4; i++)
            _memory.Write64(PhysicalAddress.System(table + i * 8),
                PageTableEntry.Create(MemoryLocation.System, (14 + i) * 4096, writable: true).Raw);
        var space = AddressSpaceDescriptor.Flat(PhysicalAddress.System(table), 4, asid: 1, faultOnInvalid: true);

        var s = _mmu.TranslateRun(null, space, 0, 4 * 4096, AccessKind.Write, privileged: true, out var first);
        Assert.That(s, Is.EqualTo(TranslationStatus.Ok));
        Assert.That((first.PhysicalOffset, first.Length), Is.EqualTo((14 * 4096UL, 2 * 4096UL)), "the run ends at range A's end");
        s = _mmu.TranslateRun(null, space, 2 * 4096, 2 * 4096, AccessKind.Write, privileged: true, out var second);
        Assert.That(s, Is.EqualTo(TranslationStatus.Ok));
        Assert.That((second.PhysicalOffset, second.Length), Is.EqualTo((16 * 4096UL, 2 * 4096UL)), "entries 2-3 read from range B");
        var view = new GpuVirtualMemory(_mmu, _memory, null, space, privileged: true);
        Assert.That(view.PointerOf(first) == _a.Base + 14 * 4096);
        Assert.That(view.PointerOf(second) == _b.Base);
    }

    [Test]
    public void GivenAPageBeyondTheLastRange_WhenTranslated_ThenItIsPhysicalOutOfRange()
    {
        _memory.Write64(PhysicalAddress.System(0), PageTableEntry.Create(MemoryLocation.System, 2 * Block, writable: true).Raw);
        var space = AddressSpaceDescriptor.Flat(PhysicalAddress.System(0), 1, asid: 1, faultOnInvalid: true);
        Assert.That(_mmu.Translate(null, space, 0, AccessKind.Read, privileged: true, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
    }
}
