using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Driver.VidSch;

public sealed partial class VidSchScheduler
{
    /// <summary>
    /// seed 001 §9.3 (Fig. 23): while a context has n − 1 flips queued, the DMA buffers it submits (which typically
    /// render to the surface still on screen) are accumulated in its per-context virtual ring instead of the real ring.
    /// </summary>
    private static bool HoldInVirtualRing(DmaBuffer buffer, VidSchContext ctx)
    {
        if (ctx.FlipChain is not { } chain || !chain.HoldsSubmissions) return false;
        buffer.Owner = ctx;
        chain.VirtualRing.Enqueue(buffer);
        chain.BuffersHeld++;
        return true;
    }

    /// <summary>
    /// Moves every buffer held in <paramref name="ctx"/>'s virtual ring into the real queues, in submission order
    /// (called by the present path once queued flips ≤ n − 2). Caller holds <see cref="KernelLock"/>.
    /// </summary>
    internal void ReleaseVirtualRing(VidSchContext ctx)
    {
        if (ctx.FlipChain is not { } chain) return;
        while (chain.VirtualRing.TryDequeue(out var b)) Admit(b, ctx);
    }

    /// <summary>
    /// Fails every buffer held in <paramref name="ctx"/>'s virtual ring with <paramref name="status"/> (its context was
    /// reset: held work is queued work) and returns them to their pool. Caller holds <see cref="KernelLock"/>.
    /// </summary>
    internal void FailVirtualRing(VidSchContext ctx, SubmissionStatus status)
    {
        if (ctx.FlipChain is not { } chain) return;
        while (chain.VirtualRing.TryDequeue(out var b))
        {
            ctx.Finish(b.SubmissionId, status);
            SyncOnDropped(ctx, b); // its user-mode completion event fires (VidSchScheduler.Sync.cs)
            b.Process.ReturnDmaBuffer(b);
        }
    }
}
