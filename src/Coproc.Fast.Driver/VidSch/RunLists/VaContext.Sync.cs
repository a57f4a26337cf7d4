using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.RunLists;

internal enum HeldKind : byte { Buffer, Wait, Signal }

// One piece of a context's stream held back behind an ungranted wait (seed 001 §10.1): its fence value was reserved
// when it was submitted, so tickets are final; the entries reach the ring in order once the wait is granted.
internal readonly record struct HeldItem(HeldKind Kind, UserDmaBuffer? Buffer, int Dwords, ResourceReference[]? Resources,
    ulong PagingWait, VaSyncObject? Object, ulong Fence);

// Synchronization-object plumbing of one context (seed 001 §10.1): a wait or a signal is a kernel FENCE + interrupt in
// the ring after everything submitted before it; after a wait, later work is held back here (never written to the
// ring) until the scheduler grants the object. HeldBack, Blocked and the reserved fence are under RingLock;
// SyncEvents (the context's event history, §11) is the scheduler's, under its KernelLock.
public sealed partial class VaContext
{
    internal readonly Queue<HeldItem> HeldBack = new();
    internal readonly Queue<(ulong Fence, HeldKind Kind, VaSyncObject Object)> SyncEvents = new();
    internal bool Blocked;
    private ulong _reservedFence;

    /// <summary>True while the context waits for an object the scheduler has not granted (its later work is held back).</summary>
    public bool IsBlockedOnSync { get { lock (RingLock) return Blocked; } }

    /// <summary>Entries (buffers, waits, signals) held back behind an ungranted wait.</summary>
    public int HeldBackCount { get { lock (RingLock) return HeldBack.Count; } }

    // Under RingLock: later work must queue behind a wait (or behind entries still waiting for ring space).
    private bool Holding => Blocked || HeldBack.Count != 0;

    // Under RingLock: holds a user buffer back when the stream is blocked; false = insert it normally.
    private bool TryHold(UserDmaBuffer buffer, int dwords, ResourceReference[] resources, ulong waitPagingFence, out ulong fence)
    {
        fence = 0;
        if (!Holding) return false;
        fence = ReserveFence();
        HeldBack.Enqueue(new HeldItem(HeldKind.Buffer, buffer, dwords, resources, waitPagingFence, null, fence));
        return true;
    }

    private ulong ReserveFence() => _reservedFence = Math.Max(_reservedFence, _nextFence) + 1;

    // Under RingLock: a wait or signal — held back when blocked, else a kernel NOP + FENCE(interrupt) in the ring.
    // Returns false when the ring is full (nothing changed). `inserted` tells the caller to record the event.
    internal bool TryAddSyncPoint(HeldKind kind, VaSyncObject o, PrivilegeEnforcement option, out ulong fence, out bool inserted)
    {
        inserted = false;
        if (Holding)
        {
            fence = ReserveFence();
            HeldBack.Enqueue(new HeldItem(kind, null, 0, null, 0, o, fence));
            return true;
        }
        if (!InsertSyncPoint(kind, option, out fence)) return false;
        inserted = true;
        return true;
    }

    private bool InsertSyncPoint(HeldKind kind, PrivilegeEnforcement option, out ulong fence)
    {
        Span<uint> nop = stackalloc uint[1];
        new PacketWriter(nop).Nop(1);
        if (!TryInsertKernelUnchecked(nop, null, option, out fence)) return false;
        if (kind == HeldKind.Wait) Blocked = true;
        return true;
    }

    // Under the scheduler's KernelLock: moves held-back entries into the ring, in order, until a wait blocks the
    // stream again or the ring is full (retried on the next interrupt). Waits and signals it inserts are recorded.
    internal bool DrainHeldBack(PrivilegeEnforcement option)
    {
        bool moved = false;
        lock (RingLock)
        {
            while (!Blocked && HeldBack.TryPeek(out var item))
            {
                ulong fence;
                if (item.Kind == HeldKind.Buffer)
                {
                    if (!TryInsertLocked(item.Buffer!, item.Dwords, item.Resources!, item.PagingWait, option, out fence)) break;
                }
                else
                {
                    if (!InsertSyncPoint(item.Kind, option, out fence)) break;
                    SyncEvents.Enqueue((fence, item.Kind, item.Object!));
                }
                if (fence != item.Fence) throw new InvalidOperationException($"{this}: held-back entry got fence {fence}, reserved {item.Fence}");
                HeldBack.Dequeue();
                moved = true;
            }
        }
        return moved;
    }
}
