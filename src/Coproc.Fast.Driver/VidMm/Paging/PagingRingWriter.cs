using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidMm.Paging;

/// <summary>
/// The device paging queue's producer: writes recorded operations' paging buffers to the paging ring, in order, each
/// as one or more INDIRECTs to buffers in the <see cref="PagingBufferArena"/>; what does not fit yet waits in a backlog
/// (driver memory, never VidMm's) and is written as the device retires earlier buffers.
/// </summary>
// Design (seed 004 paging queue; native-layout.md §15.1, docs/driver-conventions.md §15.1):
// Invariant (progress): every recorded operation reaches the ring once the device has passed the buffers written
// before it — it never needs memory that only its own execution (or any later one) frees. The arena is allocated once;
// a buffer waits only for arena room that earlier buffers hold, and the ring room that earlier entries hold, and both
// are freed by the device running those earlier entries. A buffer larger than the whole arena is written in pieces:
// the longest run of whole packets that fills the arena's free room, an UPDATE_PAGE_TABLE straddling the cut split
// into two packets writing consecutive PTEs (the same writes, native-layout.md §8). The pieces are cut from the built
// buffer in order and reach the ring in order, and the device runs a ring's INDIRECTs one after the other, so the
// packets execute exactly in the order they were built: the PTE retargets and TLB_FLUSHes after their COPY, and the
// operation's last fence — which releases the memory it vacated (ResidencyManager.InTransit.cs) — after every copy.
// A piece between two others writes no fence value: the values handed out stay one per operation, unique, increasing.
// Invariant (wake-up): whenever the backlog is not empty, the last entry written to the ring is a wake-up FENCE — a
// privileged FENCE with interrupt rewriting the value the paging fence already holds at that point of the ring
// (_ringFence; never a new value, never a smaller one). The device retires an INDIRECT only after its DMA buffer,
// so when that fence's interrupt arrives every earlier buffer has retired: the arena is empty and the ring has room,
// and NotifyFenceInterrupt writes the backlog's head (a piece of at most the whole arena). Every INDIRECT is written
// only with room for it and a wake-up FENCE after it, so the wake-up always fits.
internal sealed class PagingRingWriter
{
    private readonly KernelContext _context;
    private readonly PagingBufferArena _arena;
    private readonly IPagingContextScheduler _scheduler;
    private readonly Func<ulong, bool> _isReached;
    private readonly ulong _fence; // the paging fence, encoded PA
    private readonly int _minPiece;
    private readonly Queue<ulong> _inFlight = new(16); // each operation's last fence value, until seen reached
    private readonly Queue<int> _waitingOps = new(4);  // dwords of each operation waiting, oldest first
    private uint[] _waiting = new uint[1024];          // [_waitHead, _waitTail): their unwritten packets, in order
    private int _waitHead, _waitTail, _headDone;       // _headDone: dwords of the oldest waiting operation written
    private ulong _ringFence;                          // the paging fence's value once the device has run the ring
    private ulong _wakeAt = ulong.MaxValue;            // WritePtr just after the last wake-up fence
    private bool _wrote;

    public PagingRingWriter(KernelContext context, PagingBufferArena arena, IPagingContextScheduler scheduler,
        PhysicalAddress fence, Func<ulong, bool> isReached)
    {
        _context = context;
        _arena = arena;
        _scheduler = scheduler;
        _fence = fence.Encoded;
        _isReached = isReached;
        // A piece fills at least a quarter of the arena: no INDIRECT per handful of packets (always met by an empty arena).
        _minPiece = arena.CapacityDwords / 4;
    }

    /// <summary>Recorded operations whose buffer is not completely in the ring yet.</summary>
    public int Backlog => _waitingOps.Count;

    /// <summary>Recorded operations whose last fence value has not been seen reached.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>Pieces in the arena whose INDIRECT the device has not been seen to retire.</summary>
    public int LiveBuffers => _arena.LiveBuffers;

    /// <summary>
    /// True when a new operation may be recorded: the ring has room for an entry (and its wake-up fence) and less than
    /// one arena's worth of packets waits — the queue's back-pressure (<see cref="PagingQueueFullException"/>).
    /// </summary>
    public bool CanAccept => _waitTail - _waitHead < _arena.CapacityDwords
        && _context.HasRoomFor(PacketFormat.IndirectDwords + PacketFormat.FenceDwords);

    /// <summary>Frees the pieces whose INDIRECT the device retired and forgets the operations whose fence was reached.</summary>
    public void Retire()
    {
        _arena.Retire(_context.ReadPtr);
        while (_inFlight.Count > 0 && _isReached(_inFlight.Peek())) _inFlight.Dequeue();
    }

    /// <summary>
    /// Takes one recorded operation's built paging buffer (<paramref name="packets"/>, scratch the caller reuses; it
    /// may be rewritten in place) ending with <paramref name="lastFence"/>: written to the ring now, as far as room
    /// allows, behind anything still waiting; the rest waits in the backlog. Never refuses.
    /// </summary>
    public void Submit(Span<uint> packets, ulong lastFence)
    {
        _inFlight.Enqueue(lastFence);
        Retire();
        int done = _waitingOps.Count == 0 ? WritePieces(packets) : 0;
        if (done < packets.Length) Enqueue(packets[done..]);
        Finish();
    }

    /// <summary>Writes what waits, oldest first, as far as room allows; true when nothing waits any more.</summary>
    public bool Flush()
    {
        Retire();
        while (_waitingOps.Count > 0)
        {
            int left = _waitingOps.Peek() - _headDone;
            int n = WritePieces(_waiting.AsSpan(_waitHead, left));
            _waitHead += n;
            _headDone += n;
            if (n < left) break;
            _waitingOps.Dequeue();
            _headDone = 0;
        }
        if (_waitingOps.Count == 0) _waitHead = _waitTail = 0;
        Finish();
        return _waitingOps.Count == 0;
    }

    private void Finish()
    {
        if (_waitingOps.Count > 0) EnsureWakeUp();
        if (!_wrote) return;
        _wrote = false;
        _scheduler.RequestRun(_context.SaveArea);
    }

    // Writes the start of one operation's unwritten packets to the ring as pieces; returns the dwords consumed. Where an
    // UPDATE_PAGE_TABLE is split, `packets` is rewritten in place so that it starts with the packet for the rest.
    private int WritePieces(Span<uint> packets)
    {
        int done = 0;
        while (done < packets.Length)
        {
            if (!_context.HasRoomFor(PacketFormat.IndirectDwords + PacketFormat.FenceDwords)) break;
            var rest = packets[done..];
            int free = _arena.FreeDwords, room;
            if (rest.Length <= free) room = rest.Length;
            else if (rest.Length <= _arena.CapacityDwords || free < _minPiece) break; // waits for room; written whole when it fits
            else room = free;
            int entries = 0;
            int whole = room == rest.Length ? room : MeasurePiece(rest, room, out entries);
            int pieceDwords = whole + (entries > 0 ? PacketFormat.UpdatePageTableFixedDwords + 2 * entries : 0);
            if (pieceDwords == 0) break; // cannot happen: room >= _minPiece is larger than any unsplittable packet
            var piece = _arena.Take(pieceDwords, out var at);
            rest[..pieceDwords].CopyTo(piece);
            if (entries > 0) piece[whole] = PacketHeader.Make(Opcode.UpdatePageTable, pieceDwords - whole, new PacketHeader(rest[whole]).Flags);
            // Room was checked and this writer is the ring's only producer; a refusal would leave the room taken unused
            // (the next Take gives it back) and the packets unchanged.
            if (!_context.TrySubmitIndirect(_arena.VaOf(at), (uint)pieceDwords, privileged: true)) break;
            _arena.Commit(_context.WritePtr);
            _ringFence = LastFenceValue(piece, _ringFence);
            _wrote = true;
            done += entries > 0 ? SplitRest(rest, whole, entries) : whole;
        }
        return done;
    }

    // The longest run of whole packets at the start of `packets` within `room` dwords; when the next packet does not
    // fit and is an UPDATE_PAGE_TABLE, `entries` of its PTEs (at least one) fit after that run.
    private static int MeasurePiece(ReadOnlySpan<uint> packets, int room, out int entries)
    {
        entries = 0;
        int at = 0;
        while (at < packets.Length)
        {
            var h = new PacketHeader(packets[at]);
            int len = h.LengthDwords;
            // Driver-built buffers (PacketWriter) hold whole, well-formed packets.
            if (len == 0 || len > packets.Length - at) throw new InvalidOperationException($"malformed paging buffer at dword {at}");
            if (len <= room - at) { at += len; continue; }
            if (h.Opcode == Opcode.UpdatePageTable) entries = Math.Max(0, (room - at - PacketFormat.UpdatePageTableFixedDwords) / 2);
            break;
        }
        return at;
    }

    // The UPDATE_PAGE_TABLE at `packets[at]` had its first `entries` PTEs written in a piece: the packet for the rest
    // (same flags, PTE address advanced) is written over the dwords already consumed, ending where the original did.
    // Returns the dwords consumed.
    private static int SplitRest(Span<uint> packets, int at, int entries)
    {
        var h = new PacketHeader(packets[at]);
        var pte = PhysicalAddress.Decode(PacketFormat.U64(packets[at + 1], packets[at + 2])).Add((ulong)entries * 8).Encoded;
        int start = at + 2 * entries;
        packets[start] = PacketHeader.Make(Opcode.UpdatePageTable, h.LengthDwords - 2 * entries, h.Flags);
        packets[start + 1] = (uint)pte;
        packets[start + 2] = (uint)(pte >> 32);
        return start;
    }

    // The value the paging fence holds after `piece` ran: its last privileged FENCE to the paging fence, else `before`.
    private ulong LastFenceValue(ReadOnlySpan<uint> piece, ulong before)
    {
        for (int at = 0; at < piece.Length; at += Math.Max(1, new PacketHeader(piece[at]).LengthDwords))
        {
            var h = new PacketHeader(piece[at]);
            if (h.Opcode == Opcode.Fence && (h.Flags & PacketFormat.FencePrivilegedFlag) != 0
                && PacketFormat.U64(piece[at + 1], piece[at + 2]) == _fence)
                before = PacketFormat.U64(piece[at + 3], piece[at + 4]);
        }
        return before;
    }

    // The wake-up invariant above: the backlog is not empty, so the ring's last entry must be a wake-up fence.
    private void EnsureWakeUp()
    {
        if (_context.WritePtr == _wakeAt) return;
        Span<uint> wake = stackalloc uint[PacketFormat.FenceDwords];
        new PacketWriter(wake).PrivilegedFence(_fence, _ringFence, interrupt: true);
        if (!_context.TrySubmit(wake)) return; // cannot happen: every INDIRECT left room for it
        _wakeAt = _context.WritePtr;
        _wrote = true;
    }

    // Appends one operation's unwritten packets behind what waits (driver memory: grows, never refused).
    private void Enqueue(ReadOnlySpan<uint> packets)
    {
        if (_waitTail + packets.Length > _waiting.Length)
        {
            int live = _waitTail - _waitHead;
            var to = live + packets.Length > _waiting.Length ? new uint[Math.Max(live + packets.Length, 2 * _waiting.Length)] : _waiting;
            Array.Copy(_waiting, _waitHead, to, 0, live);
            _waiting = to;
            _waitHead = 0;
            _waitTail = live;
        }
        packets.CopyTo(_waiting.AsSpan(_waitTail));
        _waitTail += packets.Length;
        _waitingOps.Enqueue(packets.Length);
    }
}
