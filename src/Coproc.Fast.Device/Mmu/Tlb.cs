using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// A translation look-aside buffer for one translation client (an engine, the display, the aperture).
/// Holds the translations of up to <see cref="AddressSpaceSlots"/> address spaces at once, each in a direct-mapped table
/// of <see cref="Capacity"/> entries, each entry caching one 4 KiB leaf translation of its table's ASID.
/// Only successful, non-dummy translations are cached, so a mapping made later is seen at once; every
/// unmap or change must be followed by an invalidation (<see cref="InvalidatePages"/>, <see cref="InvalidateAll"/>,
/// or the MMU's TLB_INV_CMD register, which reaches every registered client), and invalidation is exact:
/// no entry for an invalidated page survives. A TLB is used by one client on the device thread only.
/// </summary>
internal sealed unsafe class Tlb
{
    // Design: the ASID is not in the tag. Each TLB keeps a table per address-space slot (a TLB-local short ASID, as a
    // CPU's PCID is), and a tiny map from the 16-bit ASID to its slot, so the tag of a cached page is its page VA alone
    // and the key a hit compares is built from the VA in one operation: VA | 0xFFF. That key needs no VA-width test
    // either: a stored tag is a page below 2^48 (Insert refuses higher VPNs), so a VA with any of bits 48..63 set never
    // equals one; and since every key has its twelve low bits set, 0 is never a key (0 = empty entry, or class not
    // allowed). The slot of a page within its table is (VA >> 6) & ((entries − 1) × 64): the byte offset of the entry.
    //
    // Access checks fold into the same compare, as a software-MMU TLB does: an entry holds one comparator per access
    // class (read / write × privileged / limited, seed 001 §5.7), which Insert sets to the tag when the page allows that
    // class and to 0 when it does not. Validity, page and rights are then one compare of the class's comparator with the
    // key. Counting hits would be a loop-carried store, so it is done on the slow path: while CountHits is on, every
    // comparator has bit 0 cleared, which every key has set, so every lookup falls through to TryLookup, which compares
    // the tag and counts. The entry also keeps an addend (frame − page VA) so the hit's physical offset is one add, and
    // the ASID it was inserted for (Owner, bits 0..15), which the hit compares with the access's ASID after the comparator.
    // Owner bit 16 (OwnerNotLocal) is set when the page is not in local memory: the full single-page hit (TryHitLocal, for
    // GpuMmuTranslation.Translate) compares the whole word with the ASID, so its one compare also says "local memory" and
    // it never loads the data word for the location; a system-memory page fails that compare and is found, as a hit and
    // without a walk, by TryLookup on the caller's slow path. TryHit compares Owner's low 16 bits and reads the location
    // from the data word, so its hits cover both memories.
    //
    // Invariants (kept by Bind, FreeSlot and the invalidations; tests: Mmu/TlbAddressSpaceSlotTests, Mmu/TlbPortTests and
    // the invalidation property):
    //   1. every non-empty entry of table k belongs to _owner[k] (its Owner's low 16 bits); a slot whose owner is NoOwner has an empty table.
    //      A slot is given to another ASID only after its whole table is cleared (Bind), so a context whose slot was
    //      recycled can never hit an entry of the ASID that took it over, nor one of its own from before;
    //   2. _boundAsid is NoOwner or _owner[_boundSlot]; _hitTable points at the first entry of one of this TLB's tables —
    //      table _boundSlot, except after a save-state restore until the next bind (see below). The hit path (TryHit)
    //      reads only the table _hitTable points at and hits only when the entry's Owner equals the access's ASID, so
    //      every hit is a translation of that ASID whichever table the pointer names; any other ASID falls through to
    //      TryLookup, which binds the ASID's slot if it has one (Insert gives it one) and re-points _hitTable;
    //   3. two slots never share an owner;
    //   4. a slot held by a TlbPort (_pins[k] > 0) keeps its owner: it is never recycled nor given up (invalidation only
    //      clears its entries), so a port, which holds its table's address and compares nothing but the key, only ever
    //      sees entries of its own ASID. A fifth ASID while every slot is held is translated, but not cached.
    // _hitTable may be a pointer because of the Owner test: a save-state restores the TLB's pinned entries in place and
    // keeps the restoring object's own pointers (Core/StateGraph.cs), so after a restore _hitTable may name another
    // table than _boundSlot's; entries of that table still carry their own ASIDs, so the bound ASID misses there (and
    // TryLookup re-points the pointer) and never hits another ASID's translation. An offset, as before, cost the hit
    // path one more load and add.
    //
    // Direct-mapped within a table, not set-associative: a hit is one indexed load of a comparator, of the owner, of the
    // addend and of the data word, all in the entry's 64-byte line — no way search, no replacement state to update. Consecutive
    // pages land in consecutive entries, so any 64 consecutive pages coexist in a 64-entry table; copies and fills
    // translate once per page run anyway (GpuMmu.TranslateRun). Address spaces no longer evict each other's entries
    // until more than AddressSpaceSlots of them translate through one client; then the least recently bound slot is
    // recycled (its table cleared), which costs walks, never a wrong answer. The price is memory: AddressSpaceSlots
    // tables of 64-byte entries, 16 KiB for a 64-entry TLB.
    // Measured (docs/performance.md goal 5, ninth session): a full Translate hit through TryHitLocal is 18 instructions
    // (14 macro-ops once compare and branch fuse) and 7 loads per hit in the benchmark's loop, where the bare TLB's is 13
    // (11) and 3; 0.80× (0.65–0.86) the bare TLB's rate in the median of 10 interleaved runs, 0.65× (0.46–0.72) before.
    // Sixth session (load average 14–20): a held TlbPort's hit 0.91–1.10× the bare
    // TLB's rate (13 instructions and 3 loads per hit, as the bare TLB's loop); a full GpuMmu.Translate hit 0.67× in the
    // median of 5 interleaved runs (0.62–0.68; 8 loads per hit: the VA, the descriptor's ASID, the table pointer and
    // mask, the entry's data word, comparator, addend and owner), 0.61× (0.50–0.62) with the bound-ASID compare and
    // base + offset it replaced (10 loads).
    //
    // Tag = VPN << 12 | 0xFFF (VPN < 2^36). Data = 4 KiB-aligned physical frame offset | read-only << 0 | P << 1 |
    // location << 2.

    /// <summary>ASID value meaning "every address space" in invalidation requests (TLB_INV_ASID = 0xFFFF).</summary>
    public const ushort AllAsids = 0xFFFF;

    /// <summary>Client id of a TLB created directly rather than through <see cref="GpuMmu.CreateClientTlb"/>.</summary>
    public const int UnregisteredClientId = -1;

    /// <summary>
    /// Address spaces whose translations a TLB holds at once (TLB-local slots, each a table of <see cref="Capacity"/>
    /// entries). When one more ASID translates through the TLB, the least recently bound slot is emptied and reused.
    /// </summary>
    public const int AddressSpaceSlots = 4;

    private const int VpnBits = 36;
    private const int NoOwner = -1; // no ASID (ASIDs are 0..0xFFFF)

    // One 64-byte entry: tag, data, the comparators of the four access classes (see AccessClass), the addend, padding.
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private struct Entry
    {
        public ulong Tag;
        public ulong Data;
        public ulong ReadPrivileged, WritePrivileged, ReadLimited, WriteLimited;
        public ulong Addend; // frame − page VA (wrapping): the physical offset of any byte of the page is its VA + Addend
        public ulong Owner;  // the ASID the entry translates for (its table's owner when it was inserted) | OwnerNotLocal
    }

    internal const int DataSlot = 1;       // ulong index of Data inside Entry
    internal const int ComparatorSlot = 2; // ulong index of ReadPrivileged inside Entry
    internal const int AddendSlot = 6;     // ulong index of Addend inside Entry
    internal const int OwnerSlot = 7;      // ulong index of Owner inside Entry
    internal const int EntryBytesShift = 6; // log2 of an Entry's size in bytes
    internal const int VaBits = PageTableLayout.PageShift + VpnBits; // VAs at or above 2^48 never hit
    private const ulong OwnerNotLocal = OwnerNotLocalBit; // in Owner when the page is not in local memory (TryHitLocal misses it)
    internal const uint OwnerNotLocalBit = 1u << 16;
    private const ulong KeyOnes = PageTableLayout.PageSize - 1;      // in every key and every tag
    private const ulong CountingMask = ~1UL; // ANDed into every comparator while hits are counted: no key matches it

    // The hit path's two loads from the TLB object come first, so their displacements stay short (one byte).
    private byte* _hitTable;           // a table of this TLB, normally the bound slot's (invariant 2)
    private readonly ulong _byteMask;  // _mask × 64: masks VA >> 6 to its entry's byte offset in a table
    private readonly Entry[] _entries; // AddressSpaceSlots tables; pinned (pinned object heap): _base points into it
    private readonly Entry* _base;
    private readonly int _perSpace;    // entries per table (Capacity)
    private readonly ulong _mask;      // _perSpace − 1
    private readonly int[] _owner;     // ASID of each slot, or NoOwner
    private readonly int[] _pins;      // live TlbPorts of each slot (invariant 4)
    private readonly long[] _lastBound; // bind clock of each slot, for choosing the slot to recycle
    private long _bindClock;
    private int _boundAsid = NoOwner;  // the ASID bound last (its slot is _boundSlot), or NoOwner
    private int _boundSlot;
    private ulong _comparatorMask = ulong.MaxValue;

    /// <summary>
    /// Creates an unregistered TLB with <paramref name="entries"/> entries per address space (a power of two, 1..65536).
    /// MMIO invalidation commands do not reach it; prefer <see cref="GpuMmu.CreateClientTlb"/>.
    /// </summary>
    public Tlb(int entries = 64) : this(entries, "unregistered", UnregisteredClientId) { }

    internal Tlb(int entries, string clientName, int clientId)
    {
        if (entries < 1 || entries > 65536 || !BitOperations.IsPow2(entries))
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "TLB size must be a power of two in 1..65536");
        _entries = GC.AllocateArray<Entry>(entries * AddressSpaceSlots, pinned: true);
        _base = (Entry*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_entries));
        _hitTable = (byte*)_base;
        _perSpace = entries;
        _mask = (ulong)entries - 1;
        _byteMask = _mask << EntryBytesShift;
        _owner = new int[AddressSpaceSlots];
        _owner.AsSpan().Fill(NoOwner);
        _pins = new int[AddressSpaceSlots];
        _lastBound = new long[AddressSpaceSlots];
        ClientName = clientName;
        ClientId = clientId;
    }

    /// <summary>Number of entries per address space (each of the <see cref="AddressSpaceSlots"/> tables).</summary>
    public int Capacity => _perSpace;

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
        get => _comparatorMask != ulong.MaxValue;
        set
        {
            ulong mask = value ? CountingMask : ulong.MaxValue;
            if (mask == _comparatorMask) return;
            _comparatorMask = mask;
            // Re-mask the comparators of cached pages (0, "class not allowed", stays 0): no translation is lost.
            foreach (ref var e in _entries.AsSpan())
            {
                if (e.Tag == 0) continue;
                e.ReadPrivileged = Remask(e.ReadPrivileged, mask);
                e.WritePrivileged = Remask(e.WritePrivileged, mask);
                e.ReadLimited = Remask(e.ReadLimited, mask);
                e.WriteLimited = Remask(e.WriteLimited, mask);
            }
        }
    }

    private static ulong Remask(ulong comparator, ulong mask) => comparator == 0 ? 0 : (comparator | 1) & mask;

    /// <summary>Lookups that missed (and walked the table).</summary>
    public long Misses { get; private set; }

    /// <summary>Invalidation requests applied to this TLB (any kind).</summary>
    public long Invalidations { get; private set; }

    /// <summary>
    /// Times an address-space slot was taken from one ASID for another (its entries dropped first), because more than
    /// <see cref="AddressSpaceSlots"/> address spaces translated through this TLB.
    /// </summary>
    public long SlotRecycles { get; private set; }

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
    private static ulong Tag(ulong vpn) => (vpn << PageTableLayout.PageShift) | KeyOnes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry Slot(int slot, ulong vpn) => ref _base[(nint)slot * _perSpace + (nint)(vpn & _mask)];

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
    /// The key a hit compares with a comparator: the VA with its twelve in-page bits set. Equal to the tag of the VA's
    /// page when the VA is below 2^48; never equal to any tag above (tags have bits 48..63 clear), and never 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Key(ulong va) => va | KeyOnes;

    /// <summary>
    /// The byte offset of <paramref name="va"/>'s entry in a table: VA bits 12.. masked to the table's size, times 64.
    /// </summary>
    /// <remarks>
    /// A rotation, not a shift: the x64 JIT emits one non-destructive <c>rorx</c> (BMI2) where a shift costs a copy of
    /// the VA first (the VA stays live for the key and the offset). The six bits rotated into the top are cleared by the
    /// mask, whose bits are 6..21 at most (docs/performance.md goal 5, ninth session).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nint EntryOffset(ulong va) => (nint)(BitOperations.RotateRight(va, EntryBytesShift) & _byteMask);

    /// <summary>
    /// The hit path: true when the page of <paramref name="va"/> is cached for <paramref name="asid"/> in the table the TLB
    /// reads hits from (the slot of the ASID looked up last) and the page allows <paramref name="accessClass"/>
    /// (<see cref="AccessClass"/>); <paramref name="offset"/> is then the physical offset of the byte at
    /// <paramref name="va"/>, and <paramref name="data"/> the entry's data word (location, rights). Validity, page,
    /// rights and VA width are one compare, the ASID a second (the entry's Owner); counts nothing (a false answer is re-examined, and counted,
    /// by <see cref="TryLookup"/> on the caller's slow path, which also binds the ASID's slot).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryHit(ushort asid, ulong va, int accessClass, out ulong data, out ulong offset)
    {
        // Two loads from the TLB (table, mask), then four words of one 64-byte entry line; the Owner test is invariant 2
        // (its low 16 bits: the ASID; bit 16 only marks a page outside local memory, which this hit serves too).
        // Two compares and branches, not one test of (comparator ^ key) | (owner ^ ASID): with one, the JIT laid a
        // caller's loop out so that it ran at half the bare TLB's rate in most processes (docs/performance.md goal 5).
        byte* e = _hitTable + EntryOffset(va);
        data = *(ulong*)(e + DataSlot * sizeof(ulong));
        offset = va + *(ulong*)(e + AddendSlot * sizeof(ulong)); // one add, no masking: frame offset plus the byte's offset in the page
        return *(ulong*)(e + (ComparatorSlot + accessClass) * sizeof(ulong)) == Key(va) && *(ushort*)(e + OwnerSlot * sizeof(ulong)) == asid;
    }

    /// <summary>
    /// The hit path of a single-page translation (<see cref="GpuMmuTranslation.Translate"/>): <see cref="TryHit"/> for a
    /// page in <b>local memory</b> — true when the page of <paramref name="va"/> is cached for <paramref name="asid"/> in
    /// the table the TLB reads hits from, allows <paramref name="accessClass"/> and lies in local memory;
    /// <paramref name="offset"/> is then the physical offset of the byte at <paramref name="va"/>. False for every other
    /// case, a cached system-memory page included: <see cref="TryLookup"/> on the caller's slow path finds that one
    /// (and counts it as a hit, not a miss) and reads its location from the data word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryHitLocal(ushort asid, ulong va, int accessClass, out ulong offset)
    {
        // Per hit, in a caller's loop that holds the miss call (docs/performance.md goal 5, ninth session): the table and
        // mask from the TLB, the comparator and the owner compared in place (memory operands), then the addend. Owner equal
        // to the ASID (its low 32 bits: ASID and OwnerNotLocal; the rest is 0) means "this ASID" (invariant 2) and "local
        // memory" (OwnerNotLocal clear), so no data
        // word is loaded for the location: the JIT keeps a load whose value is unused, it cannot prove it does not fault.
        // The compares come before the addend so that the hit's add may consume the VA register; the entry's words are
        // addressed as table + offset + displacement, with no add of their own.
        byte* table = _hitTable;
        nint e = EntryOffset(va);
        if (*(ulong*)(table + e + (ComparatorSlot + accessClass) * sizeof(ulong)) != Key(va)
            || *(uint*)(table + e + OwnerSlot * sizeof(ulong)) != asid)
        {
            offset = 0;
            return false;
        }
        offset = va + *(ulong*)(table + e + AddendSlot * sizeof(ulong));
        return true;
    }

    /// <summary>
    /// The hit path of <see cref="TryHit"/> for writes of <paramref name="accessClass"/> by <paramref name="asid"/>, read
    /// once (<see cref="TlbWriteHits"/>): the table hits are read from now, which only a bind, an insert or an
    /// invalidation changes.
    /// </summary>
    internal TlbWriteHits WriteHits(ushort asid, int accessClass, byte* localBase, byte* systemBias) =>
        new(_hitTable, _byteMask, (ComparatorSlot + accessClass) * sizeof(ulong), asid, localBase, systemBias);

    /// <summary>
    /// This TLB's hit path bound to one address space and one access class (<see cref="TlbPort"/>): the ASID's table,
    /// computed once, so a client that holds the port in a local reads only the entry per hit. Gives the ASID a slot if
    /// it has none (recycling one if all are taken) and holds that slot until the port is disposed (invariant 4). When
    /// every slot is held by other ports, the port never hits (the full path still translates).
    /// </summary>
    internal TlbPort Port(ushort asid, int accessClass)
    {
        int slot = Bind(asid);
        if (slot < 0) return TlbPort.None(accessClass);
        _pins[slot]++;
        return new TlbPort(this, (byte*)_base + (nint)slot * _perSpace * sizeof(Entry), _byteMask, slot, accessClass);
    }

    /// <summary>Releases a slot held by a port (<see cref="TlbPort.Dispose"/>).</summary>
    internal void Release(int slot)
    {
        if (_pins[slot] > 0) _pins[slot]--;
    }

    /// <summary>Looks up a page and counts the hit or miss. On a hit returns the frame, read-only and privileged bits and location.</summary>
    internal bool TryLookup(ushort asid, ulong vpn, out ulong data)
    {
        int slot = Find(asid);
        if (slot >= 0)
        {
            MakeBound(slot);
            ref Entry e = ref Slot(slot, vpn);
            // A VPN of 36 bits or more never translates (Insert refuses it; its shifted tag could wrap onto a real one).
            if (e.Tag == Tag(vpn) && (vpn >> VpnBits) == 0)
            {
                data = e.Data;
                if (CountHits) Hits++;
                return true;
            }
        }
        data = 0;
        Misses++;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Insert(ushort asid, ulong vpn, ulong frame, bool writable, bool privileged, MemoryLocation location)
    {
        if ((vpn >> VpnBits) != 0) return;
        int slot = Bind(asid);
        if (slot < 0) return; // every slot held by ports of other ASIDs: translated, not cached
        ref Entry e = ref Slot(slot, vpn);
        ulong tag = Tag(vpn), cmp = tag & _comparatorMask;
        e.Tag = tag;
        e.Data = frame | (writable ? 0 : ReadOnlyBit) | (privileged ? PrivilegedBit : 0) | ((ulong)location << 2);
        e.Addend = frame - (vpn << PageTableLayout.PageShift);
        e.Owner = asid | (location == MemoryLocation.Local ? 0 : OwnerNotLocal);
        // A comparator is the tag when its access class is allowed, 0 (matches no key) when it is not.
        e.ReadPrivileged = cmp;
        e.WritePrivileged = writable ? cmp : 0;
        e.ReadLimited = privileged ? 0 : cmp;
        e.WriteLimited = writable && !privileged ? cmp : 0;
    }

    /// <summary>The slot of <paramref name="asid"/>, or −1 when it has none.</summary>
    private int Find(ushort asid)
    {
        if (asid == _boundAsid) return _boundSlot;
        for (int k = 0; k < AddressSpaceSlots; k++) if (_owner[k] == asid) return k;
        return -1;
    }

    private void MakeBound(int slot)
    {
        // The pointer is set even when the slot is bound already: after a save-state restore it may point at another table
        // (invariant 2), and re-pointing it must not move the bind clock, which the restored run shares with the original.
        _hitTable = (byte*)(_base + (nint)slot * _perSpace);
        if (_boundAsid == _owner[slot] && _boundSlot == slot) return;
        _boundAsid = _owner[slot];
        _boundSlot = slot;
        _lastBound[slot] = ++_bindClock;
    }

    /// <summary>
    /// Binds <paramref name="asid"/>'s slot, giving it one if it has none: a free one, else the least recently bound one
    /// that no port holds, emptied first. −1 when every slot is held by ports of other ASIDs.
    /// </summary>
    private int Bind(ushort asid)
    {
        int slot = Find(asid);
        if (slot < 0)
        {
            for (int k = 0; k < AddressSpaceSlots; k++)
            {
                if (_owner[k] == NoOwner) { slot = k; break; }
                if (_pins[k] == 0 && (slot < 0 || _lastBound[k] < _lastBound[slot])) slot = k;
            }
            if (slot < 0) return -1;
            if (_owner[slot] != NoOwner)
            {
                // Invariant 1: the table is emptied before it changes hands, so nothing of the old ASID can hit for the new.
                ClearTable(slot);
                SlotRecycles++;
            }
            _owner[slot] = asid;
        }
        MakeBound(slot);
        return slot;
    }

    private void ClearTable(int slot) => _entries.AsSpan(slot * _perSpace, _perSpace).Clear();

    /// <summary>Empties a slot and gives it up (its ASID then has no slot), unless a port holds it (invariant 4).</summary>
    private void FreeSlot(int slot)
    {
        ClearTable(slot);
        if (_pins[slot] > 0) return;
        _owner[slot] = NoOwner;
        _lastBound[slot] = 0;
        if (_boundSlot == slot) { _boundAsid = NoOwner; _boundSlot = 0; }
    }

    /// <summary>Drops every entry.</summary>
    public void InvalidateAll()
    {
        Invalidations++;
        bool held = false;
        for (int k = 0; k < AddressSpaceSlots; k++)
        {
            if (_owner[k] != NoOwner) FreeSlot(k);
            held |= _pins[k] > 0;
        }
        if (!held) _bindClock = 0; // every slot free: the recycling order starts afresh, as at power-on
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
        for (int k = 0; k < AddressSpaceSlots; k++)
        {
            int owner = _owner[k];
            if (owner == NoOwner || (asid != AllAsids && owner != asid)) continue;
            // The whole space: the slot is emptied and given up (invariant 1 holds trivially).
            if (first == 0 && last == ulong.MaxValue) { FreeSlot(k); continue; }
            if (last - first < (ulong)_perSpace)
            {
                // Few pages: probe the one entry each page can live in (pages at or above 2^36 are never cached).
                for (ulong vpn = first; ; vpn++)
                {
                    ref Entry e = ref Slot(k, vpn);
                    if ((vpn >> VpnBits) == 0 && e.Tag == Tag(vpn)) e = default; // tag and comparators: no class may hit it
                    if (vpn == last) break;
                }
                continue;
            }
            // Many pages: cheaper to scan the table than to probe each page; still exact.
            foreach (ref var e in _entries.AsSpan(k * _perSpace, _perSpace))
            {
                if (e.Tag == 0) continue;
                ulong vpn = e.Tag >> PageTableLayout.PageShift;
                if (vpn >= first && vpn <= last) e = default;
            }
        }
    }
}

/// <summary>
/// A TLB's hit path bound to one address space and one access class, as a translation client holds it in a local for a
/// run of accesses (<c>using var port = tlb.Port(asid, accessClass);</c>). It holds its ASID's slot in the TLB until it is
/// disposed, so the slot keeps its owner — never recycled for another ASID (Tlb invariant 4) — and the hit compares
/// nothing but the key: the entry's offset from the VA (a shift and a mask), one comparator load compared with
/// VA | 0xFFF (page, rights and VA width at once), one addend load — the loads and compares of the bare TLB of
/// docs/performance.md goal 5, with nothing read through the TLB object or the address-space descriptor. A ref struct:
/// it cannot outlive the method that holds it, nor be kept in device state (a save-state would not rebase its pointer,
/// Core/StateGraph.cs); use it after <see cref="Dispose"/> and it may see another ASID's entries. It sees every insertion
/// and invalidation at once (it reads the same pinned entries) and counts nothing: a false answer is re-examined, counted
/// and reported by the full path, <see cref="GpuMmuTranslation.Translate"/>, exactly as for <see cref="Tlb.TryHit"/>. A port
/// without a TLB (<see cref="None"/>) never hits: it points at a shared entry whose comparators are all 0, and no key is 0.
/// </summary>
internal readonly unsafe ref struct TlbPort
{
    private static readonly ulong* NeverHits = (ulong*)NativeMemory.AlignedAlloc(64, 64); // one empty entry, never freed
    static TlbPort() => NativeMemory.Clear(NeverHits, 64);

    // The table's base advanced to the class's comparator and to the addend: a hit then addresses both words as
    // base + entry offset, with no add of its own (x64 addressing has one base and one index).
    private readonly Tlb? _tlb;
    private readonly byte* _comparators;
    private readonly byte* _addends;
    private readonly ulong _byteMask;  // (entries − 1) × 64: masks VA >> 6 to its entry's byte offset
    private readonly int _slot;

    internal TlbPort(Tlb? tlb, void* table, ulong byteMask, int slot, int accessClass)
    {
        _tlb = tlb;
        _comparators = (byte*)table + (Tlb.ComparatorSlot + accessClass) * sizeof(ulong);
        _addends = (byte*)table + Tlb.AddendSlot * sizeof(ulong);
        _byteMask = byteMask;
        _slot = slot;
    }

    /// <summary>A port that never hits and holds nothing, for a client without a TLB.</summary>
    internal static TlbPort None(int accessClass) => new(null, NeverHits, 0, 0, accessClass);

    /// <summary>Releases the port's slot: the TLB may then recycle it. The port must not be used afterwards.</summary>
    public void Dispose() => _tlb?.Release(_slot);

    /// <summary>
    /// True when the page of <paramref name="va"/> is cached for this port's ASID with its access class allowed;
    /// <paramref name="offset"/> is then the physical offset of the byte at <paramref name="va"/> and
    /// <paramref name="data"/> the entry's data word (location in bits 2..3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryHit(ulong va, out ulong data, out ulong offset)
    {
        nuint entry = (nuint)((va >> Tlb.EntryBytesShift) & _byteMask);
        data = *(ulong*)(_addends + entry - (Tlb.AddendSlot - Tlb.DataSlot) * sizeof(ulong));
        offset = va + *(ulong*)(_addends + entry);
        return (*(ulong*)(_comparators + entry) ^ Tlb.Key(va)) == 0; // the table is this ASID's while held (Tlb invariant 4)
    }

    /// <summary>
    /// <see cref="TryHit(ulong, out ulong, out ulong)"/> for a client that needs only the physical offset (it knows the
    /// location, or reads it on another path): the same compare, without loading the data word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryHit(ulong va, out ulong offset)
    {
        nuint entry = (nuint)((va >> Tlb.EntryBytesShift) & _byteMask);
        offset = va + *(ulong*)(_addends + entry);
        return (*(ulong*)(_comparators + entry) ^ Tlb.Key(va)) == 0;
    }
}
