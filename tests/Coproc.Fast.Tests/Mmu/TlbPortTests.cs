using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>
/// A TLB port (a client's hit path bound to one ASID and access class) answers exactly what the full translation
/// answers from the same TLB: the same page and rights, nothing of another address space, nothing above the 48-bit VA
/// width, and nothing once the page is invalidated (seed 001 §5.7; native-layout.md §5).
/// </summary>
public class TlbPortTests
{
    private const ulong Va = 0x4000_0000;
    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;
    private PageTableBuilder _tables = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = DeviceMemory.Allocate(8UL << 20, 1UL << 20);
        _mmu = new GpuMmu(_memory);
        _tables = new PageTableBuilder(_memory, MemoryLocation.Local, 4UL << 20);
        _tables.Map(Va, PageTableEntry.Create(MemoryLocation.Local, 0x3000, writable: false));
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    private static int Read => Tlb.AccessClass(AccessKind.Read, false);
    private static int Write => Tlb.AccessClass(AccessKind.Write, false);

    [Test]
    public void GivenACachedReadOnlyPage_WhenPortsOfItsAsidLookItUp_ThenReadsHitWithTheTranslatedOffsetAndWritesMiss()
    {
        var tlb = new Tlb(64);
        Assert.That(_mmu.Translate(tlb, _tables.Space(asid: 5), Va, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(tlb.Port(5, Read).TryHit(Va + 0x123, out ulong data, out ulong offset), Is.True);
        Assert.That((offset, (MemoryLocation)((data >> 2) & 3)), Is.EqualTo((run.PhysicalOffset + 0x123, MemoryLocation.Local)));
        Assert.That(tlb.Port(5, Write).TryHit(Va, out _, out _), Is.False, "a read-only page grants no write");
    }

    [TestCase((ushort)4)]
    [TestCase((ushort)(5 ^ 0x40))] // differs only in a bit the slot index ignores
    [TestCase((ushort)0xFFFE)]     // the aperture's ASID
    public void GivenAPageCachedForOneAsid_WhenAPortOfAnotherAsidLooksItUp_ThenItMisses(ushort other)
    {
        var tlb = new Tlb(64);
        _mmu.Translate(tlb, _tables.Space(asid: 5), Va, AccessKind.Read, false, out _);
        Assert.That(tlb.Port(other, Read).TryHit(Va, out _, out _), Is.False);
    }

    [TestCase(1UL << 48)]
    [TestCase(5UL << 48)]          // the high VA bits equal the ASID: the tag's ASID field must not absorb them
    [TestCase(1UL << 63)]
    public void GivenACachedPage_WhenAPortLooksUpTheSamePageWithVaBitsAbove48_ThenItMisses(ulong high)
    {
        var tlb = new Tlb(64);
        _mmu.Translate(tlb, _tables.Space(asid: 0), Va, AccessKind.Read, false, out _);
        _mmu.Translate(tlb, _tables.Space(asid: 5), Va, AccessKind.Read, false, out _);
        Assert.That(tlb.Port(0, Read).TryHit(Va | high, out _, out _), Is.False);
        Assert.That(tlb.Port(5, Read).TryHit(Va | high, out _, out _), Is.False);
    }

    [Test]
    public void GivenACachedPage_WhenItIsInvalidatedOrHitsAreCounted_ThenThePortMissesUntilItIsCachedAndUncountedAgain()
    {
        var tlb = new Tlb(64);
        var space = _tables.Space(asid: 5);
        var port = tlb.Port(5, Read);
        _mmu.Translate(tlb, space, Va, AccessKind.Read, false, out _);
        tlb.InvalidatePages(5, Va, 1);
        Assert.That(port.TryHit(Va, out _, out _), Is.False, "invalidated");
        _mmu.Translate(tlb, space, Va, AccessKind.Read, false, out _);
        tlb.CountHits = true;
        Assert.That(port.TryHit(Va, out _, out _), Is.False, "while hits are counted, the full path takes every lookup");
        tlb.CountHits = false;
        Assert.That(port.TryHit(Va, out _, out _), Is.True);
    }

    [Test]
    public void GivenNoTlb_WhenItsPortLooksUpAnyAddress_ThenItNeverHits()
    {
        var port = TlbPort.None(Read);
        Assert.That(port.TryHit(0, out _, out _) || port.TryHit(Va, out _, out _) || port.TryHit(ulong.MaxValue, out _, out _), Is.False);
    }
}
