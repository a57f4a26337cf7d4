using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// The MMU's registers at <see cref="MmioMap.MmuBase"/>, 0x200 bytes (native-layout.md §7.1). Each register has
/// one width; an access of another width, or to an offset not listed, is unclaimed (reads all ones).
/// Commands take effect during the write that issues them, so a driver's next access already sees the result.
/// <code>
/// 0x08 APERTURE_TABLE   RW64  encoded physical address of aperture PTE 0 (must be local memory)
/// 0x10 APERTURE_ENTRIES RW32  aperture pages described; clamped to APERTURE_SIZE / 4096
/// 0x20 TLB_INV_ASID     RW32  ASID for command 1; 0xFFFF = every address space
/// 0x28 TLB_INV_VA       RW64  start VA for command 1 (bits 0..11 ignored)
/// 0x30 TLB_INV_PAGES    RW64  4 KiB pages for command 1; 0 = the whole address space
/// 0x38 TLB_INV_CMD      W32   1 = (ASID, range) on every client TLB, 2 = everything, 3 = the aperture TLB
/// 0x40 TLB_INV_COUNT    R64   invalidation commands completed
/// 0x50 FAULT_COUNT      R64   MMU faults reported
/// 0x58 FAULT_VA         R64   VA of the last fault
/// 0x60 FAULT_INFO       R64   last fault: bits 0..7 status, 8 access, 16..31 ASID, 32..39 client id
/// </code>
/// </summary>
internal sealed class MmuRegisterBlock : IMmioBlock
{
    private readonly GpuMmu _mmu;
    private readonly Aperture _aperture;
    private ushort _invAsid;
    private ulong _invVa;
    private ulong _invPages;

    /// <summary>Creates the block over the MMU and the aperture it programs.</summary>
    public MmuRegisterBlock(GpuMmu mmu, Aperture aperture)
    {
        _mmu = mmu ?? throw new ArgumentNullException(nameof(mmu));
        _aperture = aperture ?? throw new ArgumentNullException(nameof(aperture));
    }

    /// <inheritdoc />
    public uint Base => MmioMap.MmuBase;

    /// <inheritdoc />
    public uint Size => 0x200;

    /// <summary>TLB_INV_CMD writes with an unknown command value (ignored, not counted in TLB_INV_COUNT).</summary>
    public long RejectedCommands { get; private set; }

    /// <inheritdoc />
    public bool TryRead(uint offset, int width, out ulong value)
    {
        value = 0;
        switch (offset, width)
        {
            case (MmuRegisters.ApertureTable, 8): value = _aperture.TableRegister; return true;
            case (MmuRegisters.ApertureEntries, 4): value = _aperture.Entries; return true;
            case (MmuRegisters.TlbInvAsid, 4): value = _invAsid; return true;
            case (MmuRegisters.TlbInvVa, 8): value = _invVa; return true;
            case (MmuRegisters.TlbInvPages, 8): value = _invPages; return true;
            case (MmuRegisters.TlbInvCount, 8): value = (ulong)_mmu.InvalidationCount; return true;
            case (MmuRegisters.FaultCount, 8): value = (ulong)_mmu.FaultCount; return true;
            case (MmuRegisters.FaultVa, 8): value = _mmu.LastFault.VirtualAddress; return true;
            case (MmuRegisters.FaultInfo, 8): value = _mmu.FaultCount == 0 ? 0 : _mmu.LastFault.Info; return true;
            default: return false;
        }
    }

    /// <inheritdoc />
    public bool TryWrite(uint offset, int width, ulong value)
    {
        switch (offset, width)
        {
            case (MmuRegisters.ApertureTable, 8):
                // A new table makes every cached aperture translation stale: drop them at once.
                _aperture.TableRegister = value;
                _aperture.FlushTlb();
                return true;
            case (MmuRegisters.ApertureEntries, 4):
                _aperture.Entries = (uint)Math.Min(value, _aperture.PageCount);
                _aperture.FlushTlb();
                return true;
            case (MmuRegisters.TlbInvAsid, 4): _invAsid = (ushort)value; return true;
            case (MmuRegisters.TlbInvVa, 8): _invVa = value & ~(PageTableLayout.PageSize - 1); return true;
            case (MmuRegisters.TlbInvPages, 8): _invPages = value; return true;
            case (MmuRegisters.TlbInvCmd, 4): Execute((uint)value); return true;
            default: return false;
        }
    }

    private void Execute(uint command)
    {
        switch (command)
        {
            case MmuRegisters.CommandInvalidateRange: _mmu.Invalidate(_invAsid, _invVa, _invPages); break;
            case MmuRegisters.CommandInvalidateAll: _mmu.InvalidateAll(); break;
            case MmuRegisters.CommandInvalidateAperture: _mmu.InvalidateClient(_aperture.Tlb); break;
            default: RejectedCommands++; break;
        }
    }

    /// <summary>Device reset (native-layout.md §20.3): the staged TLB_INV_* registers and the rejected-command count.</summary>
    internal void Reset()
    {
        _invAsid = 0;
        _invVa = 0;
        _invPages = 0;
        RejectedCommands = 0;
    }
}
