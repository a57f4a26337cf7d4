namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// One entry of the MMU fault log (native-layout.md §7.5): which client, address space and VA faulted, why,
/// and whether it was a read or a write. <see cref="Info"/> is the FAULT_INFO register encoding:
/// <code>
/// bits  0..7   TranslationStatus
/// bit   8      access: 0 read, 1 write
/// bits 16..31  ASID
/// bits 32..39  client id (the faulting client's Tlb.ClientId)
/// other bits   0
/// </code>
/// </summary>
internal readonly record struct MmuFault(byte ClientId, ushort Asid, ulong VirtualAddress, TranslationStatus Status, AccessKind Access)
{
    /// <summary>The FAULT_INFO register value.</summary>
    public ulong Info => (byte)Status | ((ulong)Access << 8) | ((ulong)Asid << 16) | ((ulong)ClientId << 32);

    /// <summary>Decodes a FAULT_INFO value and a FAULT_VA value.</summary>
    public static MmuFault Decode(ulong info, ulong va) =>
        new((byte)(info >> 32), (ushort)(info >> 16), va, (TranslationStatus)(byte)info, (AccessKind)((info >> 8) & 1));
}
