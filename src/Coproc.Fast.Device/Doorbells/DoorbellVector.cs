using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Coproc.Fast.Device.Doorbells;

// Design: the 256-bit doorbell vector of seed 003 ("the doorbell block records the ring in its vector of
// 256 doorbells"), written by any number of ringing threads and snapshot-and-cleared by the one scheduling core.
//
// State: one flag byte per doorbell (byte d = doorbell d; 0 clear, 1 rung), in four 64-byte words of the vector
// (word w = doorbells 64w..64w+63, one cache line each), and a 32-bit summary of four bytes (byte w = word w may hold
// rung doorbells) on a line of its own. Ringing doorbell d is two release stores:  R1: flag[d] = 1;  R2: summary[w] = 1.
// No read-modify-write: every ringer writes the same value, so a plain store marks the doorbell as well as an atomic OR
// of a bit would, and a store does not wait for the line (the store buffer hides its transfer), where the locked OR of
// the earlier bit vector stalled the ringing thread for a cross-core cache-line transfer on every ring — the largest
// cost of ring-3 submission with a doorbell per packet (docs/performance.md goal 1).
// Snapshot is:  S = Exchange(summary, 0);  then for each byte w of S: read word w's eight 8-byte groups and exchange each
// non-zero one with 0. Cost: one exchange plus one per group of 8 doorbells holding a rung one (and one line read per
// non-empty word), then one TrailingZeroCount per rung doorbell — it grows with the number of rung doorbells, never with
// 256 (docs/performance.md goal 6).
//
// Invariant I: whenever flag[d] is set, either summary byte w(d) is set or the ring that set it is between R1 and R2.
// Rings keep I because R2 follows R1 in store order (release stores; on x86 every store); a snapshot keeps I because it
// clears summary byte w before it reads and clears word w's groups (a flag set after that was set by a ring whose R2
// comes after it, hence after S; a group read as zero and skipped is the same case).
//
// No-loss argument: take any ring of d. Its producer published WritePtr before R1 (release store, so in store order
// before R1). Either some later group exchange takes flag[d] set by this R1 — that exchange is a full fence and the
// scheduling core reads WritePtr after it, so it sees the published value; or flag[d] was already set by an earlier ring
// and is taken by an exchange after our R1 (our R1 stored 1 over a 1: the same exchange sees both, and since it follows
// our R1 it sees our WritePtr); or no exchange takes it, which by I is impossible once R2 has run, because the next
// snapshot sees summary byte w and reads word w. Coalescing: rings of a pending doorbell leave it pending once.
// Spurious work is possible (summary byte set, word already emptied); it costs one line read and reports nothing.
// Flags and summary are written only with the values 0 and 1, by this class; nothing guest-written reaches them.
//
// Waking a parked scheduling core: a ring reads the interrupt line's parked flag after R2 (DoorbellInterruptLine). With
// plain stores the ringer has no fence between R2 and that read, so the parker issues the process-wide barrier instead
// (the asymmetric Dekker pair described there): a ring is never left unseen by a parked core.
//
// Layout: one array; the summary at index 128 and the flags at 256..511, so the summary's cache line holds nothing but
// padding around it (no other object's data, no flags), and the device thread's poll reads only that line. The flag
// words are not line-aligned (an array's address is not), so a word may span two lines; a ring still touches one flag
// line and the summary's.
/// <summary>
/// The 256-bit doorbell vector with a summary word (seed 003). Lock-free; any thread may <see cref="Ring"/>,
/// exactly one thread (the scheduling core) calls <see cref="SnapshotAndClear"/>.
/// </summary>
internal sealed class DoorbellVector
{
    /// <summary>Number of doorbells.</summary>
    public const int Count = DoorbellRegisters.DoorbellCount;

    /// <summary>Number of 64-bit words in the vector (as reported: a <see cref="DoorbellSnapshot"/> word, DB_PENDING).</summary>
    public const int WordCount = Count / 64;

    private const int SummaryIndex = 128, FlagsIndex = 256; // in _storage; 128 bytes of padding before and after

    // Fixed indices, not pointers or an alignment computed from the array's address: a save-state restores the array's
    // bytes in place (Core/StateGraph.cs), so a restored device must find the summary and the flags where the saved one
    // had them, whatever its own array's address. Array data is 8-aligned, so the atomic 4- and 8-byte accesses are too.
    private readonly byte[] _storage = new byte[FlagsIndex + Count + 128];

    /// <summary>A vector with no doorbell pending.</summary>
    public DoorbellVector() { }

    private ref byte Byte(int index) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_storage), index);

    private ref uint Summary => ref Unsafe.As<byte, uint>(ref Byte(SummaryIndex));

    private ref byte Flag(int doorbell) => ref Byte(FlagsIndex + doorbell);

    private ref ulong Group(int word, int group) => ref Unsafe.As<byte, ulong>(ref Byte(FlagsIndex + 64 * word + 8 * group));

    /// <summary>Marks doorbell <paramref name="doorbell"/> rung. Returns false when it was already pending (coalesced).</summary>
    /// <remarks>The answer comes from a plain read before the ring and is exact only when no other thread rings or snapshots meanwhile.</remarks>
    public bool Ring(int doorbell)
    {
        bool pending = Volatile.Read(ref Flag(doorbell & (Count - 1))) != 0;
        Mark(doorbell);
        return !pending;
    }

    /// <summary>Marks doorbell <paramref name="doorbell"/> rung (the ring of a doorbell page write): two release stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Mark(int doorbell)
    {
        int d = doorbell & (Count - 1);
        Volatile.Write(ref Flag(d), 1);      // R1
        Volatile.Write(ref Byte(SummaryIndex + (d >> 6)), 1); // R2: summary byte d / 64
    }

    /// <summary>True when some doorbell may be pending (the scheduling core's interrupt condition).</summary>
    public bool AnyPending
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref Summary) != 0;
    }

    /// <summary>The summary word (bit w = word w may hold rung doorbells); for the DB_PENDING_SUMMARY register.</summary>
    public ulong PeekSummary()
    {
        uint s = Volatile.Read(ref Summary);
        ulong bits = 0;
        for (int w = 0; w < WordCount; w++) if (((s >> (8 * w)) & 0xFF) != 0) bits |= 1UL << w;
        return bits;
    }

    /// <summary>Reads word <paramref name="word"/> without clearing it (DB_PENDING registers; diagnostics).</summary>
    public ulong PeekWord(int word)
    {
        ulong bits = 0;
        for (int g = 0; g < 8; g++) bits |= Pack(Volatile.Read(ref Group(word & (WordCount - 1), g))) << (8 * g);
        return bits;
    }

    // Eight flag bytes (each 0 or 1) to eight bits: byte i becomes bit i.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Pack(ulong flags)
    {
        ulong bits = 0;
        while (flags != 0)
        {
            int b = BitOperations.TrailingZeroCount(flags) >> 3;
            bits |= 1UL << b;
            flags &= ~(0xFFUL << (8 * b));
        }
        return bits;
    }

    /// <summary>
    /// Takes every doorbell rung since the previous snapshot and clears them, atomically per group of 8 doorbells
    /// (see the design note: no ring is lost, rings racing the snapshot land in this one or the next).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DoorbellSnapshot SnapshotAndClear()
    {
        DoorbellSnapshot s = default;
        uint summary = TakeSummary();
        while (summary != 0)
        {
            int w = BitOperations.TrailingZeroCount(summary) >> 3;
            summary &= ~(0xFFu << (8 * w));
            s[w] = TakeWord(w);
        }
        return s;
    }

    /// <summary>
    /// The first half of a snapshot: takes the summary (byte w non-zero = word w may hold rung doorbells) and clears it;
    /// 0 when nothing is pending. The caller then takes each word the summary names with <see cref="TakeWord"/>, in any
    /// order and at any time: invariant I still holds, because each word's summary byte is cleared before the word is read
    /// however long after (see the design note); a ring landing in between is taken with the word, and the summary byte
    /// it set again only makes the next snapshot read an empty word. The scheduling core services word by word
    /// this way, with no 256-bit snapshot in between (SchedulingCore.Service).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint TakeSummary() => Volatile.Read(ref Summary) == 0 ? 0 : Interlocked.Exchange(ref Summary, 0);

    /// <summary>Takes and clears the rung doorbells of word <paramref name="word"/> (bit i = doorbell 64·word + i), one exchange per non-empty group of 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong TakeWord(int word)
    {
        ulong bits = 0;
        for (int g = 0; g < 8; g++)
        {
            ref ulong group = ref Group(word & (WordCount - 1), g);
            if (Volatile.Read(ref group) == 0) continue;
            bits |= Pack(Interlocked.Exchange(ref group, 0)) << (8 * g);
        }
        return bits;
    }
}
