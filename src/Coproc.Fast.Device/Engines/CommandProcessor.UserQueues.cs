using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Device.Engines;

// Design: doorbell user queues on the engines (seed 003; native-layout.md §13.7). Kernel work and the scheduling core's
// queues compete by priority on one scale (CommandProcessor.Arbitration.cs); a kernel context that gives no priority
// ranks above every queue, and the queues run when the kernel side has nothing runnable (empty, waiting, faulted or idle)
// or is outranked. The engine then asks the core for its next queue
// (highest priority, round-robin among equals), loads the queue's execution context (its save area: address space +
// ring = the user queue), runs it for at most the queue's time slice, and reports the cycles used and whether the ring
// drained; the core's EngineRunList does the slot round robin. Before each slice the engine re-checks the kernel side,
// so kernel work waits at most one time slice. A user queue's ring is process-writable, so its packets execute as a
// limited buffer (descriptor Flags bit 0; seed 001 §7). Switches between user queues raise no CPU interrupt (the core
// is the scheduler); faults do, and fault only that queue (FaultQueue, SC counters).
internal sealed unsafe partial class CommandProcessor
{
    private IEngineRunListSource? _userQueues;
    private bool _uqActive;          // the loaded context is a user queue's
    private bool _uqLoading;         // SwitchTo is loading a user queue's context
    private RunnableQueue _uq;       // the queue loaded (valid with _uqActive)
    private long _uqSliceLeft;       // cycles left in the loaded queue's time slice
    private ulong _kernelResume;     // a kernel context saved to let user queues run; resumed when it has work
    private bool _uqResumingAside;   // SwitchTo is bringing _kernelResume back from a user queue (quiet, see SwitchTo)
    private readonly ulong[] _uqYielded = new ulong[4]; // doorbells that yielded during this Run

    private bool _uqOutgoingOwnsMemory = true; // LoadUserQueue: the queue being switched out still owns its memory

    private bool _uqAnyYielded;      // some bit of _uqYielded is set (cleared with it at the top of Run)

    private void ClearYielded()
    {
        Array.Clear(_uqYielded);
        _uqAnyYielded = false;
    }

    private bool Yielded(int doorbell) => (_uqYielded[doorbell >> 6] & (1UL << doorbell)) != 0;

    /// <summary>Connects the scheduling core's run list for this engine (done by the device at construction).</summary>
    internal void AttachUserQueues(IEngineRunListSource source)
    {
        _userQueues = source;
        _uqRunList = (source as SchedulingCore)?.RunList(Kind); // for the idle test of Run; null = always ask the source
    }

    private EngineRunList? _uqRunList;

    /// <summary>
    /// False when the loaded user queue was unregistered (or its doorbell re-registered) while loaded: the kernel may already
    /// have freed and reused its save area and descriptor, so the engine drops the context without writing it back.
    /// </summary>
    private bool LoadedQueueOwnsItsMemory() =>
        _userQueues is not SchedulingCore core || core.HoldsRegistration(_uq.Doorbell, _uq.Generation);

    /// <summary>True while the loaded context is a doorbell user queue's.</summary>
    public bool RunningUserQueue => _uqActive;

    /// <summary>The doorbell of the user queue loaded, -1 when none.</summary>
    public int UserQueueDoorbell => _uqActive ? _uq.Doorbell : -1;

    /// <summary>
    /// Runs one time slice of the scheduling core's next queue for this engine. False when there is none (or the next
    /// one already yielded during this Run): the engine then idles.
    /// </summary>
    private bool RunUserQueue(ref long budget)
    {
        if (_userQueues is null) return false;
        RunnableQueue q;
        if (_uqActive && _uqSliceLeft > 0 && !Yielded(_uq.Doorbell) && _userQueues.IsSlotted(in _uq))
            q = _uq; // the loaded queue keeps the engine for the rest of its time slice
        else
        {
            // Round robin among the slotted queues of the highest priority, skipping those that yielded in this Run.
            if (!_userQueues.TryGetNext(Kind, _uqYielded, out q)) return false;
            _uqSliceLeft = Math.Max(1u, q.TimeSliceCycles);
            _queueTurnsSinceKernel++; // the equal kernel context's turn comes after a round (CommandProcessor.Arbitration.cs)
        }
        if (!(_uqActive && _uq.Doorbell == q.Doorbell && _uq.Generation == q.Generation && _ctxAddress == q.SaveArea))
        {
            if (!LoadUserQueue(in q, ref budget)) return true; // the queue was faulted; others may run
        }
        if (budget <= 0) return false; // the switch-in cost used the step: continue next step
        long slice = Math.Min(budget, _uqSliceLeft);
        long reserve = budget - slice;
        budget -= reserve; // the slice is the budget while the queue runs; accounting (_mark) shifts with it
        _mark -= reserve;
        _budgetReserve = reserve;
        long start = budget;
        long packetsBefore = PacketsExecuted;
        RunStatus s = RunStatus.Continue;
        while (budget > 0 && _uqActive)
        {
            s = (_ctx.Flags & ContextFlags.InIndirect) != 0 ? RunDmaBuffer(ref budget) : RunRing(ref budget);
            if (s != RunStatus.Continue) break;
        }
        ulong used = (ulong)Math.Max(0, start - budget);
        _uqSliceLeft -= (long)used;
        budget += reserve;
        _mark += reserve;
        _budgetReserve = 0;
        if (!_uqActive) return true; // faulted: Fault() already faulted the queue
        bool waiting = s is RunStatus.Yield or RunStatus.Stall;
        if (CheckQueueHang(in q, used, PacketsExecuted != packetsBefore, waiting, ref budget)) return true;
        if (waiting)
        {
            _uqYielded[q.Doorbell >> 6] |= 1UL << q.Doorbell;
            _uqAnyYielded = true;
        }
        // A queue stopped on an unsatisfied wait has no use for the rest of its slice: it is charged whole, so the core
        // hands its slot to a peer waiting for one (seed 003 round robin). Charged only the few cycles the wait costs, it
        // kept the slot for thousands of slices — with one slot, a queue waiting on a fence only a slot-less peer signals
        // held the engine ~1250 × its slice.
        _userQueues.Report(in q, waiting ? Math.Max(used, q.TimeSliceCycles) : used, drained: s == RunStatus.Empty);
        return true;
    }

    private bool LoadUserQueue(in RunnableQueue q, ref long budget)
    {
        // The execution context comes from registration (DB_SAVE_AREA); it must name this queue's ring and context.
        if (q.SaveArea == 0)
        {
            _userQueues!.FaultQueue(q.Doorbell, QueueFaultReason.NoExecutionContext, 0);
            return false;
        }
        var pa = PhysicalAddress.Decode(q.SaveArea);
        var sa = (ContextSaveArea*)_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes);
        if (sa == null || sa->RingDescriptor != q.Descriptor.Encoded || sa->ContextId != q.ContextId)
        {
            _userQueues!.FaultQueue(q.Doorbell, QueueFaultReason.SaveAreaMismatch, q.SaveArea);
            return false;
        }
        // A queue leaving for another queue is saved with the reason that ended its turn (native-layout.md §11.1): its own
        // unsatisfied WAIT (Yielded), its ring run dry (Empty), or else its time slice or an outranking queue (Requested:
        // the scheduling core's request). Before, every queue-to-queue switch was saved as Requested, so a queue's save
        // area could not tell a wait from a slice end.
        SwitchReason reason = !_uqActive ? SwitchReason.Requested
            : (_ctx.Flags & ContextFlags.Waiting) != 0 ? SwitchReason.Yielded
            : _ringWritePtr != null && (_ctx.Flags & ContextFlags.InIndirect) == 0 && Volatile.Read(ref *_ringWritePtr) == _ctx.RingPosition ? SwitchReason.Empty
            : SwitchReason.Requested;
        if (_ctxAddress != 0 && !_uqActive)
        {
            // A kernel context with nothing runnable gives the engine to user queues; it is resumed when it has work.
            // One outranked by a queue (CommandProcessor.Arbitration.cs) is preempted, and the driver is told (A1).
            _kernelResume = _ctxAddress;
            _kernelAsideReported = _uqPreempting;
            reason = _uqPreempting ? SwitchReason.UserQueuePreempted
                : (_ctx.Flags & ContextFlags.Waiting) != 0 ? SwitchReason.Yielded : SwitchReason.Empty;
            RunList.RunningIndex = -1;
        }
        // Decided before _uq names the incoming queue: SwitchTo saves the outgoing one (see Save).
        _uqOutgoingOwnsMemory = !_uqActive || LoadedQueueOwnsItsMemory();
        _uq = q;
        _uqLoading = true;
        SwitchTo(q.SaveArea, reason, ref budget);
        if (_uqActive && (_ctx.Flags & ContextFlags.Faulted) != 0)
        {
            // Load leaves a context still marked Faulted unbound (no ring pointers) until the driver clears the bit; a
            // user queue is never run in that state — only it stops (seed 003), as for any other bad execution context.
            SwitchTo(0, SwitchReason.Faulted, ref budget);
            _userQueues!.FaultQueue(q.Doorbell, QueueFaultReason.ContextFault, q.SaveArea);
            return false;
        }
        return _uqActive;
    }

    /// <summary>Maps a context fault of a user queue to the scheduling core's fault reason.</summary>
    private static QueueFaultReason QueueReasonFor(FaultReason reason) =>
        reason == FaultReason.MalformedPacket ? QueueFaultReason.MalformedPacket : QueueFaultReason.ContextFault;
}
