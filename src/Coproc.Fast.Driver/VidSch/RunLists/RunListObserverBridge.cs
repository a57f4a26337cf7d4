using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// Replays the advanced scheduler's event log (<see cref="RunListScheduler.Events"/>) into the CLI's
/// <see cref="SchedulingObserver"/> (trace, metrics, per-context statistics), so an advanced-model run can be shown like
/// a basic-model one: submitted → <c>Submitted</c> (ring 0); a switch to a context with buffers outstanding →
/// <c>Started</c>; leaving one that still has buffers for a reason other than a fault → <c>Preempted</c>; a retirement
/// → <c>Completed</c> per buffer the fence passed; a page fault → <c>Faulted</c>; a context error →
/// <c>Faulted(discardPending)</c>; a served paging request → <c>Paged</c>.
/// </summary>
/// <remarks>
/// Times are the driver's (when it learnt of each event, after the modeled interrupt latency), not the device's
/// exact switch cycles. Contexts are registered as "pid N" / "ctx 0x…". Run after the machine ran (it reads a copy of the log).
/// </remarks>
public static class RunListObserverBridge
{
    /// <summary>Registers every context of <paramref name="scheduler"/> with <paramref name="target"/> and replays the log.</summary>
    public static void Replay(RunListScheduler scheduler, SchedulingObserver target)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(target);
        var engine = scheduler.Options.Engine;
        var pending = new Dictionary<uint, long>();
        var retired = new Dictionary<uint, ulong>();
        foreach (var c in scheduler.Contexts)
        {
            target.RegisterContext(c.Process.Id, $"pid {c.Process.Id}", c.Id, $"ctx 0x{c.Id:X}", engine);
            pending[c.Id] = 0;
            retired[c.Id] = 0;
        }
        uint loaded = 0;
        foreach (var e in scheduler.Events)
        {
            bool known = target.TryGetHandle(e.ContextId, out int h);
            switch (e.Kind)
            {
                case RunListEventKind.Submitted when known:
                    target.Submitted(h, e.Cycle, e.Detail, ring0: true);
                    pending[e.ContextId]++;
                    if (loaded == e.ContextId) target.Started(h, e.Cycle);
                    break;
                case RunListEventKind.Switch:
                {
                    var reason = (SwitchReason)(uint)e.Detail;
                    uint to = (uint)(e.Detail >> 32);
                    if (known && pending[e.ContextId] > 0 && !SwitchReasons.IsFault(reason) && to != e.ContextId)
                        target.Preempted(h, e.Cycle);
                    loaded = to;
                    if (target.TryGetHandle(to, out int th) && pending[to] > 0) target.Started(th, e.Cycle);
                    break;
                }
                case RunListEventKind.Retired when known:
                    for (ulong f = retired[e.ContextId]; f < e.Detail && pending[e.ContextId] > 0; f++)
                    {
                        target.Completed(h, e.Cycle);
                        pending[e.ContextId]--;
                    }
                    retired[e.ContextId] = Math.Max(retired[e.ContextId], e.Detail);
                    if (loaded == e.ContextId && pending[e.ContextId] > 0) target.Started(h, e.Cycle);
                    break;
                case RunListEventKind.PageFault when known:
                    target.Faulted(h, e.Cycle, "page fault", e.Detail);
                    break;
                case RunListEventKind.ContextError when known:
                    target.Faulted(h, e.Cycle, "error", e.Detail, discardPending: true);
                    pending[e.ContextId] = 0;
                    break;
                case RunListEventKind.PagingServed when known:
                    target.Paged(h, engine, e.Cycle, 0, 0, evict: false);
                    break;
            }
        }
    }
}
