using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Machine;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Cli.Running;

/// <summary>
/// Vsync-locked presentation of one presenting context (compositor, game): each frame is due at the first vsync at
/// least ¾ of a period after its submission; at every vsync the newest completed frame is presented (seed 001 §9.1:
/// only the last flip before a vsync takes effect — older completed frames are superseded), and a vsync at which a
/// due frame is not ready — still running, failed, or never submitted because every buffer was in flight — is a
/// missed vsync. The display owner's presented surface is scanned out (SCANOUT_BASE, native-layout.md §12).
/// </summary>
/// <remarks>
/// Simplified until the KMD accepts FLIP from command buffers (feat/engines part 2): the runner, acting as the kernel
/// display driver, performs the flip at the vsync through SCANOUT_BASE instead of a privileged FLIP packet.
/// </remarks>
internal sealed class PresentationTracker(Ring0ContextDriver context, ScenarioProcess process, SchedulingObserver observer, ulong period, bool ownsDisplay)
{
    private const uint ScanoutBase = MmioMap.DisplayBase + 0x38, WidthReg = MmioMap.DisplayBase + 0x28;
    private const uint HeightReg = MmioMap.DisplayBase + 0x2C, PitchReg = MmioMap.DisplayBase + 0x30, FormatReg = MmioMap.DisplayBase + 0x34;
    private readonly List<(int Frame, long Submission, ulong Due)> _frames = [];
    private bool _modeSet;

    /// <summary>The context presenting.</summary>
    public Ring0ContextDriver Context { get; } = context;

    /// <summary>Frames presented.</summary>
    public long Presented { get; private set; }

    /// <summary>Vsyncs missed.</summary>
    public long Missed { get; private set; }

    /// <summary>Records a submitted frame (<paramref name="submission"/> 0 = not submitted: every buffer was in flight, or rejected).</summary>
    public void Frame(int frame, long submission, ulong cycle) => _frames.Add((frame, submission, DueVsync(cycle)));

    /// <summary>The vsync at <paramref name="cycle"/>: presents the newest completed frame, or counts a miss.</summary>
    public void OnVsync(CoprocMachine machine, ulong cycle)
    {
        int newest = -1;
        for (int i = 0; i < _frames.Count; i++)
            if (_frames[i].Submission != 0 && Context.Context.StatusOf(_frames[i].Submission) == SubmissionStatus.Completed) newest = i;
        if (newest >= 0)
        {
            var f = _frames[newest];
            _frames.RemoveRange(0, newest + 1);
            Presented++;
            observer.Presented(Context.Handle, cycle);
            if (ownsDisplay) Scanout(machine, f.Frame);
            return;
        }
        // Nothing new to show: a miss if a frame was due by now; frames that can never complete are dropped.
        bool due = false;
        for (int i = _frames.Count - 1; i >= 0; i--)
        {
            var f = _frames[i];
            if (f.Due > cycle) continue;
            due = true;
            var status = f.Submission == 0 ? SubmissionStatus.Unknown : Context.Context.StatusOf(f.Submission);
            if (status != SubmissionStatus.Pending) _frames.RemoveAt(i);
        }
        if (due)
        {
            Missed++;
            observer.MissedVsync(Context.Handle, cycle);
        }
    }

    private ulong DueVsync(ulong cycle) => period == 0 ? cycle : (cycle + period * 3 / 4 + period - 1) / period * period;

    private void Scanout(CoprocMachine machine, int frame)
    {
        var (h, bytes) = process.Surface(frame);
        var g = SurfaceGeometry.For(bytes);
        var mmio = machine.Device.Mmio;
        if (!_modeSet)
        {
            mmio.Write32(WidthReg, g.Width);
            mmio.Write32(HeightReg, g.Height);
            mmio.Write32(PitchReg, g.Pitch);
            mmio.Write32(FormatReg, 0);
            _modeSet = true;
        }
        ulong pa;
        lock (machine.Scheduler.KernelLock) pa = machine.VidMm.PhysicalAddressOf(h, 0).Encoded;
        mmio.Write64(ScanoutBase, pa);
    }
}
