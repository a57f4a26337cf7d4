using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>
/// The programmable aperture (seed 001 §12): the driver writes aperture PTEs in local memory, programs
/// APERTURE_TABLE / APERTURE_ENTRIES and issues TLB_INV_CMD 3; the CPU then reads and writes through the window.
/// </summary>
public class ApertureTests
{
    private static readonly PhysicalAddress Table = PhysicalAddress.Local(0x30_0000);
    private Coprocessor _device = null!;

    [SetUp]
    public void SetUp()
    {
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 64 * 1024, ApertureBytes = 64 * 1024 });
        _device.Mmio.Write64(Reg(MmuRegisters.ApertureTable), Table.Encoded);
        _device.Mmio.Write32(Reg(MmuRegisters.ApertureEntries), 16);
    }

    [TearDown]
    public void TearDown() => _device.Dispose();

    private static uint Reg(uint offset) => MmioMap.MmuBase + offset;

    private void SetPte(int page, ulong raw) => _device.Memory.Write64(Table.Add((ulong)page * 8), raw);

    private void MapPage(int page, ulong frame, bool writable = true) =>
        SetPte(page, PageTableEntry.Create(MemoryLocation.Local, frame, writable).Raw);

    private void InvalidateApertureTlb() => _device.Mmio.Write32(Reg(MmuRegisters.TlbInvCmd), MmuRegisters.CommandInvalidateAperture);

    [Test]
    public void MappedPages_RedirectToLocalMemory_AndAnAccessSpanningPagesIsSplitPerPage()
    {
        MapPage(0, 0x5000);
        MapPage(1, 0x1000); // not contiguous with page 0
        InvalidateApertureTlb();
        var data = new byte[300];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i + 1);

        Assert.That(_device.Aperture.Write(4096 - 100, data), Is.EqualTo(ApertureStatus.Ok));
        Assert.That(_device.Memory.GetSpan(PhysicalAddress.Local(0x5000 + 4096 - 100), 100).ToArray(), Is.EqualTo(data[..100]));
        Assert.That(_device.Memory.GetSpan(PhysicalAddress.Local(0x1000), 200).ToArray(), Is.EqualTo(data[100..]));
        var back = new byte[300];
        Assert.That(_device.Aperture.TryRead(4096 - 100, back), Is.True);
        Assert.That(back, Is.EqualTo(data));
        Assert.That(_device.Aperture.TryTranslate(4096 + 8, out var pa), Is.True);
        Assert.That(pa, Is.EqualTo(PhysicalAddress.Local(0x1008)));
    }

    [Test]
    public void UnmappedPage_FailsWithATypedStatus_ReadsAllOnes_AndDropsWrites()
    {
        MapPage(0, 0x5000);
        InvalidateApertureTlb();
        _device.Memory.Write32(PhysicalAddress.Local(0x5000 + 4092), 0x11223344);

        Span<byte> buf = stackalloc byte[8];
        Assert.That(_device.Aperture.Read(4092, buf), Is.EqualTo(ApertureStatus.NotMapped));
        Assert.That(buf.ToArray(), Is.EqualTo(new byte[] { 0x44, 0x33, 0x22, 0x11, 0xFF, 0xFF, 0xFF, 0xFF }), "page 0 reads, page 1 reads all ones");
        Assert.That(_device.Aperture.Write32(4096 * 3, 0xCAFE), Is.EqualTo(ApertureStatus.NotMapped));
        Assert.That(_device.Aperture.Read32(4096 * 20, out uint v), Is.EqualTo(ApertureStatus.OutsideWindow));
        Assert.That(v, Is.EqualTo(uint.MaxValue));
        Assert.That(_device.Aperture.Read(ulong.MaxValue - 3, buf), Is.EqualTo(ApertureStatus.OutsideWindow), "offset wrap-around never reaches page 0");
        Assert.That(buf.ToArray(), Is.All.EqualTo(0xFF));
        Assert.That(_device.Aperture.FailedPageAccesses, Is.EqualTo(5), "page 1, page 3, page 20, and both halves of the wrapping read");
    }

    [Test]
    public void RemapAndUnmap_AreSeenAfterCommand3_AndAStaleTranslationDoesNotSurviveIt()
    {
        MapPage(2, 0x5000);
        InvalidateApertureTlb();
        _device.Memory.Write32(PhysicalAddress.Local(0x5000), 0xAAAA_AAAA);
        _device.Memory.Write32(PhysicalAddress.Local(0x6000), 0xBBBB_BBBB);
        Assert.That(_device.Aperture.Read32(2 * 4096, out uint v), Is.EqualTo(ApertureStatus.Ok));
        Assert.That(v, Is.EqualTo(0xAAAA_AAAAu));

        MapPage(2, 0x6000); // remap: the PTE changes in memory ...
        Assert.That(_device.Aperture.Read32(2 * 4096, out v), Is.EqualTo(ApertureStatus.Ok));
        Assert.That(v, Is.EqualTo(0xAAAA_AAAAu), "... but the aperture TLB still holds the old translation");
        long countBefore = (long)_device.Mmio.Read64(Reg(MmuRegisters.TlbInvCount));
        InvalidateApertureTlb();
        Assert.That(_device.Mmio.Read64(Reg(MmuRegisters.TlbInvCount)), Is.EqualTo((ulong)countBefore + 1));
        Assert.That(_device.Aperture.Read32(2 * 4096, out v), Is.EqualTo(ApertureStatus.Ok));
        Assert.That(v, Is.EqualTo(0xBBBB_BBBBu));

        SetPte(2, 0); // unmap
        InvalidateApertureTlb();
        Assert.That(_device.Aperture.Read32(2 * 4096, out v), Is.EqualTo(ApertureStatus.NotMapped));
        Assert.That(_device.Aperture.Write32(2 * 4096, 1), Is.EqualTo(ApertureStatus.NotMapped));
        Assert.That(_device.Memory.Read32(PhysicalAddress.Local(0x6000)), Is.EqualTo(0xBBBB_BBBBu), "the dropped write reached nothing");
    }

    [Test]
    public void ApertureTlb_IsARegisteredClient_UntouchedByAContextRangeInvalidation()
    {
        Assert.That(_device.Mmu.ClientTlbs, Does.Contain(_device.Aperture.Tlb));
        MapPage(0, 0x5000);
        InvalidateApertureTlb();
        Assert.That(_device.Aperture.TryTranslate(0, out _), Is.True);
        _device.Mmio.Write32(Reg(MmuRegisters.TlbInvAsid), 1);
        _device.Mmio.Write64(Reg(MmuRegisters.TlbInvPages), 0);
        _device.Mmio.Write32(Reg(MmuRegisters.TlbInvCmd), MmuRegisters.CommandInvalidateRange);
        Assert.That(_device.Aperture.Tlb.ValidEntries, Is.EqualTo(1), "ASID 1 names a context, not the aperture");
        _device.Mmio.Write32(Reg(MmuRegisters.TlbInvCmd), MmuRegisters.CommandInvalidateAll);
        Assert.That(_device.Aperture.Tlb.ValidEntries, Is.EqualTo(0), "command 2 reaches every client, the aperture included");
    }

    [Test]
    public void OnlyLocalMemoryCanBeMapped_AndBadEntriesOrTablesGiveTypedStatuses()
    {
        SetPte(0, PageTableEntry.Create(MemoryLocation.System, 0x1000).Raw);
        SetPte(1, PageTableEntry.Dummy.Raw);
        SetPte(2, PageTableEntry.Create(MemoryLocation.Local, 0x20_0000, largePage: true).Raw);
        SetPte(3, PageTableEntry.Create(MemoryLocation.Local, 0x5000).Raw | (1UL << 55));
        MapPage(4, 0x5000, writable: false);
        MapPage(5, 4UL << 20); // the frame lies past the end of local memory
        MapPage(15, 0x7000);
        InvalidateApertureTlb();

        Assert.That(_device.Aperture.Translate(0, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.NotMapped), "LOC = system");
        Assert.That(_device.Aperture.Translate(4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.NotMapped), "LOC = dummy");
        Assert.That(_device.Aperture.Translate(2 * 4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.NotMapped), "PS");
        Assert.That(_device.Aperture.Translate(3 * 4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.NotMapped), "reserved bit");
        Assert.That(_device.Aperture.Translate(4 * 4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.Ok));
        Assert.That(_device.Aperture.Translate(4 * 4096, AccessKind.Write, out _), Is.EqualTo(ApertureStatus.ReadOnly));
        Assert.That(_device.Aperture.Translate(5 * 4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.PhysicalOutOfRange));

        _device.Mmio.Write32(Reg(MmuRegisters.ApertureEntries), 15);
        Assert.That(_device.Aperture.Translate(15 * 4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.NotMapped), "page at APERTURE_ENTRIES");
        _device.Mmio.Write32(Reg(MmuRegisters.ApertureEntries), 16);
        Assert.That(_device.Aperture.Translate(15 * 4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.Ok));

        _device.Mmio.Write64(Reg(MmuRegisters.ApertureTable), PhysicalAddress.System(0).Encoded);
        Assert.That(_device.Aperture.Translate(15 * 4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.TableNotLocal),
            "a new APERTURE_TABLE drops cached translations at once");
        _device.Mmio.Write64(Reg(MmuRegisters.ApertureTable), PhysicalAddress.Local((4UL << 20) - 8).Encoded);
        Assert.That(_device.Aperture.Translate(4096, AccessKind.Read, out _), Is.EqualTo(ApertureStatus.PhysicalOutOfRange), "table entry 1 past local memory");
    }
}
