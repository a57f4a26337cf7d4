using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>
/// A TLB keeps the translations of up to <see cref="Tlb.AddressSpaceSlots"/> address spaces, each in a table of its own
/// (a TLB-local short ASID, native-layout.md §7.2), and recycles the least recently bound slot — emptied first — when
/// one more ASID translates through it. Whatever the slot traffic, a cached answer is always the page table's answer
/// for the translating ASID (seed 001 §5.3), invalidation stays exact per (ASID, page), and no VA at or above 2^48 hits.
/// </summary>
public class TlbAddressSpaceSlotTests
{
    private const ulong Va = 0x4000_0000;
    private const int Spaces = Tlb.AddressSpaceSlots + 2;
    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;
    private PageTableBuilder[] _tables = null!;

    [SetUp]
    public void SetUp()
    {
        _memory = DeviceMemory.Allocate(8UL << 20, 1UL << 20);
        _mmu = new GpuMmu(_memory);
        // One page table per address space; ASID s maps the same VAs as every other, onto frames of its own.
        _tables = new PageTableBuilder[Spaces];
        for (int s = 0; s < Spaces; s++)
        {
            _tables[s] = new PageTableBuilder(_memory, MemoryLocation.Local, (4UL << 20) + (ulong)s * (256 * 1024));
            for (int p = 0; p < 8; p++) _tables[s].Map(Va + (ulong)p * 4096, PageTableEntry.Create(MemoryLocation.Local, Frame(s, p)));
        }
    }

    [TearDown]
    public void TearDown() => _memory.Dispose();

    private static ulong Frame(int space, int page) => (ulong)(1 + space * 8 + page) * 4096;

    private static ushort Asid(int space) => (ushort)(0x100 * space + 7); // not slot numbers; differ in high bits too

    private AddressSpaceDescriptor Space(int s) => _tables[s].Space(Asid(s), faultOnInvalid: true);

    private ulong Translated(Tlb tlb, int s, int page)
    {
        Assert.That(_mmu.Translate(tlb, Space(s), Va + (ulong)page * 4096 + 0x18, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        return run.PhysicalOffset;
    }

    [Test]
    public void GivenMoreAddressSpacesThanSlots_WhenEachTranslatesInTurn_ThenTheLeastRecentlyBoundSlotIsRecycledAndEveryAnswerIsItsOwn()
    {
        var tlb = new Tlb(64);
        for (int s = 0; s < Tlb.AddressSpaceSlots; s++) Assert.That(Translated(tlb, s, 0), Is.EqualTo(Frame(s, 0) + 0x18));
        Assert.That((tlb.SlotRecycles, tlb.Misses, tlb.ValidEntries), Is.EqualTo((0L, (long)Tlb.AddressSpaceSlots, Tlb.AddressSpaceSlots)));
        for (int s = 0; s < Tlb.AddressSpaceSlots; s++) Translated(tlb, s, 0);
        Assert.That(tlb.Misses, Is.EqualTo((long)Tlb.AddressSpaceSlots), "every space keeps its entry while there are slots for all");

        // One more space: the slot of space 0 (bound least recently) is emptied and given to it.
        Assert.That(Translated(tlb, Tlb.AddressSpaceSlots, 0), Is.EqualTo(Frame(Tlb.AddressSpaceSlots, 0) + 0x18));
        Assert.That((tlb.SlotRecycles, tlb.ValidEntries), Is.EqualTo((1L, Tlb.AddressSpaceSlots)));

        // Space 0 comes back: it walks again (its entries went with its slot) and gets its own frame, not the new owner's.
        long misses = tlb.Misses;
        Assert.That(Translated(tlb, 0, 0), Is.EqualTo(Frame(0, 0) + 0x18));
        Assert.That((tlb.Misses, tlb.SlotRecycles), Is.EqualTo((misses + 1, 2L)));
    }

    [Test]
    public void GivenRandomTrafficOverMoreSpacesThanSlots_WhenEveryTranslationIsComparedWithAnUncachedWalk_ThenTheyAlwaysAgree()
    {
        foreach (int entries in new[] { 1, 4, 64 })
        {
            var tlb = new Tlb(entries);
            var random = new Random(0x5107 + entries);
            for (int i = 0; i < 4000; i++)
            {
                int s = random.Next(Spaces), page = random.Next(8);
                var access = random.Next(2) == 0 ? AccessKind.Read : AccessKind.Write;
                ulong va = Va + (ulong)page * 4096 + (ulong)random.Next(4096);
                var expected = _mmu.Translate(null, Space(s), va, access, false, out var uncached);
                var actual = _mmu.Translate(tlb, Space(s), va, access, false, out var cached);
                Assert.That((actual, cached.Location, cached.PhysicalOffset, cached.Length),
                    Is.EqualTo((expected, uncached.Location, uncached.PhysicalOffset, uncached.Length)), $"op {i}, space {s}, {entries} entries");
                if (random.Next(16) == 0) tlb.InvalidatePages(Asid(random.Next(Spaces)), Va + (ulong)random.Next(8) * 4096, (ulong)random.Next(3));
            }
            Assert.That(tlb.SlotRecycles, Is.GreaterThan(100), "the traffic recycled slots");
        }
    }

    [Test]
    public void GivenAHeldPort_WhenMoreOtherAsidsTranslateThanThereAreSlots_ThenItsSlotIsNeverRecycledAndItHitsOnlyItsOwnPages()
    {
        var tlb = new Tlb(64);
        int read = Tlb.AccessClass(AccessKind.Read, false);
        var port = tlb.Port(Asid(0), read);
        Translated(tlb, 0, 0);
        for (int round = 0; round < 3; round++)
            for (int s = 1; s < Spaces; s++) Assert.That(Translated(tlb, s, 0), Is.EqualTo(Frame(s, 0) + 0x18));
        Assert.That(tlb.SlotRecycles, Is.GreaterThan(0), "the other spaces shared the remaining slots");
        Assert.That(port.TryHit(Va + 0x18, out ulong offset) && offset == Frame(0, 0) + 0x18, Is.True, "the held slot is still space 0's");
        long misses = tlb.Misses;
        Translated(tlb, 0, 0);
        Assert.That(tlb.Misses, Is.EqualTo(misses), "space 0 kept its entry");

        // Released, the slot is recycled like any other; a later port of space 0 sees only space 0's pages again.
        port.Dispose();
        for (int s = 1; s < Spaces; s++) Translated(tlb, s, 0);
        misses = tlb.Misses;
        Assert.That(Translated(tlb, 0, 0), Is.EqualTo(Frame(0, 0) + 0x18));
        Assert.That(tlb.Misses, Is.EqualTo(misses + 1), "space 0's slot went to another space once released");
        using var again = tlb.Port(Asid(0), read);
        Assert.That(again.TryHit(Va + 0x18, out offset) && offset == Frame(0, 0) + 0x18, Is.True);
    }

    [Test]
    public void GivenEverySlotHeldByPortsOfOtherAsids_WhenAnotherAsidTranslates_ThenItGetsTheWalksAnswerAndNothingIsCachedForIt()
    {
        var tlb = new Tlb(64);
        int read = Tlb.AccessClass(AccessKind.Read, false);
        using var p0 = tlb.Port(Asid(0), read);
        using var p1 = tlb.Port(Asid(1), read);
        using var p2 = tlb.Port(Asid(2), read);
        using var p3 = tlb.Port(Asid(3), read);
        for (int s = 0; s < Tlb.AddressSpaceSlots; s++) Translated(tlb, s, 0);
        long misses = tlb.Misses;
        for (int i = 0; i < 3; i++) Assert.That(Translated(tlb, Tlb.AddressSpaceSlots, 0), Is.EqualTo(Frame(Tlb.AddressSpaceSlots, 0) + 0x18));
        Assert.That((tlb.Misses, tlb.SlotRecycles, tlb.ValidEntries), Is.EqualTo((misses + 3, 0L, Tlb.AddressSpaceSlots)), "walked each time, cached nowhere");
        using var p4 = tlb.Port(Asid(Tlb.AddressSpaceSlots), read);
        Assert.That(p4.TryHit(Va, out _), Is.False, "no slot to hold: the port never hits");
        Assert.That(p0.TryHit(Va, out ulong offset) && offset == Frame(0, 0), Is.True);
        Assert.That(p3.TryHit(Va, out offset) && offset == Frame(3, 0), Is.True);
    }

    [Test]
    public void GivenAHeldPort_WhenItsWholeSpaceOrEveryEntryIsInvalidated_ThenItMissesUntilThePageIsCachedAgainInTheSameSlot()
    {
        var tlb = new Tlb(64);
        int read = Tlb.AccessClass(AccessKind.Read, false);
        using var port = tlb.Port(Asid(0), read);
        Translated(tlb, 0, 0);
        tlb.InvalidateAsid(Asid(0));
        Assert.That(port.TryHit(Va, out _), Is.False, "whole space invalidated");
        Translated(tlb, 0, 0);
        Assert.That(port.TryHit(Va, out _), Is.True, "the held slot stayed space 0's");
        tlb.InvalidateAll();
        Assert.That(port.TryHit(Va, out _), Is.False, "every entry invalidated");
        for (int s = 1; s < Spaces; s++) Translated(tlb, s, 0);
        Translated(tlb, 0, 0);
        Assert.That(port.TryHit(Va, out ulong offset) && offset == Frame(0, 0), Is.True);
    }

    [Test]
    public void GivenTheSameVasCachedForSeveralAsids_WhenOneAsidsPagesOrWholeSpaceAreInvalidated_ThenExactlyThoseEntriesGo()
    {
        var tlb = new Tlb(64);
        for (int s = 0; s < 3; s++)
            for (int p = 0; p < 4; p++) Translated(tlb, s, p);
        Assert.That(tlb.ValidEntries, Is.EqualTo(12));

        tlb.InvalidatePages(Asid(1), Va + 4096, 2);          // pages 1 and 2 of space 1
        Assert.That(tlb.ValidEntries, Is.EqualTo(10));
        tlb.InvalidateAsid(Asid(0));                          // the whole of space 0
        Assert.That(tlb.ValidEntries, Is.EqualTo(6));
        tlb.InvalidatePages(Tlb.AllAsids, Va + 3 * 4096, 1); // page 3 in every space
        Assert.That(tlb.ValidEntries, Is.EqualTo(4));
        tlb.InvalidateRange(Asid(2), Va - (1UL << 30), 2UL << 30); // a range wider than the TLB: the scan path
        Assert.That(tlb.ValidEntries, Is.EqualTo(1));
        tlb.InvalidatePages(Asid(1), Va + 8 * 4096, 1000);    // other pages of space 1: nothing cached there
        Assert.That(tlb.ValidEntries, Is.EqualTo(1));

        // Left: (space 1, page 0), outside every request. It hits; every other page walks again.
        long misses = tlb.Misses;
        Translated(tlb, 1, 0);
        Assert.That(tlb.Misses, Is.EqualTo(misses), "(space 1, page 0) was outside every request");
        foreach (var (s, p) in new[] { (0, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 3) })
        {
            misses = tlb.Misses;
            Assert.That(Translated(tlb, s, p), Is.EqualTo(Frame(s, p) + 0x18));
            Assert.That(tlb.Misses, Is.EqualTo(misses + 1), $"(space {s}, page {p}) was invalidated");
        }
    }

    [Test]
    public void GivenTheLastPageBelow2To48Cached_WhenVasAtItsTopAndBeyondTheVaWidthAreTranslated_ThenOnlyThoseBelow2To48Hit()
    {
        const ulong top = (1UL << 48) - 4096;
        var tlb = new Tlb(64);
        _tables[0].Map(top, PageTableEntry.Create(MemoryLocation.Local, 0x7000));
        _tables[0].Map(0, PageTableEntry.Create(MemoryLocation.Local, 0x8000));
        var space = Space(0);
        Assert.That(_mmu.Translate(tlb, space, top, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(_mmu.Translate(tlb, space, 0, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.Ok));
        long misses = tlb.Misses;

        Assert.That(_mmu.Translate(tlb, space, (1UL << 48) - 1, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((run.PhysicalOffset, run.Length, tlb.Misses), Is.EqualTo((0x7FFFUL, 1UL, misses)), "the top byte hits");

        int read = Tlb.AccessClass(AccessKind.Read, false);
        foreach (ulong va in new[] { 1UL << 48, (1UL << 48) | top, (1UL << 48) + 0xFFF, 1UL << 63, ulong.MaxValue, ulong.MaxValue - 0xFFF })
        {
            Assert.That(tlb.TryHit(Asid(0), va, read, out _, out _), Is.False, $"0x{va:X}");
            using (var port = tlb.Port(Asid(0), read)) Assert.That(port.TryHit(va, out _), Is.False, $"port, 0x{va:X}");
            Assert.That(_mmu.Translate(tlb, space, va, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.InvalidAddress), $"0x{va:X}");
        }
    }

    [Test]
    public void GivenEveryEntryInvalidated_WhenTheSpacesTranslateAgain_ThenTheSlotsStartAfreshAndNothingStaleHits()
    {
        var tlb = new Tlb(16);
        for (int s = 0; s < Spaces; s++) Translated(tlb, s, 0);
        tlb.InvalidateAll();
        Assert.That(tlb.ValidEntries, Is.EqualTo(0));
        long misses = tlb.Misses, recycles = tlb.SlotRecycles;
        for (int s = 0; s < Tlb.AddressSpaceSlots; s++) Assert.That(Translated(tlb, s, 1), Is.EqualTo(Frame(s, 1) + 0x18));
        Assert.That((tlb.Misses, tlb.SlotRecycles), Is.EqualTo((misses + Tlb.AddressSpaceSlots, recycles)), "InvalidateAll frees every slot");
    }

    [Test]
    public void GivenATlbStateRestoredIntoATlbWhoseHitTableIsAnotherSpacesTable_WhenBothSpacesTranslate_ThenEachGetsItsOwnFramesAndHitsAgain()
    {
        // A save-state restores the TLB's fields and entries in place but keeps the restoring TLB's own table pointer
        // (Core/StateGraph.cs): here the saved TLB is bound to space 1 (slot 1), the restoring one still points at slot 0,
        // which holds space 0's entries. Every entry names its ASID, so space 1 never hits space 0's entries through it.
        var saved = new Tlb(64);
        Translated(saved, 0, 0);
        Translated(saved, 1, 0);
        var restoring = new Tlb(64);
        using (var stream = new MemoryStream())
        {
            var context = new StateGraph.Context(_memory, []);
            new StateGraph.Writer(new BinaryWriter(stream), context).WriteRoot(saved);
            stream.Position = 0;
            new StateGraph.Reader(new BinaryReader(stream), context).ReadRoot(restoring);
        }
        long misses = restoring.Misses;

        Assert.That(Translated(restoring, 1, 0), Is.EqualTo(Frame(1, 0) + 0x18), "the bound space, through a table of another space");
        Assert.That(Translated(restoring, 0, 0), Is.EqualTo(Frame(0, 0) + 0x18));
        for (int i = 0; i < 3; i++)
            Assert.That((Translated(restoring, 0, 0), Translated(restoring, 1, 0)), Is.EqualTo((Frame(0, 0) + 0x18, Frame(1, 0) + 0x18)));
        Assert.That(restoring.Misses, Is.EqualTo(misses), "both spaces' restored entries are used: no walk");
    }
}
