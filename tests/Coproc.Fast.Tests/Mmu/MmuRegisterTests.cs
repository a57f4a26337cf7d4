using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>The MMU register block (native-layout.md §7.1), the client TLB registry and the fault log.</summary>
public class MmuRegisterTests
{
    private Coprocessor _device = null!;
    private PageTableBuilder _tables = null!;

    [SetUp]
    public void SetUp()
    {
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 64 * 1024, ApertureBytes = 64 * 1024 });
        _tables = new PageTableBuilder(_device.Memory, MemoryLocation.Local, 2UL << 20);
    }

    [TearDown]
    public void TearDown() => _device.Dispose();

    private static uint R(uint offset) => MmioMap.MmuBase + offset;

    private void Fill(Tlb tlb, ushort asid, ulong va)
    {
        Assert.That(_device.Mmu.Translate(tlb, _tables.Space(asid), va, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.IsDummy, Is.False);
    }

    [Test]
    public void ClientRegistry_KnowsEveryClientTlb_WithSequentialIds_AndRejectsDuplicateNames()
    {
        var before = _device.Mmu.ClientTlbs.Count;
        Assert.That(_device.Mmu.ClientTlbs.Select(t => t.ClientName), Does.Contain("aperture"));
        var copy = _device.Mmu.CreateClientTlb("copy0");
        var display = _device.Mmu.CreateClientTlb("display", 16);
        Assert.That((copy.ClientId, display.ClientId), Is.EqualTo((before, before + 1)));
        Assert.That(display.Capacity, Is.EqualTo(16));
        Assert.That(_device.Mmu.ClientTlbs[copy.ClientId], Is.SameAs(copy));
        Assert.Throws<ArgumentException>(() => _device.Mmu.CreateClientTlb("copy0"));
        Assert.Throws<ArgumentOutOfRangeException>(() => _device.Mmu.CreateClientTlb("bad", 24));
        Assert.That(new Tlb().ClientId, Is.EqualTo(Tlb.UnregisteredClientId));
    }

    [Test]
    public void WithoutInvalidation_AnUnmappedPageStillHitsTheStaleEntry_ThenCommand1DropsItOnEveryClient()
    {
        var a = _device.Mmu.CreateClientTlb("copy0");
        var b = _device.Mmu.CreateClientTlb("render0");
        ulong va = 0x10_0000;
        _tables.MapRange(va, MemoryLocation.Local, 0x1000, 4);
        Fill(a, 1, va); Fill(b, 1, va); Fill(a, 1, va + 3 * 4096);
        _tables.Unmap(va);

        Assert.That(_device.Mmu.Translate(a, _tables.Space(1), va, AccessKind.Read, false, out var stale), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(stale.IsDummy, Is.False, "the TLB really caches: the PTE change is invisible until invalidated");

        _device.Mmio.Write32(R(MmuRegisters.TlbInvAsid), 1);
        _device.Mmio.Write64(R(MmuRegisters.TlbInvVa), va + 0xABC);
        _device.Mmio.Write64(R(MmuRegisters.TlbInvPages), 1);
        _device.Mmio.Write32(R(MmuRegisters.TlbInvCmd), MmuRegisters.CommandInvalidateRange);

        Assert.That(_device.Mmio.Read64(R(MmuRegisters.TlbInvVa)), Is.EqualTo(va), "bits 0..11 of TLB_INV_VA are ignored");
        Assert.That(_device.Mmio.Read64(R(MmuRegisters.TlbInvCount)), Is.EqualTo(1UL));
        foreach (var tlb in new[] { a, b })
        {
            Assert.That(_device.Mmu.Translate(tlb, _tables.Space(1), va, AccessKind.Read, false, out var now), Is.EqualTo(TranslationStatus.Ok));
            Assert.That(now.IsDummy, Is.True, tlb.ClientName);
        }
        long walks = _device.Mmu.Walks;
        Fill(a, 1, va + 3 * 4096);
        Assert.That(_device.Mmu.Walks, Is.EqualTo(walks), "pages outside the range stay cached");
    }

    [Test]
    public void Command1_IsExactPerAsid_AllAsidsAndWholeSpaceForms_AndCommand2EmptiesEverything()
    {
        var tlb = _device.Mmu.CreateClientTlb("copy0");
        _tables.MapRange(0x10_0000, MemoryLocation.Local, 0x1000, 2);
        Fill(tlb, 1, 0x10_0000); Fill(tlb, 2, 0x10_0000); Fill(tlb, 1, 0x10_1000);

        void Cmd(ushort asid, ulong va, ulong pages)
        {
            _device.Mmio.Write32(R(MmuRegisters.TlbInvAsid), asid);
            _device.Mmio.Write64(R(MmuRegisters.TlbInvVa), va);
            _device.Mmio.Write64(R(MmuRegisters.TlbInvPages), pages);
            _device.Mmio.Write32(R(MmuRegisters.TlbInvCmd), 1);
        }
        Cmd(3, 0, 0);
        Assert.That(tlb.ValidEntries, Is.EqualTo(3), "another ASID's whole space: nothing of ASID 1 or 2 dropped");
        Cmd(1, 0, 0);
        Assert.That(tlb.ValidEntries, Is.EqualTo(1), "ASID 1, pages = 0: the whole space of ASID 1");
        Fill(tlb, 1, 0x10_0000);
        Cmd(Tlb.AllAsids, 0x10_0000, 1);
        Assert.That(tlb.ValidEntries, Is.EqualTo(0), "ASID 0xFFFF: that page in every space");
        Fill(tlb, 1, 0x10_0000); Fill(tlb, 2, 0x10_1000);
        _device.Mmio.Write32(R(MmuRegisters.TlbInvCmd), MmuRegisters.CommandInvalidateAll);
        Assert.That(tlb.ValidEntries, Is.EqualTo(0));
        Assert.That(_device.Mmio.Read64(R(MmuRegisters.TlbInvCount)), Is.EqualTo(4UL));
    }

    [Test]
    public void DummyTranslations_AreNeverCached_SoANewMappingIsSeenWithoutInvalidation()
    {
        var tlb = _device.Mmu.CreateClientTlb("copy0");
        Assert.That(_device.Mmu.Translate(tlb, _tables.Space(1), 0x20_0000, AccessKind.Read, false, out var run), Is.EqualTo(TranslationStatus.Ok));
        Assert.That(run.IsDummy, Is.True);
        _tables.Map(0x20_0000, PageTableEntry.Create(MemoryLocation.Local, 0x7000));
        Fill(tlb, 1, 0x20_0000);
    }

    [Test]
    public void Registers_ReadBack_WrongWidthsAreUnclaimed_AndUnknownCommandsAreRejected()
    {
        var mmio = _device.Mmio;
        mmio.Write64(R(MmuRegisters.ApertureTable), 0x1234_5000);
        mmio.Write32(R(MmuRegisters.ApertureEntries), 7);
        mmio.Write32(R(MmuRegisters.TlbInvAsid), 0xFFFF);
        mmio.Write64(R(MmuRegisters.TlbInvPages), 99);
        Assert.That(mmio.Read64(R(MmuRegisters.ApertureTable)), Is.EqualTo(0x1234_5000UL));
        Assert.That(mmio.Read32(R(MmuRegisters.ApertureEntries)), Is.EqualTo(7u));
        Assert.That(mmio.Read32(R(MmuRegisters.TlbInvAsid)), Is.EqualTo(0xFFFFu));
        Assert.That(mmio.Read64(R(MmuRegisters.TlbInvPages)), Is.EqualTo(99UL));

        mmio.Write32(R(MmuRegisters.ApertureEntries), 1_000_000);
        Assert.That(mmio.Read32(R(MmuRegisters.ApertureEntries)), Is.EqualTo(16u), "clamped to APERTURE_SIZE / 4096");

        long unclaimed = mmio.UnclaimedAccesses;
        Assert.That(mmio.Read32(R(MmuRegisters.ApertureTable)), Is.EqualTo(uint.MaxValue), "RW64 read as 32 bits");
        mmio.Write64(R(MmuRegisters.TlbInvCount), 5);
        Assert.That(mmio.Read32(R(MmuRegisters.TlbInvCmd)), Is.EqualTo(uint.MaxValue), "TLB_INV_CMD is write-only");
        Assert.That(mmio.Read64(R(0x1F8)), Is.EqualTo(ulong.MaxValue));
        Assert.That(mmio.UnclaimedAccesses - unclaimed, Is.EqualTo(4));

        mmio.Write32(R(MmuRegisters.TlbInvCmd), 9);
        Assert.That(mmio.Read64(R(MmuRegisters.TlbInvCount)), Is.EqualTo(0UL), "unknown commands are not counted");
    }

    [Test]
    public void ReportFault_FillsTheFaultLogRegisters_InTheDocumentedEncoding()
    {
        var mmio = _device.Mmio;
        Assert.That((mmio.Read64(R(MmuRegisters.FaultCount)), mmio.Read64(R(MmuRegisters.FaultInfo))), Is.EqualTo((0UL, 0UL)));
        var copy = _device.Mmu.CreateClientTlb("copy0");
        _device.Mmu.ReportFault(copy.ClientId, 0x123, 0xDEAD_B000, TranslationStatus.InvalidAddress, AccessKind.Read);
        _device.Mmu.ReportFault(copy.ClientId, 0xABC, 0x7_0000_1008, TranslationStatus.WriteProtected, AccessKind.Write);

        Assert.That(mmio.Read64(R(MmuRegisters.FaultCount)), Is.EqualTo(2UL));
        Assert.That(mmio.Read64(R(MmuRegisters.FaultVa)), Is.EqualTo(0x7_0000_1008UL));
        ulong info = mmio.Read64(R(MmuRegisters.FaultInfo));
        Assert.That(info, Is.EqualTo(2UL | (1UL << 8) | (0xABCUL << 16) | ((ulong)copy.ClientId << 32)));
        Assert.That(MmuFault.Decode(info, 0x7_0000_1008), Is.EqualTo(_device.Mmu.LastFault));
        Assert.Throws<ArgumentOutOfRangeException>(() => _device.Mmu.ReportFault(256, 0, 0, TranslationStatus.InvalidAddress, AccessKind.Read));
        Assert.Throws<ArgumentOutOfRangeException>(() => _device.Mmu.ReportFault(0, 0, 0, TranslationStatus.Ok, AccessKind.Read));
    }
}
