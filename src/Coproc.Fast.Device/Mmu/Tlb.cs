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
internal sealed unsafe class Tlb
{
    // Design: direct-mapped, not set-associative. A hit is one indexed load of a comparator and one of the data word,
    // both in the entry's 64-byte line, and one compare — no way search, no replacement state to update — which is what
    // lets a hit come close to the 64-entry TLB of the docs/performance.md anchor (goal 5). The usual cost of direct
    // mapping, conflict misses, is small here: clients stream through VA (rings, DMA buffers, copy runs), and consecutive
    // pages of one ASID land in consecutive slots (index = VPN ^ ASID), so any 64 consecutive pages coexist in a 64-entry
    // TLB; copies and fills translate once per page run anyway (GpuMmu.TranslateRun). A conflict costs one walk, never a
    // wrong answer: tags hold the full (ASID, VPN), so exactness does not depend on the layout.
    //
    // The hit path (TryHit) folds the access check into the tag compare, as a software-MMU TLB does: besides its tag, an
    // entry holds one comparator per access class (read / write × privileged / limited, seed 001 §5.7), which Insert sets
    // to the tag when the page allows that class and to 0 (never a key: every key has its six low bits set) when it does
    // not. Validity, ASID, VPN and rights are then one compare of the class's comparator with the key; only the VA width
    // (VA < 2^48, which keeps high VA bits from reaching the ASID field) adds a shift and an OR, without a branch of its own.
    // Counting hits would be a loop-carried store, so it is done on the slow path: while CountHits is on, every comparator
    // carries bit 63, which no key has, so every lookup falls through to TryLookup, which compares the tag and counts.
    // Invalidation clears the whole entry (tag and comparators), so it stays exact. The entry also keeps an addend
    // (frame − page VA) so the hit's physical offset is one add, with no masking.
    // A client that translates many addresses of one context in a loop holds a TlbPort (see below) in a local: the entry
    // base, the mask and the key bias of its ASID in registers, so a hit reads nothing but the VA and the entry.
    // Measured (TranslationBenchmarks --job short, 3 launches, docs/performance.md goal 5, not met): a hit through a port
    // runs at 0.50× the bare anchor loop's rate (0.41–0.57), a full GpuMmu.Translate hit at 0.37× (0.27–0.48). The
    // port's hit is 15 instructions and 4 loads against the anchor's 9 and 3; what is left is inherent to the key: the
    // 16-bit ASID (guest-written descriptors, the aperture's 0xFFFE) and a 36-bit VPN fill the 64-bit tag, so the key
    // costs three operations and the VA width a shift and an OR, where the anchor, with no ASID, compares the bare VPN;
    // and a hit also loads the data word (the location).
    // The entries live in a pinned array addressed through a raw pointer: no null or bounds check on a hit.
    //
    // Tag = (VPN << 6 | 63) ^ ASID << 6 ^ ASID << 42 (VPN < 2^36). The low six bits are all ones, so no tag or key is 0
    // (0 = empty slot, or class not allowed); bits 42..57 hold the ASID, so (ASID, VPN) is recoverable and the tag exact.
    // The layout lets the key double as the slot's byte offset: key & ((entries − 1) × 64) = ((VPN ^ ASID) & mask) × 64,
    // the slot Index names, and the key is built from the VA in three operations ((VA >> 6 | 63) ^ bias, see Key).
    // Data = 4 KiB-aligned physical frame offset | read-only << 0 | P << 1 | location << 2.

    /// <summary>ASID value meaning "every address space" in invalidation requests (TLB_INV_ASID = 0xFFFF).</summary>
    public const ushort AllAsids = 0xFFFF;

    /// <summary>Client id of a TLB created directly rather than through <see cref="GpuMmu.CreateClientTlb"/>.</summary>
    public const int UnregisteredClientId = -1;

    private const int VpnBits = 36;

    // One 64-byte entry: tag, data, the comparators of the four access classes (see AccessClass), the addend, padding.
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private struct Entry
    {
        public ulong Tag;
        public ulong Data;
        public ulong ReadPrivileged, WritePrivileged, ReadLimited, WriteLimited;
        public ulong Addend; // frame − page VA (wrapping): the physical offset of any byte of the page is its VA + Addend
    }

    internal const int DataSlot = 1;       // ulong index of Data inside Entry
    internal const int ComparatorSlot = 2; // ulong index of ReadPrivileged inside Entry
    internal const int AddendSlot = 6;     // ulong index of Addend inside Entry
    internal const int EntryBytesShift = 6; // log2 of an Entry's size in bytes
    internal const int VaBits = PageTableLayout.PageShift + VpnBits; // VAs at or above 2^48 never hit
    private const ulong CountingBit = 1UL << 63; // in every comparator while hits are counted: no key has it

    private readonly Entry[] _entries; // pinned (pinned object heap): _base points into it for its whole life
    private readonly Entry* _base;
    private readonly ulong _mask;
    private readonly ulong _byteMask; // _mask × 64: masks a key to its slot's byte offset

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
        _byteMask = _mask << EntryBytesShift;
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
        get => _comparatorBias != 0;
        set
        {
            ulong bias = value ? CountingBit : 0;
            if (bias == _comparatorBias) return;
            _comparatorBias = bias;
            // Re-bias the comparators of cached pages (0, "class not allowed", stays 0): no translation is lost.
            foreach (ref var e in _entries.AsSpan())
            {
                if (e.Tag == 0) continue;
                e.ReadPrivileged = Rebias(e.ReadPrivileged, bias);
                e.WritePrivileged = Rebias(e.WritePrivileged, bias);
                e.ReadLimited = Rebias(e.ReadLimited, bias);
                e.WriteLimited = Rebias(e.WriteLimited, bias);
            }
        }
    }

    private static ulong Rebias(ulong comparator, ulong bias) => comparator == 0 ? 0 : (comparator & ~CountingBit) | bias;

    private ulong _comparatorBias;

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
    private static ulong Tag(ushort asid, ulong vpn) => ((vpn << EntryBytesShift) | KeyOnes) ^ KeyBias(asid);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nint Index(ushort asid, ulong vpn) => (nint)((vpn ^ asid) & _mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry Slot(nint i) => ref _base[i];

    /// <summary>Data bit: the page is read-only (stored inverted from the PTE's W so a write's check is one AND).</summary>
    internal const ulong ReadOnlyBit = 1;

    /// <summary>Data bit: the page is privileged (P).</summary>
    internal const ulong PrivilegedBit = 2;

    /// <summary>
    /// The access class of an access: which of an entry's four comparators a hit compares (0 privileged read,
    /// 1 privileged write, 2 limited read, 3 limited write; a limited access may not touch P pages, seed 001 §5.7).
    /// Computed once per access kind, or once per view, so a hit checks every right within its one tag compare.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int AccessClass(AccessKind access, bool privileged) =>
        (access == AccessKind.Write ? 1 : 0) | (privileged ? 0 : 2);

    /// <summary>
    /// The hit path: true when the page of <paramref name="va"/> is cached for <paramref name="asid"/> and allows
    /// <paramref name="accessClass"/> (<see cref="AccessClass"/>); <paramref name="offset"/> is then the physical offset
    /// of the byte at <paramref name="va"/>, and <paramref name="data"/> the entry's data word (location, rights). Validity, tag, rights and VA width fold into one compare-and-branch; counts nothing
    /// (a false answer is re-examined, and counted, by <see cref="TryLookup"/> on the caller's slow path).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryHit(ushort asid, ulong va, int accessClass, out ulong data, out ulong offset)
    {
        ulong key = Key(va, KeyBias(asid));
        ulong* e = (ulong*)((byte*)_base + (key & _byteMask));
        data = e[DataSlot];
        offset = va + e[AddendSlot]; // one add, no masking: the frame offset plus the byte's offset in the page
        // A VPN of 36 bits or more never translates (it could alias the tag's ASID field), so it is refused here too.
        return ((e[ComparatorSlot + accessClass] ^ key) | (va >> VaBits)) == 0;
    }

    /// <summary>
    /// This TLB's hit path bound to one address space and one access class (<see cref="TlbPort"/>): everything a hit
    /// needs besides the VA, computed once, so a client that holds the port in a local reads only the entry per hit.
    /// </summary>
    internal TlbPort Port(ushort asid, int accessClass) => new(_base, _byteMask, asid, accessClass);

    /// <summary>
    /// The key a lookup compares: <see cref="Tag"/> of (ASID, VA page), built from the VA in three operations, and the
    /// byte offset of its slot once masked (see the layout above). (va &gt;&gt; 6) | 63 is VPN &lt;&lt; 6 | 63: the OR
    /// overwrites the six in-page bits the shift leaves. Only for VAs below 2^48; a caller ORs <c>va &gt;&gt; </c>
    /// <see cref="VaBits"/> into the compare, since higher VA bits would reach the ASID field.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Key(ulong va, ulong keyBias) => ((va >> (PageTableLayout.PageShift - EntryBytesShift)) | KeyOnes) ^ keyBias;

    /// <summary>The part of every key of <paramref name="asid"/> that does not depend on the VA: the ASID, twice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong KeyBias(ushort asid) => ((ulong)asid << EntryBytesShift) ^ ((ulong)asid << AsidShift);

    private const ulong KeyOnes = (1UL << EntryBytesShift) - 1;
    private const int AsidShift = EntryBytesShift + VpnBits;

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
        ulong tag = Tag(asid, vpn), cmp = tag | _comparatorBias;
        e.Tag = tag;
        e.Data = frame | (writable ? 0 : ReadOnlyBit) | (privileged ? PrivilegedBit : 0) | ((ulong)location << 2);
        e.Addend = frame - (vpn << PageTableLayout.PageShift);
        // A comparator is the tag when its access class is allowed, 0 (matches no key) when it is not.
        e.ReadPrivileged = cmp;
        e.WritePrivileged = writable ? cmp : 0;
        e.ReadLimited = privileged ? 0 : cmp;
        e.WriteLimited = writable && !privileged ? cmp : 0;
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
                if (e.Tag == Tag(asid, vpn)) e = default; // tag and comparators: no access class may hit it again
                if (vpn == last) break;
            }
            return;
        }
        // Many pages or every ASID: cheaper to scan the whole TLB than to probe each page; still exact.
        foreach (ref var e in _entries.AsSpan())
        {
            ulong t = e.Tag;
            if (t == 0) continue;
            ushort tagAsid = (ushort)(t >> AsidShift);
            ulong vpn = ((t >> EntryBytesShift) ^ tagAsid) & ((1UL << VpnBits) - 1);
            if ((asid == AllAsids || tagAsid == asid) && vpn >= first && vpn <= last) e = default;
        }
    }
}

/// <summary>
/// A TLB's hit path bound to one address space and one access class, as a translation client holds it in a local for a
/// run of accesses. Never kept in device state: a save-state restores the TLB's entries in place but does not rebase a
/// pointer into another object's array (Core/StateGraph.cs), so a stored port could point at another device's TLB. It copies the TLB's entry base and byte mask, the
/// key bias of the ASID and the slot of the class's comparator, so a hit is: the key built from the VA (which, masked, is
/// the slot's offset), one comparator load and compare, one addend load — the loads the bare TLB of docs/performance.md
/// goal 5 does, plus the data word, with nothing read through the TLB object or the address-space descriptor. It sees every insertion and invalidation
/// at once (it reads the same pinned entries, which live as long as the TLB), and counts nothing: a false answer is
/// re-examined, counted and reported by the full path (<see cref="GpuMmu.Translate"/>), exactly as for <see cref="Tlb.TryHit"/>.
/// A default port (no TLB) never hits: it points at a shared entry whose comparators are all 0, and no key is 0.
/// </summary>
internal readonly unsafe struct TlbPort
{
    private static readonly ulong* NeverHits = (ulong*)NativeMemory.AlignedAlloc(64, 64); // one empty entry, never freed
    static TlbPort() => NativeMemory.Clear(NeverHits, 64);

    private readonly byte* _entries;
    private readonly ulong _byteMask;  // (entries − 1) × 64: masks a key to its slot's byte offset
    private readonly ulong _keyBias;
    private readonly nint _comparator; // ulong index of the class's comparator inside an entry

    internal TlbPort(void* entries, ulong byteMask, ushort asid, int accessClass)
    {
        _entries = (byte*)entries;
        _byteMask = byteMask;
        _keyBias = Tlb.KeyBias(asid);
        _comparator = Tlb.ComparatorSlot + accessClass;
    }

    /// <summary>A port that never hits, for a client without a TLB.</summary>
    internal static TlbPort None(ushort asid, int accessClass) => new(NeverHits, 0, asid, accessClass);

    /// <summary>
    /// True when the page of <paramref name="va"/> is cached for this port's ASID with its access class allowed;
    /// <paramref name="offset"/> is then the physical offset of the byte at <paramref name="va"/> and
    /// <paramref name="data"/> the entry's data word (location in bits 2..3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryHit(ulong va, out ulong data, out ulong offset)
    {
        ulong key = Tlb.Key(va, _keyBias);
        ulong* e = (ulong*)(_entries + (key & _byteMask)); // the key masked is the slot's byte offset
        data = e[Tlb.DataSlot];
        offset = va + e[Tlb.AddendSlot];
        // Same compare as Tlb.TryHit: validity, ASID, page and rights in one, the VA width (< 2^48) ORed in.
        return ((e[_comparator] ^ key) | (va >> Tlb.VaBits)) == 0;
    }
}
