using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>
/// The TLB caches pages of both memories, and every hit path reports the memory a page lies in: the single-page
/// translation's hit serves local memory only and finds a cached system-memory page on its slow path (still without a
/// walk), the small-write hit path serves both (seed 001 §5.4.1; native-layout.md §7.2; docs/performance.md goal 5).
/// </summary>
public class TlbMemoryLocationTests
{
    private const ulong Va = 0x4000_0000;
    private const ulong LocalFrame = 0x3000, SystemFrame = 0x6000;
    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;
    private PageTableBuilder _tables = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = DeviceMemory.Allocate(8UL << 20, 1UL << 20);
        _mmu = new GpuMmu(_memory);
        _tables = new PageTableBuilder(_memory, MemoryLocation.Local, 4UL << 20);
        _tables.Map(Va, PageTableEntry.Create(MemoryLocation.Local, LocalFrame));
        _tables.Map(Va + 4096, PageTableEntry.Create(MemoryLocation.System, SystemFrame));
        _tables.Map(Va + 2 * 4096, PageTableEntry.Create(MemoryLocation.System, SystemFrame + 4096, writable: false));
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    [TestCase(false)]
    [TestCase(true)]
    public void GivenCachedPagesOfBothMemories_WhenTranslatedAgain_ThenEachReportsItsOwnMemoryAndNoneWalks(bool countHits)
    {
        var tlb = new Tlb(64) { CountHits = countHits };
        var space = _tables.Space(asid: 9);
        _mmu.Translate(tlb, space, Va, AccessKind.Read, false, out _);
        _mmu.Translate(tlb, space, Va + 4096, AccessKind.Read, false, out _);
        long misses = tlb.Misses;

        Assert.That(_mmu.Translate(tlb, space, Va + 0x18, AccessKind.Write, false, out var local), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(_mmu.Translate(tlb, space, Va + 4096 + 0x18, AccessKind.Write, false, out var system), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((local.Location, local.PhysicalOffset, local.Length), Is.EqualTo((MemoryLocation.Local, LocalFrame + 0x18, 4096UL - 0x18)));
        Assert.That((system.Location, system.PhysicalOffset, system.Length), Is.EqualTo((MemoryLocation.System, SystemFrame + 0x18, 4096UL - 0x18)));
        Assert.That(tlb.Misses, Is.EqualTo(misses), "both pages were found in the TLB");
        if (countHits) Assert.That(tlb.Hits, Is.EqualTo(2));
    }

    [Test]
    public void GivenACachedReadOnlySystemMemoryPage_WhenWrittenThroughTheCache_ThenTheWriteIsRefusedWithoutAWalk()
    {
        var tlb = new Tlb(64);
        var space = _tables.Space(asid: 9);
        Assert.That(_mmu.Translate(tlb, space, Va + 2 * 4096, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.Location, Is.EqualTo(MemoryLocation.System));
        long misses = tlb.Misses;

        Assert.That(_mmu.Translate(tlb, space, Va + 2 * 4096, AccessKind.Write, false, out _), Is.EqualTo(TranslationStatus.WriteProtected));
        Assert.That(tlb.Misses, Is.EqualTo(misses));
    }

    [Test]
    public void GivenCachedPagesOfBothMemories_WhenTheSmallWriteHitPathLooksThemUp_ThenBothHitWithTheirLocation()
    {
        var tlb = new Tlb(64);
        var space = _tables.Space(asid: 9);
        _mmu.Translate(tlb, space, Va, AccessKind.Read, false, out _);
        _mmu.Translate(tlb, space, Va + 4096, AccessKind.Read, false, out _);
        int write = Tlb.AccessClass(AccessKind.Write, false);

        Assert.That(tlb.TryHit(9, Va + 8, write, out ulong data, out ulong offset), Is.True);
        Assert.That(((MemoryLocation)((data >> 2) & 3), offset), Is.EqualTo((MemoryLocation.Local, LocalFrame + 8)));
        Assert.That(tlb.TryHit(9, Va + 4096 + 8, write, out data, out offset), Is.True);
        Assert.That(((MemoryLocation)((data >> 2) & 3), offset), Is.EqualTo((MemoryLocation.System, SystemFrame + 8)));

        Assert.That(tlb.TryHitLocal(9, Va + 8, write, out offset) && offset == LocalFrame + 8, Is.True);
        Assert.That(tlb.TryHitLocal(9, Va + 4096 + 8, write, out _), Is.False, "system memory: found on the slow path instead");
        Assert.That(tlb.TryHit(8, Va + 8, write, out _, out _) || tlb.TryHitLocal(8, Va + 8, write, out _), Is.False, "another ASID");
    }
}
