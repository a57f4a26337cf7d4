using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Scenarios.Running;

/// <summary>
/// Vsync-locked presentation of one presenting context (compositor, game): each frame is due at the first vsync at
/// least ¾ of a period after its submission; at every vsync the newest completed frame is presented (seed 001 §9.1:
/// only the last flip before a vsync takes effect — older completed frames are superseded), and a vsync at which a
/// due frame is not ready — still running, failed, or never submitted because every buffer was in flight — is a
/// missed vsync. The display owner (the compositor) presents for real: each frame is followed by a vsync FLIP of its
/// primary surface through the present path (<see cref="PresentManager.TryFlip(uint, VidSchContext, AllocationHandle, FlipKind, out long, bool)"/>:
/// a kernel DMA buffer with the privileged FLIP and a fence; for a run-list context of the advanced model the same
/// packets as privileged kernel commands; n-buffered), and a frame counts as presented when its flip became visible.
/// </summary>
/// <remarks>
/// Simplified: there is one display, so only the display owner flips; the other presenters (a game) hand frames to
/// the compositor, and a frame of theirs counts as presented at the first vsync after its buffer completed.
/// </remarks>
internal sealed class PresentationTracker(IScenarioContext context, SchedulingObserver observer, ulong period, PresentManager? display)
{
    private readonly List<(int Frame, long Submission, long Flip, ulong Due)> _frames = [];

    /// <summary>The context presenting.</summary>
    public IScenarioContext Context { get; } = context;

    // The display owner flips through the present path: a ring-0 context (basic and hardware models) or a run-list
    // context (advanced model) — one present path, the same decisions (Display/FlipPresenter.cs).
    private VidSchContext? Kernel => (Context as Ring0ContextDriver)?.Context;
    private VaContext? RunList => (Context as VaContextDriver)?.Context;

    private bool TryFlip(uint processId, AllocationHandle surface, out long flip) =>
        RunList is { } v ? display!.TryFlip(v, surface, FlipKind.Vsync, out flip) : display!.TryFlip(processId, Kernel!, surface, FlipKind.Vsync, out flip);

    private FlipStatus FlipStatusOf(long flip) => RunList is { } v ? display!.StatusOf(v, flip) : display!.StatusOf(Kernel!, flip);

    /// <summary>Frames presented.</summary>
    public long Presented { get; private set; }

    /// <summary>Vsyncs missed.</summary>
    public long Missed { get; private set; }

    /// <summary>True when this presenter flips the display.</summary>
    public bool OwnsDisplay => display is not null;

    /// <summary>Flips refused because n − 1 were already queued (the frame is then never shown).</summary>
    public long FlipsBlocked { get; private set; }

    /// <summary>
    /// Records a submitted frame (<paramref name="submission"/> 0 = not submitted: every buffer was in flight, or
    /// rejected) and, for the display owner, queues its vsync flip of <paramref name="surface"/> behind it.
    /// </summary>
    public void Frame(int frame, long submission, ulong cycle, uint processId, AllocationHandle surface)
    {
        long flip = 0;
        if (display is not null && submission != 0)
        {
            try
            {
                if (!TryFlip(processId, surface, out flip)) FlipsBlocked++;
            }
            catch (FlipRejectedException e)
            {
                observer.Faulted(Context.Handle, cycle, $"flip rejected: {e.Message}");
            }
        }
        _frames.Add((frame, submission, flip, DueVsync(cycle)));
    }

    private bool Shown((int Frame, long Submission, long Flip, ulong Due) f) =>
        display is null
            ? f.Submission != 0 && Context.StatusOf(f.Submission) == SubmissionStatus.Completed
            : f.Flip != 0 && FlipStatusOf(f.Flip) == FlipStatus.Presented;

    private bool CanStillShow((int Frame, long Submission, long Flip, ulong Due) f)
    {
        if (f.Submission == 0 || Context.StatusOf(f.Submission) is not (SubmissionStatus.Pending or SubmissionStatus.Completed)) return false;
        if (display is null) return Context.StatusOf(f.Submission) == SubmissionStatus.Pending;
        return f.Flip != 0 && FlipStatusOf(f.Flip) is FlipStatus.Queued or FlipStatus.Latched;
    }

    /// <summary>
    /// The vsync at <paramref name="cycle"/> (evaluated once its interrupt was handled): the newest frame shown since
    /// the last vsync is presented, or a miss is counted.
    /// </summary>
    public void OnVsync(ulong cycle)
    {
        int newest = -1;
        for (int i = 0; i < _frames.Count; i++)
            if (Shown(_frames[i])) newest = i;
        if (newest >= 0)
        {
            _frames.RemoveRange(0, newest + 1);
            Presented++;
            observer.Presented(Context.Handle, cycle);
            return;
        }
        // Nothing new to show: a miss if a frame was due by now; frames that can never complete are dropped.
        bool due = false;
        for (int i = _frames.Count - 1; i >= 0; i--)
        {
            var f = _frames[i];
            if (f.Due > cycle) continue;
            due = true;
            if (!CanStillShow(f)) _frames.RemoveAt(i);
        }
        if (due)
        {
            Missed++;
            observer.MissedVsync(Context.Handle, cycle);
        }
    }

    private ulong DueVsync(ulong cycle) => period == 0 ? cycle : (cycle + period * 3 / 4 + period - 1) / period * period;
}
