using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>Page-table walks of both formats (seed 001 §5.4, native-layout.md §3–§4).</summary>
public class WalkerTests
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

    private TranslationStatus Tr(in AddressSpaceDescriptor space, ulong va, out PageRun run, AccessKind access = AccessKind.Read, bool privileged = false) =>
        _mmu.Translate(null, space, va, access, privileged, out run);

    [Test]
    public void MultiLevel_4KiBPage_TranslatesToItsFrame_KeepingTheOffsetInPage()
    {
        ulong va = 0x0000_1234_5678_9000;
        _tables.Map(va, PageTableEntry.Create(MemoryLocation.Local, 0x3000));
        _tables.Map(va + 0x1000, PageTableEntry.Create(MemoryLocation.System, 0x7000));
        var space = _tables.Space();

        Assert.That(Tr(space, va + 0x123, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((run.Location, run.PhysicalOffset, run.Length), Is.EqualTo((MemoryLocation.Local, 0x3123UL, 0x1000UL - 0x123)));
        Assert.That(Tr(space, va + 0x1FFF, out run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((run.Location, run.PhysicalOffset, run.Length), Is.EqualTo((MemoryLocation.System, 0x7FFFUL, 1UL)));
        Assert.That(_tables.TablesAllocated, Is.EqualTo(4), "root + directory + L1 + L0");
    }

    [Test]
    public void MultiLevel_2MiBLargePage_MapsEveryOffsetInside_AndWalkReportsThePageSize()
    {
        ulong va = 0x4000_0000 + (3UL << 21);
        _tables.MapLarge(va, MemoryLocation.Local, 2UL << 20);
        var space = _tables.Space();

        foreach (ulong off in new ulong[] { 0, 0x5123, (2UL << 20) - 1 })
        {
            Assert.That(Tr(space, va + off, out var run), Is.EqualTo(TranslationStatus.Ok));
            Assert.That(run.PhysicalOffset, Is.EqualTo((2UL << 20) + off));
            Assert.That(run.Length, Is.EqualTo(0x1000 - (off & 0xFFF)), "runs from Translate end at the 4 KiB page");
        }
        Assert.That(_mmu.Walk(space, va + 0x5000, out var leaf, out _, out _, out ulong size), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((size, leaf.IsLargePage), Is.EqualTo((PageTableLayout.LargePageSize, true)));
        Assert.That(Tr(space, va + (2UL << 20), out _), Is.EqualTo(TranslationStatus.Ok), "next 2 MiB unmapped -> dummy");
    }

    [Test]
    public void LargePage_WithMisalignedFrame_IsInvalid()
    {
        _tables.SetEntry(0, 1, PageTableEntry.Create(MemoryLocation.Local, 0x1000, largePage: true).Raw);
        Assert.That(Tr(_tables.Space(faultOnInvalid: true), 0x10, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
    }

    [TestCase(0)]
    [TestCase(2)]
    [TestCase(3)]
    public void PsBit_OutsideLevel1_MakesTheEntryInvalid(int level)
    {
        ulong va = 0x20_0000_0000;
        _tables.Map(va, PageTableEntry.Create(MemoryLocation.Local, 0x3000));
        ulong raw = _tables.GetEntry(va, level);
        _tables.SetEntry(va, level, raw | PageTableEntry.LargePageBit);
        Assert.That(Tr(_tables.Space(faultOnInvalid: true), va, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
    }

    [Test]
    public void Flat_TranslatesBelowTheLimit_AndReferenceAtOrPastTheLimitIsInvalid()
    {
        var table = PhysicalAddress.Local(0x10_0000);
        for (ulong n = 0; n < 8; n++) _memory.Write64(table.Add(n * 8), PageTableEntry.Create(MemoryLocation.Local, 0x20_0000 + n * 0x1000).Raw);
        var faulting = AddressSpaceDescriptor.Flat(table, limitEntries: 4, asid: 3, faultOnInvalid: true);
        var dummy = AddressSpaceDescriptor.Flat(table, limitEntries: 4, asid: 3, faultOnInvalid: false);

        Assert.That(Tr(faulting, 3 * 4096 + 8, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.PhysicalOffset, Is.EqualTo(0x20_3008UL));
        Assert.That(Tr(faulting, 4 * 4096, out _), Is.EqualTo(TranslationStatus.InvalidAddress), "entry 4 exists in memory but is at the limit");
        Assert.That(Tr(faulting, 100 * 4096, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That(Tr(dummy, 4 * 4096, out run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.IsDummy, Is.True);
    }

    [Test]
    public void Flat_LargePageBit_IsInvalid_AndVaAbove48BitsIsInvalid()
    {
        var table = PhysicalAddress.Local(0x10_0000);
        _memory.Write64(table, PageTableEntry.Create(MemoryLocation.Local, 0x20_0000, largePage: true).Raw);
        var space = AddressSpaceDescriptor.Flat(table, ulong.MaxValue, 3, faultOnInvalid: true);
        Assert.That(Tr(space, 0, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That(Tr(space, 1UL << 48, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
    }

    [Test]
    public void PteBits_V_W_P_Loc_Type_AndReservedBits_BehaveAsDocumented()
    {
        var space = _tables.Space(faultOnInvalid: true);
        ulong Va(int i) => 0x1000_0000UL + (ulong)i * 4096;
        _tables.Map(Va(0), new PageTableEntry(PageTableEntry.Create(MemoryLocation.Local, 0x3000).Raw & ~PageTableEntry.ValidBit));
        _tables.Map(Va(1), PageTableEntry.Create(MemoryLocation.Local, 0x3000, writable: false));
        _tables.Map(Va(2), PageTableEntry.Create(MemoryLocation.Local, 0x3000, privileged: true));
        _tables.Map(Va(3), PageTableEntry.Create(MemoryLocation.System, 0x5000));
        _tables.Map(Va(4), PageTableEntry.Dummy);
        _tables.Map(Va(5), new PageTableEntry(PageTableEntry.Create(MemoryLocation.Local, 0x3000).Raw | (3UL << 3)));
        _tables.Map(Va(6), new PageTableEntry(PageTableEntry.Create(MemoryLocation.Local, 0x3000).Raw | (1UL << 52)));
        _tables.Map(Va(7), new PageTableEntry(PageTableEntry.Create(MemoryLocation.Local, 0x3000).Raw | (1UL << 63)));
        _tables.Map(Va(8), PageTableEntry.Create(MemoryLocation.Local, 0x3000, type: CacheType.WriteCombined, software: 7));

        Assert.That(Tr(space, Va(0), out _), Is.EqualTo(TranslationStatus.InvalidAddress), "V = 0");
        Assert.That(Tr(space, Va(1), out _), Is.EqualTo(TranslationStatus.Ok), "read of read-only");
        Assert.That(Tr(space, Va(1), out _, AccessKind.Write), Is.EqualTo(TranslationStatus.WriteProtected));
        Assert.That(Tr(space, Va(2), out _), Is.EqualTo(TranslationStatus.PrivilegeViolation), "limited buffer, P page");
        Assert.That(Tr(space, Va(2), out _, AccessKind.Write, privileged: true), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(Tr(space, Va(3), out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.Location, Is.EqualTo(MemoryLocation.System));
        Assert.That(Tr(space, Va(4), out run, AccessKind.Write), Is.EqualTo(TranslationStatus.Ok), "LOC = dummy even with FaultOnInvalid");
        Assert.That(run.IsDummy, Is.True);
        Assert.That(Tr(space, Va(5), out _), Is.EqualTo(TranslationStatus.InvalidAddress), "LOC = 3 reserved");
        Assert.That(Tr(space, Va(6), out _), Is.EqualTo(TranslationStatus.InvalidAddress), "reserved bit 52");
        Assert.That(Tr(space, Va(7), out _), Is.EqualTo(TranslationStatus.InvalidAddress), "reserved bit 63");
        Assert.That(_mmu.Walk(space, Va(8), out var leaf, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(leaf.Type, Is.EqualTo(CacheType.WriteCombined), "TYPE is recorded in the leaf");
        Assert.That(Tr(space, Va(8), out _, AccessKind.Write), Is.EqualTo(TranslationStatus.Ok), "SW bits are ignored");
    }

    [Test]
    public void RightsAccumulate_AlongTheMultiLevelPath()
    {
        ulong roVa = 0x0000_0080_0000_0000; // distinct L3 slot
        ulong privVa = 0x0000_0100_0000_0000;
        _tables.Map(roVa, PageTableEntry.Create(MemoryLocation.Local, 0x3000, writable: true));
        _tables.Map(privVa, PageTableEntry.Create(MemoryLocation.Local, 0x3000, writable: true));
        _tables.SetEntry(roVa, 2, _tables.GetEntry(roVa, 2) & ~PageTableEntry.WritableBit);     // read-only directory
        _tables.SetEntry(privVa, 3, _tables.GetEntry(privVa, 3) | PageTableEntry.PrivilegedBit); // privileged root entry
        var space = _tables.Space();

        Assert.That(_mmu.Walk(space, roVa, out _, out bool w, out bool p, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((w, p), Is.EqualTo((false, false)));
        Assert.That(Tr(space, roVa, out _, AccessKind.Write, privileged: true), Is.EqualTo(TranslationStatus.WriteProtected));
        Assert.That(_mmu.Walk(space, privVa, out _, out w, out p, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That((w, p), Is.EqualTo((true, true)));
        Assert.That(Tr(space, privVa, out _), Is.EqualTo(TranslationStatus.PrivilegeViolation));
        Assert.That(Tr(space, privVa, out _, AccessKind.Write, privileged: true), Is.EqualTo(TranslationStatus.Ok));
    }

    [Test]
    public void InvalidVa_HitsTheDummyPage_OrFaults_PerTheDescriptorFlag()
    {
        ulong va = 0x7000_0000;
        var dummy = new GpuVirtualMemory(_mmu, _memory, null, _tables.Space(faultOnInvalid: false), privileged: false);
        var faulting = new GpuVirtualMemory(_mmu, _memory, null, _tables.Space(faultOnInvalid: true), privileged: false);
        Span<byte> buf = stackalloc byte[64];
        buf.Fill(0xAB);

        Assert.That(dummy.Write(va, buf, out _), Is.EqualTo(TranslationStatus.Ok), "writes to the dummy page are discarded");
        Assert.That(dummy.Read(va, buf, out _), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(buf.ToArray(), Is.All.EqualTo(0), "the dummy page reads zero even after a write");
        Assert.That(faulting.Read(va + 8, buf, out ulong faultVa), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That(faultVa, Is.EqualTo(va + 8));
    }

    [Test]
    public void VaAbove48Bits_IsInvalid_AndNeverAliasesAnotherAsidsTlbEntry()
    {
        var tlb = new Tlb(64);
        _tables.Map(0x5000, PageTableEntry.Create(MemoryLocation.Local, 0x3000));
        var asid1 = _tables.Space(asid: 1, faultOnInvalid: true);
        var asid0 = _tables.Space(asid: 0, faultOnInvalid: true);
        Assert.That(_mmu.Translate(tlb, asid1, 0x5000, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.Ok));

        // VPN + 2^39 under ASID 0 would collide with (ASID 1, VPN) if the tag fields overlapped.
        ulong high = 0x5000 | (1UL << 51);
        Assert.That(_mmu.Translate(tlb, asid0, high, AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
        Assert.That(_mmu.Translate(tlb, asid1, 0x5000 | (1UL << 48), AccessKind.Read, false, out _), Is.EqualTo(TranslationStatus.InvalidAddress));
    }

    [Test]
    public void TablesOrFramesOutsidePhysicalMemory_ArePhysicalOutOfRange_NeverACrash()
    {
        ulong va = 0x40_0000;
        // Leaf frame past the end of local memory, and one at the largest encodable PFN.
        _tables.Map(va, PageTableEntry.Create(MemoryLocation.Local, 8UL << 20));
        _tables.Map(va + 4096, new PageTableEntry(PageTableEntry.ValidBit | PageTableEntry.FrameMask));
        // A directory entry whose next table lies past the end of system memory.
        ulong badDirVa = 0x0000_0200_0000_0000;
        _tables.SetEntry(badDirVa, 3, PageTableEntry.Create(MemoryLocation.System, 64UL << 20).Raw);
        var space = _tables.Space(faultOnInvalid: false);

        Assert.That(Tr(space, va, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
        Assert.That(Tr(space, va + 4096, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
        Assert.That(Tr(space, badDirVa, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));

        var farRoot = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(1UL << 40), 1, false);
        Assert.That(Tr(farRoot, 0, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
        var badEncoding = space with { RootTable = 1UL << 50 };
        Assert.That(Tr(badEncoding, 0, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
        // A flat table that starts 8 bytes before the end of local memory: entry 0 is readable, entry 1 is not.
        var flat = AddressSpaceDescriptor.Flat(PhysicalAddress.Local((8UL << 20) - 8), 1000, 2, true);
        Assert.That(Tr(flat, 0, out _), Is.EqualTo(TranslationStatus.InvalidAddress), "entry 0 is zero (V = 0)");
        Assert.That(Tr(flat, 4096, out _), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
        var vm = new GpuVirtualMemory(_mmu, _memory, null, space, false);
        Assert.That(vm.Fill(va - 4096, 0x11223344, 3 * 4096, out ulong done, out ulong faultVa), Is.EqualTo(TranslationStatus.PhysicalOutOfRange));
        Assert.That((done, faultVa), Is.EqualTo((4096UL, va)), "the unmapped page before it is dummy; the fill stops at the bad frame");
    }
}
