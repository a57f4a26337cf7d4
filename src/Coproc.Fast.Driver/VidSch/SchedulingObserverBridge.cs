using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// Feeds the basic-model scheduler's events (<see cref="IScheduleObserver"/>) into the CLI's
/// <see cref="SchedulingObserver"/> (trace, metrics, per-context statistics), so a run of <c>Machine</c> can be
/// traced like any other scheduler: submitted → <c>Submitted</c> (ring 0), the engine switching to a context with work →
/// <c>Started</c>, switching away from one still holding work → <c>Preempted</c>, completed → <c>Completed</c> (and
/// <c>Started</c> again when the next buffer is already in its ring), fault → <c>Faulted</c>, reset →
/// <c>Faulted(discardPending)</c>, paging buffer → <c>Paged</c>. Contexts not registered are ignored.
/// </summary>
/// <remarks>
/// Called under the scheduler's lock, so it needs none. A WAIT yield shows as a preemption (the engine left a context
/// that still has work); paging time is inside the context's run, so <c>Paged</c> is given the bytes and no cycles.
/// </remarks>
public sealed class SchedulingObserverBridge(SchedulingObserver target, VidSchOptions options) : IScheduleObserver
{
    private readonly Dictionary<int, long> _pending = new();
    private int _loaded = -1;

    /// <summary>Registers <paramref name="context"/> with the target observer under the given names.</summary>
    public void Register(VidSchContext context, string processName, string contextName)
    {
        target.RegisterContext(context.ProcessId, processName, (uint)context.Id, contextName, options.Engine);
        _pending[context.Id] = 0;
    }

    /// <inheritdoc />
    public void OnEvent(in ScheduleEvent e)
    {
        if (!target.TryGetHandle((uint)e.ContextId, out int h)) return;
        switch (e.Kind)
        {
            case ScheduleEventKind.BufferSubmitted:
                target.Submitted(h, e.Cycle, (ulong)e.SubmissionId, ring0: true);
                _pending[e.ContextId] = Pending(e.ContextId) + 1;
                break;
            case ScheduleEventKind.ContextSwitched:
                if (e.Extra != 0 && (int)e.Extra != e.ContextId && target.TryGetHandle((uint)e.Extra, out int left) && Pending((int)e.Extra) > 0
                    && (SwitchReason)e.Value is SwitchReason.Requested or SwitchReason.Yielded)
                    target.Preempted(left, e.Cycle);
                _loaded = e.ContextId;
                if (Pending(e.ContextId) > 0) target.Started(h, e.Cycle);
                break;
            case ScheduleEventKind.BufferStarted:
                if (_loaded == e.ContextId && Pending(e.ContextId) > 0) target.Started(h, e.Cycle);
                break;
            case ScheduleEventKind.BufferCompleted:
                if (Pending(e.ContextId) == 0) break;
                target.Completed(h, e.Cycle);
                _pending[e.ContextId] = Pending(e.ContextId) - 1;
                if (_loaded == e.ContextId && Pending(e.ContextId) > 0) target.Started(h, e.Cycle);
                break;
            case ScheduleEventKind.ContextFault:
                target.Faulted(h, e.Cycle, "fault", e.Extra);
                break;
            case ScheduleEventKind.ContextReset:
                target.Faulted(h, e.Cycle, (SubmissionStatus)e.Extra == SubmissionStatus.FailedTimeout ? "timeout reset" : "reset", discardPending: true);
                _pending[e.ContextId] = 0;
                if (_loaded == e.ContextId) _loaded = -1;
                break;
            case ScheduleEventKind.BufferFailed:
                target.Faulted(h, e.Cycle, ((SubmissionStatus)e.Value).ToString());
                break;
            case ScheduleEventKind.PagingBuffer:
                target.Paged(h, options.Engine, e.Cycle, 0, (long)e.Bytes, evict: false);
                break;
        }
    }

    private long Pending(int context) => _pending.TryGetValue(context, out long n) ? n : 0;
}
