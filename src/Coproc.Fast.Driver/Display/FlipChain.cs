using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.Display;

/// <summary>
/// A presenting context's flip state (seed 001 §9.3): its buffer count n, the flips queued and not yet visible (at
/// most n − 1), the per-context **virtual ring** of DMA buffers submitted after flip n − 1, and counters.
/// Mutated only under the kernel lock.
/// </summary>
public sealed class FlipChain
{
    internal FlipChain(int bufferCount, int slot)
    {
        BufferCount = bufferCount;
        Slot = slot;
    }

    /// <summary>n: the surfaces the context flips among (2 = double, 3 = triple buffering).</summary>
    public int BufferCount { get; }

    /// <summary>Flips that became visible.</summary>
    public long Presented { get; internal set; }

    /// <summary>Vsync flips replaced by a later flip before any vsync showed them.</summary>
    public long Dropped { get; internal set; }

    /// <summary>Vsyncs at which a flip of this context was submitted but its FLIP had not executed (the frame was not ready).</summary>
    public long MissedVsyncs { get; internal set; }

    /// <summary>Flips whose context was reset before they executed.</summary>
    public long Failed { get; internal set; }

    /// <summary>Flips submitted and not yet presented, dropped or failed.</summary>
    public int QueuedFlips => Pending.Count;

    /// <summary>DMA buffers waiting in the virtual ring.</summary>
    public int HeldBuffers => VirtualRing.Count;

    /// <summary>Times a DMA buffer entered the virtual ring.</summary>
    public long BuffersHeld { get; internal set; }

    /// <summary>Slot of this chain's flip fence (8 bytes) in the present manager's fence page.</summary>
    internal int Slot { get; }

    /// <summary>Last flip sequence number issued (written by the flip's privileged fence).</summary>
    internal ulong SequenceIssued;

    /// <summary>Flips submitted and not yet decided, oldest first.</summary>
    internal readonly List<PendingFlip> Pending = new();

    /// <summary>Decided flips kept for <see cref="PresentManager.StatusOf(VidSch.GpuContext, long)"/> (bounded, most recent).</summary>
    internal readonly Dictionary<long, FlipStatus> Decided = new();
    internal readonly Queue<long> DecidedOrder = new();

    /// <summary>The virtual ring (software): buffers submitted while <see cref="HoldsSubmissions"/>.</summary>
    internal readonly Queue<DmaBuffer> VirtualRing = new();

    /// <summary>
    /// True while the context's submissions must wait: n − 1 flips queued, or earlier ones already waiting (order is
    /// kept). seed 001 §9.3: they enter the real ring once queued flips ≤ n − 2.
    /// </summary>
    internal bool HoldsSubmissions => Pending.Count >= BufferCount - 1 || VirtualRing.Count > 0;

    internal void Decide(long id, FlipStatus status)
    {
        Decided[id] = status;
        DecidedOrder.Enqueue(id);
        if (DecidedOrder.Count > 256) Decided.Remove(DecidedOrder.Dequeue());
    }
}

/// <summary>One flip in flight.</summary>
internal sealed class PendingFlip
{
    public long Id;             // submission id of its kernel DMA buffer
    public ulong Sequence;      // value its flip fence writes
    public ulong Surface;       // encoded PA
    public FlipKind Kind;
    public FlipStatus Status;   // Queued or Latched
}
