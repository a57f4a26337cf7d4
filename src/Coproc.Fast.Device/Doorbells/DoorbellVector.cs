using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Coproc.Fast.Device.Doorbells;

// Design: the 256-bit doorbell vector of seed 003 ("the doorbell block records the ring in its vector of
// 256 doorbells"), written by any number of ringing threads and snapshot-and-cleared by the one scheduling core.
//
// State: four 64-bit words (bit i of word w = doorbell 64w+i) and a summary word (bit w set = word w may
// hold set bits). Ringing doorbell d is two atomic steps:  R1 = Or(word[d>>6], bit);  R2 = Or(summary, 1<<(d>>6)).
// R2 is skipped when R1 finds the bit already set (a coalesced ring, see below), and is a plain load instead of an
// atomic OR when summary bit w is already set: a summary bit seen set after R1 guarantees that the next summary
// exchange (after our R1) visits word w, which is all I below needs.
// Snapshot is:  S = Exchange(summary, 0);  then for each bit w of S:  W_w = Exchange(word[w], 0).
// Cost: one exchange plus one per non-empty word, then one TrailingZeroCount per rung doorbell — it grows
// with the number of rung doorbells, never with 256 (docs/performance.md goal 6).
//
// Invariant I: whenever bit d of word w is set, either summary bit w is set or the ring that set bit d is
// between R1 and R2 (it will set the summary bit). Rings keep I because R2 follows R1; a snapshot keeps I
// because it clears summary bit w before it clears word w (a word bit set after W_w was set by a ring
// whose R2 comes after it, hence after S).
//
// No-loss argument: take any ring of d whose R1 set the bit (the bit was clear). Either some later W_w
// (of word w) clears it — then that snapshot reports d, after the ring's R1, so the scheduling core reads
// the queue's WritePtr after the producer published it (the producer publishes before ringing, and every
// step here is a full fence); or no W_w ever comes, which by I is impossible once the ring's R2 has run,
// because the next snapshot sees summary bit w and exchanges word w. A ring whose R1 found the bit
// already set is coalesced with the ring that set it: that bit is cleared by a W_w that happens after our
// R1 (it was still set at our R1), so the same snapshot that reports it also sees our published data.
// Spurious work is possible (summary bit w set, word w already emptied by an earlier snapshot); the
// snapshot then exchanges a zero word, which costs one exchange and reports nothing.
//
// Layout: the summary and the four words share ONE 64-byte cache line (40 bytes, 128-byte aligned inside a pinned
// array, so no other data shares the line or its adjacent-line prefetch pair). A ring is then one cache-line transfer
// to the ringing core (R1 brings the line in, R2 and the summary load hit it), and so is a snapshot and the device
// thread's poll of the summary. With one line per word (the earlier layout) a ring into an emptied vector cost two
// cross-core transfers and a snapshot two more, which bounded ring-3 submission with a doorbell per packet
// (docs/performance.md goal 1). Rings of doorbells in different words now contend on the line — they already
// contended on the summary word whenever their word was empty.
/// <summary>
/// The 256-bit doorbell vector with a summary word (seed 003). Lock-free; any thread may <see cref="Ring"/>,
/// exactly one thread (the scheduling core) calls <see cref="SnapshotAndClear"/>.
/// </summary>
public sealed unsafe class DoorbellVector
{
    /// <summary>Number of doorbells.</summary>
    public const int Count = 256;

    /// <summary>Number of 64-bit words in the vector.</summary>
    public const int WordCount = Count / 64;

    // _line[0] = summary, _line[1 + w] = word w; _line points into _storage, which is pinned (pinned object heap) and
    // lives as long as this object, so the pointer stays valid.
    private readonly ulong[] _storage = GC.AllocateArray<ulong>(48, pinned: true);
    private readonly ulong* _line;

    /// <summary>A vector with no doorbell pending.</summary>
    public DoorbellVector()
    {
        ulong* p = (ulong*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        // 128 bytes of array on either side of the line at most 127 bytes in: the 384-byte array always holds them.
        _line = (ulong*)(((nuint)p + 128 + 127) & ~(nuint)127);
    }

    private ref ulong Summary => ref *_line;

    private ref ulong Word(int w) => ref _line[1 + w];

    /// <summary>Marks doorbell <paramref name="doorbell"/> rung. Returns false when it was already pending (coalesced).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Ring(int doorbell)
    {
        int w = (doorbell >> 6) & (WordCount - 1);
        ulong bit = 1UL << (doorbell & 63);
        ulong before = Interlocked.Or(ref Word(w), bit);
        if ((before & bit) != 0) return false;
        ulong wbit = 1UL << w;
        if ((Volatile.Read(ref Summary) & wbit) == 0) Interlocked.Or(ref Summary, wbit);
        return true;
    }

    /// <summary>True when some doorbell may be pending (the scheduling core's interrupt condition).</summary>
    public bool AnyPending
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref Summary) != 0;
    }

    /// <summary>The summary word (bit w = word w may hold rung doorbells); for the DB_PENDING_SUMMARY register.</summary>
    public ulong PeekSummary() => Volatile.Read(ref Summary);

    /// <summary>Reads word <paramref name="word"/> without clearing it (DB_PENDING registers; diagnostics).</summary>
    public ulong PeekWord(int word) => Volatile.Read(ref Word(word & (WordCount - 1)));

    /// <summary>
    /// Takes every doorbell rung since the previous snapshot and clears them, atomically per word
    /// (see the design note: no ring is lost, rings racing the snapshot land in this one or the next).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DoorbellSnapshot SnapshotAndClear()
    {
        DoorbellSnapshot s = default;
        if (Volatile.Read(ref Summary) == 0) return s;
        ulong summary = Interlocked.Exchange(ref Summary, 0);
        while (summary != 0)
        {
            int w = BitOperations.TrailingZeroCount(summary);
            summary &= summary - 1;
            s[w] = Interlocked.Exchange(ref Word(w), 0);
        }
        return s;
    }
}
