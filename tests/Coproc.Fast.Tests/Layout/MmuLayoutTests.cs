using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Layout;

/// <summary>MMU register offsets and the FAULT_INFO encoding, checked against native-layout.md §7.</summary>
public class MmuLayoutTests
{
    [Test]
    public void MmuRegisterOffsets_MatchNativeLayoutSection7()
    {
        Assert.That(MmioMap.MmuBase, Is.EqualTo(0x200u));
        Assert.That(new[]
        {
            MmuRegisters.ApertureTable, MmuRegisters.ApertureEntries, MmuRegisters.TlbInvAsid, MmuRegisters.TlbInvVa,
            MmuRegisters.TlbInvPages, MmuRegisters.TlbInvCmd, MmuRegisters.TlbInvCount, MmuRegisters.FaultCount,
            MmuRegisters.FaultVa, MmuRegisters.FaultInfo,
        }, Is.EqualTo(new uint[] { 0x08, 0x10, 0x20, 0x28, 0x30, 0x38, 0x40, 0x50, 0x58, 0x60 }));
        Assert.That((MmuRegisters.CommandInvalidateRange, MmuRegisters.CommandInvalidateAll, MmuRegisters.CommandInvalidateAperture),
            Is.EqualTo((1u, 2u, 3u)));
        Assert.That(Tlb.AllAsids, Is.EqualTo(0xFFFF));
    }

    [Test]
    public void FaultInfo_HasStatusAccessAsidAndClientAtTheDocumentedBits()
    {
        var f = new MmuFault(ClientId: 0xA5, Asid: 0x0FED, VirtualAddress: 0x1234, Status: TranslationStatus.PhysicalOutOfRange, Access: AccessKind.Write);
        Assert.That(f.Info, Is.EqualTo(0x0000_00A5_0FED_0104UL));
        Assert.That((byte)TranslationStatus.InvalidAddress, Is.EqualTo(1));
        Assert.That((byte)TranslationStatus.WriteProtected, Is.EqualTo(2));
        Assert.That((byte)TranslationStatus.PrivilegeViolation, Is.EqualTo(3));
        Assert.That((byte)TranslationStatus.PhysicalOutOfRange, Is.EqualTo(4));
    }
}
