using System.Numerics;
using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// A translation look-aside buffer for one translation client (an engine, the display, the aperture).
/// Direct-mapped, power-of-two entries, each caching one 4 KiB leaf translation tagged by (ASID, VA page).
/// Only successful, non-dummy translations are cached, so a mapping made later is seen at once; every
/// unmap or change must be followed by <see cref="InvalidateRange"/> or <see cref="InvalidateAll"/>, which are
/// exact: no entry for an invalidated page survives.
/// </summary>
public sealed class Tlb
{
    // Design: struct-of-arrays, tag 0 = empty. Tag = 1 | vpn << 1 | asid << 40 (vpn is 36 bits).
    // Data = physical frame offset | W<<0 | P<<1 | location<<2 (frame is 4 KiB aligned, so low bits are free).
    private readonly ulong[] _tags;
    private readonly ulong[] _data;
    private readonly int _mask;

    /// <summary>Creates a TLB with <paramref name="entries"/> entries (a power of two, 1..65536).</summary>
    public Tlb(int entries = 64)
    {
        if (entries < 1 || entries > 65536 || !BitOperations.IsPow2(entries))
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "TLB size must be a power of two in 1..65536");
        _tags = new ulong[entries];
        _data = new ulong[entries];
        _mask = entries - 1;
    }

    /// <summary>Number of entries.</summary>
    public int Capacity => _tags.Length;

    /// <summary>Lookups that hit.</summary>
    public long Hits { get; private set; }

    /// <summary>Lookups that missed (and walked the table).</summary>
    public long Misses { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Tag(ushort asid, ulong vpn) => 1UL | (vpn << 1) | ((ulong)asid << 40);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Index(ushort asid, ulong vpn) => (int)((vpn ^ ((ulong)asid * 0x9E37u)) & (uint)_mask);

    /// <summary>Looks up a page. On a hit returns the frame, writable and privileged bits and location.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryLookup(ushort asid, ulong vpn, out ulong data)
    {
        int i = Index(asid, vpn);
        if (_tags[i] == Tag(asid, vpn))
        {
            data = _data[i];
            Hits++;
            return true;
        }
        data = 0;
        Misses++;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Insert(ushort asid, ulong vpn, ulong frame, bool writable, bool privileged, MemoryLocation location)
    {
        int i = Index(asid, vpn);
        _tags[i] = Tag(asid, vpn);
        _data[i] = frame | (writable ? 1UL : 0) | (privileged ? 2UL : 0) | ((ulong)location << 2);
    }

    /// <summary>Drops every entry.</summary>
    public void InvalidateAll()
    {
        Array.Clear(_tags);
    }

    /// <summary>Drops every entry of <paramref name="asid"/> whose page lies in [va, va + bytes).</summary>
    public void InvalidateRange(ushort asid, ulong va, ulong bytes)
    {
        if (bytes == 0) return;
        ulong first = va >> PageTableLayout.PageShift;
        ulong last = (va + bytes - 1) >> PageTableLayout.PageShift;
        if (last - first >= (ulong)_tags.Length)
        {
            // Cheaper to scan the whole array than to probe each page; still exact.
            for (int i = 0; i < _tags.Length; i++)
            {
                ulong t = _tags[i];
                if (t != 0 && (ushort)(t >> 40) == asid)
                {
                    ulong vpn = (t >> 1) & ((1UL << 39) - 1);
                    if (vpn >= first && vpn <= last) _tags[i] = 0;
                }
            }
            return;
        }
        for (ulong vpn = first; vpn <= last; vpn++)
        {
            int i = Index(asid, vpn);
            if (_tags[i] == Tag(asid, vpn)) _tags[i] = 0;
        }
    }

    /// <summary>Drops every entry of one address space.</summary>
    public void InvalidateAsid(ushort asid)
    {
        for (int i = 0; i < _tags.Length; i++)
            if (_tags[i] != 0 && (ushort)(_tags[i] >> 40) == asid) _tags[i] = 0;
    }
}
