using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Cli.Running;

/// <summary>
/// Feeds VidSch's scheduling events (<see cref="IScheduleObserver"/>) into a <see cref="SchedulingObserver"/> — trace,
/// metrics and per-context statistics — by context id (the CLI author's mapping: BufferSubmitted → Submitted,
/// BufferStarted → Started, BufferCompleted → Completed, ContextPreempted → Preempted, ContextFault + ContextReset →
/// one Faulted that drops the queue, PagingBuffer → Paged + a residency counter sample).
/// </summary>
/// <remarks>
/// Design: VidSch calls this under its kernel lock; the work per event is a dictionary lookup and a few stores. The
/// adapter keeps its own count of each context's pending buffers so an event the observer cannot match (e.g. a
/// paging-only entry re-run after a reset) is ignored rather than thrown.
/// </remarks>
internal sealed class ScheduleObserverAdapter(SchedulingObserver observer, IResidencyManager residency) : IScheduleObserver
{
    private readonly Dictionary<int, VidSchScheduler> _schedulers = [];

    /// <summary>Records which engine's scheduler owns context <paramref name="contextId"/> (paging statistics are per scheduler).</summary>
    public void Track(int contextId, VidSchScheduler scheduler) => _schedulers[contextId] = scheduler;

    private readonly Dictionary<int, int> _pending = [];
    private readonly Dictionary<int, string> _faultPendingReset = [];

    /// <summary>Paging buffers seen.</summary>
    public long PagingBuffers { get; private set; }

    /// <summary>Bytes paged in plus evicted, over every paging buffer seen.</summary>
    public long BytesPaged { get; private set; }

    /// <inheritdoc />
    public void OnEvent(in ScheduleEvent e)
    {
        if (!observer.TryGetHandle((uint)e.ContextId, out int h)) return;
        _pending.TryGetValue(h, out int pending);
        switch (e.Kind)
        {
            case ScheduleEventKind.BufferSubmitted:
                observer.Submitted(h, e.Cycle, (ulong)e.SubmissionId, ring0: true);
                _pending[h] = pending + 1;
                break;
            case ScheduleEventKind.BufferStarted:
                // seed 001 §6: the chunk is handed to the hardware queue; a later chunk of the same buffer changes nothing.
                if (pending > 0) observer.Started(h, e.Cycle);
                break;
            case ScheduleEventKind.BufferCompleted:
                if (pending > 0)
                {
                    observer.Completed(h, e.Cycle);
                    _pending[h] = pending - 1;
                }
                break;
            case ScheduleEventKind.ContextPreempted:
                observer.Preempted(h, e.Cycle);
                break;
            case ScheduleEventKind.ContextFault:
                // A fault is followed by the reset that fails the context's work: counted once, at the reset.
                _faultPendingReset[h] = SchedulingObserver.SourceName((InterruptSource)e.Value);
                break;
            case ScheduleEventKind.ContextReset:
            {
                string reason = _faultPendingReset.Remove(h, out var r) ? $"{r} (reset)"
                    : (SubmissionStatus)e.Extra == SubmissionStatus.FailedTimeout ? "timeout (reset)" : "reset";
                observer.Faulted(h, e.Cycle, reason, discardPending: true);
                _pending[h] = 0;
                break;
            }
            case ScheduleEventKind.PagingBuffer:
            {
                // seed 001 §11: the paging buffer runs on the context's engine just before the chunk it serves.
                if (!_schedulers.TryGetValue(e.ContextId, out var scheduler)) break;
                var (pagedIn, evicted) = scheduler.LastPagingBufferBytes;
                long bytes = (long)(pagedIn + evicted);
                ulong cycles = (pagedIn + evicted) / 32 + e.Value * 64; // COPY at the device's default 32 B/cycle, 64 per packet
                observer.Paged(h, scheduler.Options.Engine, e.Cycle, cycles, bytes, evict: evicted > pagedIn);
                PagingBuffers++;
                BytesPaged += bytes;
                if (residency is ResidencyManager rm) observer.Residency(e.Cycle, (long)rm.ResidentBytes);
                break;
            }
        }
    }

}
