using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Driver.Display;

/// <summary>
/// A context that flips, as the present path sees it (seed 001 §9): how its flip commands reach its queue, how a flip's
/// submission is known to have failed, and its n-buffering hold (§9.3). One present path serves every scheduling model
/// (docs/models.md): a kernel-path context queues a kernel DMA buffer through the KMD; a run-list context (advanced
/// model) gets the same packets as privileged kernel commands (seed 001 §7.3). Used under the kernel lock.
/// </summary>
internal abstract class FlipPresenter
{
    /// <summary>The context id flip notices carry.</summary>
    public abstract int ContextId { get; }

    /// <summary>Queues <paramref name="packets"/> (FLIP and its fence) behind the context's earlier work; false: no room now.</summary>
    public abstract bool TryQueue(ReadOnlySpan<uint> packets, out long flipId);

    /// <summary>True when the flip's submission will never execute (its context was reset or stopped), with why.</summary>
    public abstract bool Failed(long flipId, out SubmissionStatus status);

    /// <summary>§9.3: queued flips ≤ n − 2 — the context's held buffers may go on.</summary>
    public abstract void ReleaseHeld();

    /// <summary>The context's held buffers fail with its flips.</summary>
    public abstract void FailHeld(SubmissionStatus status);
}

/// <summary>A kernel-path context (basic and hardware models): flips are kernel DMA buffers; held buffers wait in its virtual ring.</summary>
internal sealed class KernelFlipPresenter(VidSchContext context, Kmd kmd) : FlipPresenter
{
    public VidSchContext Context { get; } = context;

    public override int ContextId => Context.Id;

    public override bool TryQueue(ReadOnlySpan<uint> packets, out long flipId)
    {
        flipId = kmd.SubmitKernelBuffer(Context, packets);
        return true;
    }

    public override bool Failed(long flipId, out SubmissionStatus status)
    {
        status = Context.StatusOf(flipId);
        return status is SubmissionStatus.FailedFault or SubmissionStatus.FailedTimeout or SubmissionStatus.FailedDoesNotFit;
    }

    public override void ReleaseHeld() => Context.Scheduler!.ReleaseVirtualRing(Context);

    public override void FailHeld(SubmissionStatus status) => Context.Scheduler!.FailVirtualRing(Context, status);
}

/// <summary>
/// A run-list context (advanced model): flips are privileged kernel commands in its ring (<see cref="RunListScheduler.TrySubmitKernelCommands"/>),
/// the flip id is their scheduler-fence value. Its DMA buffers are the process's own, so nothing is held in software:
/// while n − 1 flips are queued, <see cref="RunListScheduler.TrySubmit(VaContext, UserDmaBuffer, int, ReadOnlySpan{VidMm.AllocationHandle}, out VaTicket)"/>
/// refuses the next buffer (false, nothing queued) and the process submits it again later.
/// </summary>
internal sealed class RunListFlipPresenter(VaContext context, RunListScheduler scheduler) : FlipPresenter
{
    public VaContext Context { get; } = context;

    public override int ContextId => (int)Context.Id;

    public override bool TryQueue(ReadOnlySpan<uint> packets, out long flipId)
    {
        flipId = 0;
        try
        {
            if (!scheduler.TrySubmitKernelCommands(Context, packets, out var ticket)) return false; // ring full
            flipId = (long)ticket.Fence;
            return true;
        }
        catch (VidMm.VidMmException)
        {
            return false; // option 3: no local memory for the kernel's privileged buffer — not queued, like a full ring
        }
    }

    public override bool Failed(long flipId, out SubmissionStatus status)
    {
        status = SubmissionStatus.FailedFault;
        return Context.HasFailed((ulong)flipId);
    }

    public override void ReleaseHeld() { }

    public override void FailHeld(SubmissionStatus status) { }
}
