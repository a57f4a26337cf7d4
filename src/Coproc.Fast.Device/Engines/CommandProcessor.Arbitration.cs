using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Device.Engines;

// Design: one arbitration for kernel and ring-3 work on an engine (native-layout.md §13.7 "Arbitration"; seed 001 §5.5
// "the next DMA buffer comes from a context of the same or higher priority"; seed 003 run lists). A kernel context
// carries the kernel's priority for it in its save area (SchedulingPriority, +88: bit 8 valid, bits 0..3 priority — the
// same 0..15 scale the kernel grants user queues at registration). At every point where the engine chooses (each
// pass of Run's loop, i.e. a packet boundary: the start of every device step and after every switch) it compares the
// kernel side's candidate with the user queue the scheduling core would hand out next:
//   - the higher priority takes the engine; the loser is set aside (a kernel context) or keeps its slot (a queue);
//   - equal priorities take turns by time: a kernel context gives way after running one time slice of the waiting
//     queue's length; the equal queues then run one slice each (the core's round robin) before the kernel context's
//     next turn, so N equal queues and the kernel context each get about 1/(N + 1) of the engine;
//   - a kernel context without bit 8 ranks above every queue (16): the rule before one arbitration existed, kept for
//     kernels that do not give priorities (a paging context, the advanced model).
// Invariant A1: a kernel context with work is never off the engine for a user queue without the driver having been told
// (SwitchReason.UserQueuePreempted, once per set-aside), and its return is reported too; so the driver's timeout
// detection, which counts only the time a context holds the engine, never charges it for a queue's time (docs/
// containment.md). A set-aside context without work stays quiet, as before: it is not waiting for the engine.
// Invariant A2 (hang detection for queues): a queue that runs StallCycles ≥ SC_QUEUE_TIMEOUT engine cycles without
// completing a packet is faulted alone (QueueFaultReason.Timeout); cycles spent waiting on a WAIT are not counted, and
// any completed packet restarts the count — the rule the driver applies to kernel contexts (active time without progress).
internal sealed unsafe partial class CommandProcessor
{
    private bool _uqPreempting;          // RunUserQueue is taking the engine from a runnable kernel context
    private bool _kernelAsideReported;   // the driver was told _kernelResume is off the engine (invariant A1)
    private ulong _kernelSliceMark;      // the loaded kernel context's CyclesRun when it got the engine
    private int _queueTurnsSinceKernel;  // queue slices started since a kernel context last got the engine

    /// <summary>The arbitration rank of the context at <paramref name="saveArea"/> (16 when it gives none or cannot be read).</summary>
    private int PriorityAt(ulong saveArea)
    {
        if (!PhysicalAddress.TryDecode(saveArea, out var pa)) return 16;
        var sa = (ContextSaveArea*)_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes);
        return sa == null ? 16 : sa->ArbitrationPriority;
    }

    /// <summary>True while the loaded user queue may keep the engine for the rest of its time slice.</summary>
    private bool LoadedQueueMidSlice() =>
        _uqActive && _uqSliceLeft > 0 && !Yielded(_uq.Doorbell) && _userQueues!.IsSlotted(in _uq);

    /// <summary>The priority of the queue that would run next (the loaded one mid-slice, else the core's best), -1 when none.</summary>
    private int PeekUserPriority(out uint timeSlice)
    {
        timeSlice = 0;
        if (_userQueues is null) return -1;
        if (LoadedQueueMidSlice())
        {
            timeSlice = _uq.TimeSliceCycles;
            return _uq.Priority;
        }
        // A source other than the scheduling core cannot be peeked: kernel work first, as before the common scale.
        return _uqRunList is null ? -1 : _uqRunList.PeekPriority(_uqYielded, out timeSlice);
    }

    /// <summary>Whether kernel candidate <paramref name="saveArea"/> goes before the user queues at this choice point.</summary>
    private bool KernelFirst(ulong saveArea)
    {
        int pu = PeekUserPriority(out _);
        if (pu < 0) return true;
        int pk = PriorityAt(saveArea);
        if (pk != pu) return pk > pu;
        // Equals: a queue finishes its slice, and the kernel context has its turn once every equal queue had one since
        // its last (a round of the core's round robin).
        return !LoadedQueueMidSlice() && (_uqRunList is null || _queueTurnsSinceKernel >= Math.Max(1, _uqRunList.CountAt(pu)));
    }

    /// <summary>
    /// The loaded, runnable kernel context must give way to a user queue: one of higher priority is runnable, or an equal
    /// one is and the context has run a time slice since it got the engine.
    /// </summary>
    private bool UserQueueOutranksLoaded(long budget)
    {
        if ((_ctx.SchedulingPriority & ContextSaveArea.PriorityValid) == 0 || _uqRunList is null || _uqRunList.IsEmpty) return false;
        if ((_ctx.Flags & ContextFlags.ContextSwitchDisabled) != 0) return false; // seed 001 §8.3: not switchable here
        // An empty ring goes to the queues through OnEmpty, quietly (nothing waits for the engine; invariant A1).
        if ((_ctx.Flags & ContextFlags.InIndirect) == 0 && (_ringWritePtr == null || Volatile.Read(ref *_ringWritePtr) == _ctx.RingPosition))
            return false;
        int pu = _uqRunList.PeekPriority(_uqYielded, out uint slice);
        int pk = _ctx.ArbitrationPriority;
        if (pu != pk) return pu > pk;
        ulong ran = _ctx.CyclesRun + (ulong)Math.Max(0, _mark - budget) - _kernelSliceMark;
        return ran >= Math.Max(1u, slice);
    }

    /// <summary>Sets the loaded kernel context aside (reported, invariant A1) and runs the queue that outranks it.</summary>
    private bool PreemptForUserQueue(ref long budget)
    {
        _uqPreempting = true;
        bool ran = RunUserQueue(ref budget);
        _uqPreempting = false;
        return ran || _uqActive || _ctxAddress == 0;
    }

    /// <summary>
    /// The set-aside kernel context has work but a user queue outranks it: tell the driver once that it is kept off the
    /// engine (invariant A1), as if it had been preempted now.
    /// </summary>
    private void ReportKeptOff(long budget)
    {
        if (_kernelAsideReported) return;
        _kernelAsideReported = true;
        ReportSwitch(_kernelResume, ContextIdAt(_kernelResume), _ctxAddress, _ctx.ContextId, SwitchReason.UserQueuePreempted, 0, Now(budget));
    }

    /// <summary>
    /// Hang detection for the user queue that just ran (invariant A2). Returns true when it was faulted and taken off the
    /// engine.
    /// </summary>
    private bool CheckQueueHang(in RunnableQueue q, ulong used, bool completedPacket, bool waiting, ref long budget)
    {
        if (completedPacket) _ctx.StallCycles = 0;
        else if (!waiting) _ctx.StallCycles += used;
        ulong limit = (_userQueues as SchedulingCore)?.QueueTimeoutCycles ?? 0;
        if (limit == 0 || _ctx.StallCycles < limit) return false;
        ulong stalled = _ctx.StallCycles;
        _ctx.StallCycles = 0; // the save area restarts clean if the kernel registers the queue again with it
        SwitchTo(0, SwitchReason.Requested, ref budget);
        _userQueues!.FaultQueue(q.Doorbell, QueueFaultReason.Timeout, stalled);
        return true;
    }
}
