using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>
/// The rights a cached translation grants are the PTE's (seed 001 §5.7): the TLB's per-access-class comparators must
/// answer every (read/write × privileged/limited) access exactly as an uncached walk does, whatever access cached it.
/// </summary>
public class TlbAccessClassTests
{
    private const ulong TablePool = 4UL << 20;
    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;
    private PageTableBuilder _tables = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = DeviceMemory.Allocate(8UL << 20, 1UL << 20);
        _mmu = new GpuMmu(_memory);
        _tables = new PageTableBuilder(_memory, MemoryLocation.Local, TablePool);
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    private static readonly (AccessKind Access, bool Privileged)[] Classes =
        [(AccessKind.Read, true), (AccessKind.Write, true), (AccessKind.Read, false), (AccessKind.Write, false)];

    [TestCase(true, false)]
    [TestCase(false, false)]
    [TestCase(true, true)]
    [TestCase(false, true)]
    public void GivenAPageCachedByAnAllowedAccess_WhenEveryAccessClassTranslatesIt_ThenEachGetsTheUncachedWalksStatus(bool writable, bool privilegedPage)
    {
        const ulong va = 0x4000_0000;
        _tables.Map(va, PageTableEntry.Create(MemoryLocation.Local, 0x3000, writable: writable, privileged: privilegedPage));
        var space = _tables.Space(faultOnInvalid: true);
        foreach (var cachedBy in Classes)
        {
            if (_mmu.Translate(null, space, va, cachedBy.Access, cachedBy.Privileged, out _) != TranslationStatus.Ok) continue;
            var tlb = new Tlb(64);
            Assert.That(_mmu.Translate(tlb, space, va, cachedBy.Access, cachedBy.Privileged, out _), Is.EqualTo(TranslationStatus.Ok));
            foreach (var c in Classes)
            {
                var expected = _mmu.Translate(null, space, va + 0x10, c.Access, c.Privileged, out var uncached);
                var actual = _mmu.Translate(tlb, space, va + 0x10, c.Access, c.Privileged, out var cached);
                Assert.That(actual, Is.EqualTo(expected), $"cached by {cachedBy}, accessed as {c}");
                if (expected == TranslationStatus.Ok)
                    Assert.That((cached.Location, cached.PhysicalOffset, cached.Length), Is.EqualTo((uncached.Location, uncached.PhysicalOffset, uncached.Length)));
            }
            Assert.That(tlb.Misses, Is.EqualTo(1), "only the first translation walks; rights failures on a cached page are answered from it");
        }
    }

    [Test]
    public void GivenCachedPages_WhenHitCountingIsTurnedOnAndOff_ThenTheyStayCachedAndHitsAreCountedOnlyWhileOn()
    {
        const ulong va = 0x4000_0000;
        _tables.Map(va, PageTableEntry.Create(MemoryLocation.Local, 0x3000));
        var space = _tables.Space(faultOnInvalid: true);
        var tlb = new Tlb(64);
        _mmu.Translate(tlb, space, va, AccessKind.Write, false, out _);
        tlb.CountHits = true;
        _mmu.Translate(tlb, space, va, AccessKind.Write, false, out _);
        _mmu.Translate(tlb, space, va, AccessKind.Read, true, out _);
        tlb.CountHits = false;
        _mmu.Translate(tlb, space, va, AccessKind.Read, false, out _);
        Assert.That((tlb.Misses, tlb.Hits, tlb.ValidEntries), Is.EqualTo((1L, 2L, 1)));
    }
}
