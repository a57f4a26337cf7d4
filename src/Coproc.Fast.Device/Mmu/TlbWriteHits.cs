using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// One view's TLB-hit write path read once, for a loop that changes no TLB state between its hits (the command
/// processor's plain-packet loop): the table hits are read from, its mask, the write comparator's place in an entry,
/// the ASID, and where local and system memory start. Valid only while nothing binds, inserts or invalidates — the
/// holder does nothing but hit and write, and returns at the first miss. A default value never hits.
/// </summary>
internal readonly unsafe struct TlbWriteHits
{
    private readonly byte* _table;
    private readonly ulong _byteMask;
    private readonly nint _comparator;
    private readonly uint _asid;
    private readonly byte* _localBase;
    private readonly byte* _systemBias;

    internal TlbWriteHits(byte* table, ulong byteMask, nint comparator, uint asid, byte* localBase, byte* systemBias)
    {
        _table = table; _byteMask = byteMask; _comparator = comparator; _asid = asid;
        _localBase = localBase; _systemBias = systemBias;
    }

    /// <summary>
    /// A pointer to the <paramref name="bytes"/> at <paramref name="va"/> when they lie in one page the TLB holds for
    /// this ASID with write rights, in local memory or in system memory reachable without a call
    /// (<see cref="Memory.DeviceMemory.SystemWriteBias"/>); else null, and the caller takes the general path. The same
    /// pointer <see cref="GpuVirtualMemory.TryWritePointer"/> returns, found the same way (<see cref="Tlb.TryHit"/>;
    /// Tlb invariant 2: the Owner word is the ASID, with OwnerNotLocal set for a page outside local memory).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* TryPointer(ulong va, uint bytes)
    {
        if (_table == null || (va & (PageTableLayout.PageSize - 1)) + bytes > PageTableLayout.PageSize) return null;
        byte* e = _table + (nint)(System.Numerics.BitOperations.RotateRight(va, Tlb.EntryBytesShift) & _byteMask);
        if (*(ulong*)(e + _comparator) != Tlb.Key(va)) return null;
        uint owner = *(uint*)(e + Tlb.OwnerSlot * sizeof(ulong));
        ulong offset = va + *(ulong*)(e + Tlb.AddendSlot * sizeof(ulong));
        if (owner == _asid) return _localBase + offset;
        return owner == (_asid | Tlb.OwnerNotLocalBit) && _systemBias != null ? _systemBias + offset : null;
    }
}
