using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// One piece of a context's stream held back behind an ungranted wait (seed 001 §10.1): a user buffer (with the CPU
// event to signal when it completes, §10.4), or a wait, signal or reset (Operation). Its fence value was reserved when
// it was submitted, so tickets are final; the entries reach the ring in order once the wait is granted.
internal readonly record struct HeldItem(UserDmaBuffer? Buffer, int Dwords, ResourceReference[]? Resources,
    ulong PagingWait, SyncOperation? Operation, ulong Fence, UserModeCompletionEvent? Completion = null);

/// <summary>
/// A run-list context as the machine's synchronization objects see it (Sync/SyncParty.cs): a granted wait clears the
/// context's block and tells the run-list back end to move the held-back work into the ring.
/// </summary>
internal sealed class VaSyncState(VaContext context, RunListScheduler scheduler) : SyncParty((int)context.Id)
{
    public override void Readied(uint handle, object processor)
    {
        lock (context.RingLock) context.Blocked = false;
        scheduler.HeldBackReleased(); // a signal from the kernel path may have readied it: the next Poll drains
    }

    public override void WaitListed(uint handle) { } // §10.3: nothing of it is in the ring; the run list drops it

    // No DMA-buffer-end events here: a user DMA buffer is the process's own (no kernel pool), its ticket says when it retired.
    public override SchedulerEventOutcome BufferEnd(in HistoryEvent e) =>
        throw new InvalidOperationException($"{context}: a DMA-buffer-end event in the run-list back end's history");
}

// Synchronization-object plumbing of one context (seed 001 §10.1): a wait or a signal is a kernel FENCE + interrupt in
// the ring after everything submitted before it; after a wait, later work is held back here (never written to the
// ring) until the scheduler grants the objects. HeldBack, Blocked and the reserved fence are under RingLock.
// Sync (the context's event history and its part in the objects' state, §11) is the scheduler's, under its KernelLock —
// except the history queue itself, which is appended to under RingLock when an entry gets its fence value (so it is in
// fence order; a submitter may hold only RingLock) and walked under both locks.
public sealed partial class VaContext
{
    internal readonly Queue<HeldItem> HeldBack = new();
    internal VaSyncState? Sync; // set by RunListScheduler.CreateContext
    internal bool Blocked;
    private ulong _reservedFence;

    /// <summary>True while the context waits for an object the scheduler has not granted (its later work is held back).</summary>
    public bool IsBlockedOnSync { get { lock (RingLock) return Blocked; } }

    /// <summary>Entries (buffers, waits, signals) held back behind an ungranted wait.</summary>
    public int HeldBackCount { get { lock (RingLock) return HeldBack.Count; } }

    // Held-back work whose wait was granted but which is not in the ring yet (the next pass moves it): not idle.
    internal bool HasReleasedWork { get { lock (RingLock) return !Blocked && HeldBack.Count != 0; } }

    // Under RingLock: later work must queue behind a wait (or behind entries still waiting for ring space).
    private bool Holding => Blocked || HeldBack.Count != 0;

    // Under RingLock: holds a user buffer back when the stream is blocked; false = insert it normally.
    private bool TryHold(UserDmaBuffer buffer, int dwords, ResourceReference[] resources, ulong waitPagingFence,
        UserModeCompletionEvent? completion, out ulong fence)
    {
        fence = 0;
        if (!Holding) return false;
        fence = ReserveFence();
        HeldBack.Enqueue(new HeldItem(buffer, dwords, resources, waitPagingFence, null, fence, completion));
        return true;
    }

    // Under RingLock, right after a user buffer entered the ring: seed 001 §10.4's user-mode notification takes the
    // buffer's trailing scheduler FENCE (it already has an interrupt), so the CPU event is signalled when the walk reads
    // that value back — never before the buffer retired.
    private void RecordCompletion(ulong fence, UserModeCompletionEvent? completion)
    {
        if (completion is not null)
            Sync!.History.Enqueue(new HistoryEvent { Kind = SchedulerEventKind.UserModeNotification, Fence = fence, SubmissionId = (long)fence, Event = completion });
    }

    private ulong ReserveFence() => _reservedFence = Math.Max(_reservedFence, _nextFence) + 1;

    // Under RingLock and the kernel lock: a wait, signal or reset — held back when blocked, else a kernel NOP +
    // FENCE(interrupt) in the ring, recorded in the event history at that fence. False when the ring is full (nothing
    // changed).
    internal bool TryAddSyncPoint(SyncOperation op, PrivilegeEnforcement option, out ulong fence)
    {
        if (Holding)
        {
            fence = ReserveFence();
            HeldBack.Enqueue(new HeldItem(null, 0, null, 0, op, fence));
            return true;
        }
        return InsertSyncPoint(op, option, out fence);
    }

    private bool InsertSyncPoint(SyncOperation op, PrivilegeEnforcement option, out ulong fence)
    {
        Span<uint> nop = stackalloc uint[1];
        new PacketWriter(nop).Nop(1);
        if (!TryInsertKernelUnchecked(nop, null, option, out fence)) return false;
        if (op.Kind == SchedulerEventKind.WaitSync) Blocked = true;
        op.Fence = fence;
        Sync!.History.Enqueue(new HistoryEvent { Kind = op.Kind, Fence = fence, Operation = op });
        return true;
    }

    // Under the scheduler's KernelLock: moves held-back entries into the ring, in order, until a wait blocks the
    // stream again or the ring is full (retried on the next interrupt).
    internal bool DrainHeldBack(PrivilegeEnforcement option)
    {
        bool moved = false;
        lock (RingLock)
        {
            while (!Blocked && HeldBack.TryPeek(out var item))
            {
                ulong fence;
                if (item.Operation is { } op)
                {
                    if (!InsertSyncPoint(op, option, out fence)) break;
                }
                else if (TryInsertLocked(item.Buffer!, item.Dwords, item.Resources!, item.PagingWait, option, out fence)) RecordCompletion(fence, item.Completion);
                else break;
                if (fence != item.Fence) throw new InvalidOperationException($"{this}: held-back entry got fence {fence}, reserved {item.Fence}");
                HeldBack.Dequeue();
                moved = true;
            }
        }
        return moved;
    }
}
