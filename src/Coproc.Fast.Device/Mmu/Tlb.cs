using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// A translation look-aside buffer for one translation client (an engine, the display, the aperture).
/// Direct-mapped, power-of-two entries, each caching one 4 KiB leaf translation tagged by (ASID, VA page).
/// Only successful, non-dummy translations are cached, so a mapping made later is seen at once; every
/// unmap or change must be followed by an invalidation (<see cref="InvalidatePages"/>, <see cref="InvalidateAll"/>,
/// or the MMU's TLB_INV_CMD register, which reaches every registered client), and invalidation is exact:
/// no entry for an invalidated page survives. A TLB is used by one client on the device thread only.
/// </summary>
public sealed unsafe class Tlb
{
    // Design: direct-mapped, not set-associative. A hit is one indexed load of a 16-byte {tag, data} pair
    // (both on one cache line) and one compare — no way search, no replacement state to update — which is
    // what lets a hit come close to the 64-entry TLB of the docs/performance.md anchor (goal 5). The usual cost of
    // direct mapping, conflict misses, is small here: clients stream through VA (rings, DMA buffers, copy runs),
    // and consecutive pages of one ASID land in consecutive slots (index = VPN ^ ASID), so any 64 consecutive
    // pages coexist in a 64-entry TLB; copies and fills translate once per page run anyway (GpuMmu.TranslateRun).
    // A conflict costs one walk, never a wrong answer: tags hold the full (ASID, VPN), so exactness does not
    // depend on the layout.
    // The hit path (TryHit) is branch-free up to one final test: tag, VA width (VPN < 2^36) and rights (the data
    // stores read-only and P, so a precomputed deny mask checks both with one AND) are ORed into one word. Counting
    // hits would be a loop-carried store, so it is done on the slow path: while CountHits is on, the hit key carries a
    // bit no tag has and every lookup goes through TryLookup, which counts.
    // Measured (TranslationBenchmarks --job short, same run, shared 2-core machine at load 8–15): a full
    // GpuMmu.Translate hit costs 1.8–2.9× the bare anchor loop (tag compare + load in native arrays, no ASID, rights,
    // width or location), down from 3.6–4.7× — ~1.9–3.1 ns, 320–530 M hits/s by load, around the ~420 M/s anchor
    // figure of docs/performance.md but not within 1.1× of the in-run bare loop: the ASID, the width and rights checks
    // and the PageRun cost ~15 more instructions than the bare loop's ~10. A set-associative lookup would only add
    // compares to that path.
    // The entries live in a pinned array addressed through a raw pointer: no null or bounds check on a hit.
    //
    // Tag = 1 | VPN << 1 | ASID << 40 (VPN < 2^36, so the fields never overlap; tag 0 = empty slot).
    // Data = 4 KiB-aligned physical frame offset | read-only << 0 | P << 1 | location << 2.

    /// <summary>ASID value meaning "every address space" in invalidation requests (TLB_INV_ASID = 0xFFFF).</summary>
    public const ushort AllAsids = 0xFFFF;

    /// <summary>Client id of a TLB created directly rather than through <see cref="GpuMmu.CreateClientTlb"/>.</summary>
    public const int UnregisteredClientId = -1;

    private const int VpnBits = 36;

    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        public ulong Tag;
        public ulong Data;
    }

    private readonly Entry[] _entries; // pinned (pinned object heap): _base points into it for its whole life
    private readonly Entry* _base;
    private readonly ulong _mask;

    /// <summary>
    /// Creates an unregistered TLB with <paramref name="entries"/> entries (a power of two, 1..65536). MMIO
    /// invalidation commands do not reach it; prefer <see cref="GpuMmu.CreateClientTlb"/>.
    /// </summary>
    public Tlb(int entries = 64) : this(entries, "unregistered", UnregisteredClientId) { }

    internal Tlb(int entries, string clientName, int clientId)
    {
        if (entries < 1 || entries > 65536 || !BitOperations.IsPow2(entries))
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "TLB size must be a power of two in 1..65536");
        _entries = GC.AllocateArray<Entry>(entries, pinned: true);
        _base = (Entry*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_entries));
        _mask = (ulong)entries - 1;
        ClientName = clientName;
        ClientId = clientId;
    }

    /// <summary>Number of entries.</summary>
    public int Capacity => _entries.Length;

    /// <summary>Name of the translation client that owns this TLB.</summary>
    public string ClientName { get; }

    /// <summary>Client id in the MMU's registry (FAULT_INFO bits 32..39), or <see cref="UnregisteredClientId"/>.</summary>
    public int ClientId { get; }

    /// <summary>
    /// Lookups that hit, counted only while <see cref="CountHits"/> is on (observability at no cost when disabled:
    /// a counter bumped on every hit is a loop-carried memory dependency that alone costs about as much as the hit).
    /// </summary>
    public long Hits { get; private set; }

    /// <summary>Turns hit counting on (off by default). Misses are always counted.</summary>
    public bool CountHits
    {
        get => _hitKeyBias != 1;
        set => _hitKeyBias = value ? 1UL | (1UL << 63) : 1UL;
    }

    private ulong _hitKeyBias = 1;

    /// <summary>Lookups that missed (and walked the table).</summary>
    public long Misses { get; private set; }

    /// <summary>Invalidation requests applied to this TLB (any kind).</summary>
    public long Invalidations { get; private set; }

    /// <summary>Entries currently holding a translation (a diagnostic; scans the TLB).</summary>
    public int ValidEntries
    {
        get
        {
            int n = 0;
            foreach (ref readonly var e in _entries.AsSpan()) if (e.Tag != 0) n++;
            return n;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Tag(ushort asid, ulong vpn) => 1UL | (vpn << 1) | ((ulong)asid << 40);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nint Index(ushort asid, ulong vpn) => (nint)((vpn ^ asid) & _mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry Slot(nint i) => ref _base[i];

    /// <summary>Data bit: the page is read-only (stored inverted from the PTE's W so a write's check is one AND).</summary>
    internal const ulong ReadOnlyBit = 1;

    /// <summary>Data bit: the page is privileged (P).</summary>
    internal const ulong PrivilegedBit = 2;

    /// <summary>
    /// The data bits that must be clear for an access to be allowed: read-only for a write, privileged for a limited
    /// access (seed 001 §5.7). Precomputed once per access so a hit checks every right with one AND.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong DenyMask(AccessKind access, bool privileged) =>
        (access == AccessKind.Write ? ReadOnlyBit : 0) | (privileged ? 0 : PrivilegedBit);

    /// <summary>
    /// The hit path: true when the page is cached for <paramref name="asid"/> and none of the <paramref name="deny"/>
    /// bits is set. Tag, VA width and rights fold into one compare-and-branch; counts nothing (a false answer is
    /// re-examined, and counted, by <see cref="TryLookup"/> on the caller's slow path).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryHit(ushort asid, ulong vpn, ulong deny, out ulong data)
    {
        ref Entry e = ref Slot(Index(asid, vpn));
        data = e.Data;
        // _hitKeyBias is 1 (the tag's valid bit), or 1 | 1 << 63 — a bit no tag has — while hits are counted, so every
        // lookup then takes the counting slow path. A VPN of 36 bits or more never translates (it could alias the tag's
        // ASID field), so it is refused here too, without a branch of its own.
        ulong key = _hitKeyBias | (vpn << 1) | ((ulong)asid << 40);
        return ((e.Tag ^ key) | (vpn >> VpnBits) | (data & deny)) == 0;
    }

    /// <summary>Looks up a page and counts the hit or miss. On a hit returns the frame, read-only and privileged bits and location.</summary>
    internal bool TryLookup(ushort asid, ulong vpn, out ulong data)
    {
        ref Entry e = ref Slot(Index(asid, vpn));
        // A VPN of 36 bits or more never translates; refusing it keeps it from aliasing the ASID field of a tag.
        if (e.Tag == Tag(asid, vpn) && (vpn >> VpnBits) == 0)
        {
            data = e.Data;
            if (CountHits) Hits++;
            return true;
        }
        data = 0;
        Misses++;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Insert(ushort asid, ulong vpn, ulong frame, bool writable, bool privileged, MemoryLocation location)
    {
        if ((vpn >> VpnBits) != 0) return;
        ref Entry e = ref Slot(Index(asid, vpn));
        e.Tag = Tag(asid, vpn);
        e.Data = frame | (writable ? 0 : ReadOnlyBit) | (privileged ? PrivilegedBit : 0) | ((ulong)location << 2);
    }

    /// <summary>Drops every entry.</summary>
    public void InvalidateAll()
    {
        Array.Clear(_entries);
        Invalidations++;
    }

    /// <summary>Drops every entry of <paramref name="asid"/> whose page lies in [va, va + bytes).</summary>
    public void InvalidateRange(ushort asid, ulong va, ulong bytes)
    {
        if (bytes == 0) { Invalidations++; return; }
        ulong first = va >> PageTableLayout.PageShift;
        ulong last = va + (bytes - 1) < va ? ulong.MaxValue >> PageTableLayout.PageShift : (va + bytes - 1) >> PageTableLayout.PageShift;
        InvalidateVpns(asid, first, last);
    }

    /// <summary>Drops every entry of one address space.</summary>
    public void InvalidateAsid(ushort asid) => InvalidateVpns(asid, 0, ulong.MaxValue);

    /// <summary>
    /// The TLB_INV_CMD 1 request: drops every entry of <paramref name="asid"/> (<see cref="AllAsids"/> = any) whose
    /// page lies in <paramref name="pages"/> 4 KiB pages from the page holding <paramref name="va"/>;
    /// <paramref name="pages"/> = 0 means the whole address space.
    /// </summary>
    public void InvalidatePages(ushort asid, ulong va, ulong pages)
    {
        ulong first = va >> PageTableLayout.PageShift;
        ulong last = pages == 0 ? ulong.MaxValue : (first + pages - 1 < first ? ulong.MaxValue : first + pages - 1);
        if (pages == 0) first = 0;
        InvalidateVpns(asid, first, last);
    }

    private void InvalidateVpns(ushort asid, ulong first, ulong last)
    {
        Invalidations++;
        if (asid == AllAsids && first == 0 && last == ulong.MaxValue) { Array.Clear(_entries); return; }
        if (asid != AllAsids && last - first < (ulong)_entries.Length)
        {
            // Few pages: probe the one slot each page can live in.
            for (ulong vpn = first; ; vpn++)
            {
                ref Entry e = ref Slot(Index(asid, vpn));
                if (e.Tag == Tag(asid, vpn)) e.Tag = 0;
                if (vpn == last) break;
            }
            return;
        }
        // Many pages or every ASID: cheaper to scan the whole TLB than to probe each page; still exact.
        foreach (ref var e in _entries.AsSpan())
        {
            ulong t = e.Tag;
            if (t == 0) continue;
            ulong vpn = (t >> 1) & ((1UL << VpnBits) - 1);
            if ((asid == AllAsids || (ushort)(t >> 40) == asid) && vpn >= first && vpn <= last) e.Tag = 0;
        }
    }
}
