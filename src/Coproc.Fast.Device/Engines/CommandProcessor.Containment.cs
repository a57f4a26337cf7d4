using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Device.Engines;

// Design: two questions the device answers for its host without the host reaching into engine objects
// (native-layout.md §6.1). (1) Does this engine hold work — a context it would run if stepped? The threaded device loop
// steps while any engine does (WORK_PENDING). "Held" means every context the engine may switch to by itself: the
// loaded one, a kernel context set aside for user queues, NEXT_CONTEXT, the current run list, a pending run list. A
// loop that looked at the loaded context only parked while a set-aside kernel context had ring work, which stopped the
// device clock. (2) What if engine code meets a state it has no rule for? The structural rules keep that from
// happening (e.g. the ring-binding invariant in CommandProcessor.cs); as defence in depth, Coprocessor.Step catches
// what escapes an engine and calls ContainInternalError, which turns it into a documented fault record and an ERROR
// interrupt (§10.3 "Device internal error") instead of an exception into the host.
internal sealed unsafe partial class CommandProcessor
{
    /// <summary>ERROR interrupt data0 that marks a device internal error (native-layout.md §9, §10.3).</summary>
    public const ulong InternalErrorMarker = ulong.MaxValue;

    /// <summary>Test seam: when set, the next <see cref="Run"/> throws it (to test the containment guard of Step).</summary>
    internal Exception? InjectedFailureForTests;

    /// <summary>Device internal errors contained on this engine (each abandoned one context).</summary>
    public long InternalErrors { get; private set; }

    /// <summary>
    /// True when the engine holds a context it would run if stepped: the loaded one can make progress (runnable and not
    /// empty — a context stopped on a wait counts, its wait is retried every step — or empty with WritePtr moved), a
    /// kernel context it set aside for user queues has work, NEXT_CONTEXT or an entry of the current run list has work,
    /// or a pending run list waits to be taken. User queues are reported by the scheduling core (SC_RUNNABLE).
    /// Reads memory only (save areas, ring descriptors); changes nothing.
    /// </summary>
    public bool HoldsWork
    {
        get
        {
            if (_ctxAddress != 0 && (_ctx.Flags & ContextFlags.Faulted) == 0)
            {
                if ((_ctx.Flags & ContextFlags.Empty) == 0) return true;
                if (_ringWritePtr != null && Volatile.Read(ref *_ringWritePtr) != _ctx.RingPosition) return true;
            }
            if (RunList.PendingCount != 0) return true;
            if (_kernelResume != 0 && _kernelResume != _ctxAddress && HasWork(_kernelResume)) return true;
            if (_next != 0 && _next != _ctxAddress && HasWork(_next)) return true;
            for (int i = 0; i < RunList.CurrentCount; i++)
            {
                ulong sa = RunList.Current[i];
                if (sa != _ctxAddress && HasWork(sa)) return true;
            }
            return false;
        }
    }

    /// <summary>
    /// Last-resort containment (called by <see cref="Core.Coprocessor.Step"/> when engine code threw): the loaded context
    /// is abandoned — its save area in memory gets Faulted and a fault record with reason DeviceInternalError (the
    /// engine's private copy is not written back: it may be what was inconsistent) — the engine forgets NEXT_CONTEXT, a
    /// deferred request and a set-aside kernel context and goes idle, a user queue's doorbell is faulted, and an ERROR
    /// interrupt is raised with data0 = <see cref="InternalErrorMarker"/> and data1 = the abandoned save area.
    /// </summary>
    internal void ContainInternalError(ulong cycle)
    {
        ulong sa = _ctxAddress;
        uint id = _ctx.ContextId;
        bool wasQueue = _uqActive || _uqLoading;
        var queue = _uq;
        InternalErrors++;
        var record = new FaultRecord { Reason = FaultReason.DeviceInternalError, Opcode = 0xFF, Engine = (byte)Kind };
        LastFault = record;
        LastFaultContext = id;
        if (sa != 0 && PhysicalAddress.TryDecode(sa, out var pa) && (!wasQueue || LoadedQueueOwnsItsMemory()))
        {
            var p = (ContextSaveArea*)_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes);
            if (p != null)
            {
                p->Fault = record;
                p->Flags = (p->Flags | ContextFlags.Faulted) & ~ContextFlags.Waiting;
                p->LastSwitchReason = SwitchReason.Faulted;
                _memory.NoteWritten(p, (ulong)sizeof(ContextSaveArea));
            }
        }
        _ctxAddress = 0;
        _ctx = default;
        _ring = null;
        _ringReadPtr = _ringWritePtr = null;
        _next = _deferred = _kernelResume = 0;
        _hasDeferred = _uqActive = _uqLoading = _driverSwitch = false;
        _carry = _mark = _budgetReserve = 0;
        RunList.RunningIndex = -1;
        SwitchCount++;
        LastSwitchReason = SwitchReason.Faulted;
        if (wasQueue && _userQueues is not null) _userQueues.FaultQueue(queue.Doorbell, QueueFaultReason.ContextFault, sa);
        _interrupts.Raise(new InterruptInfo(InterruptSource.Error, (byte)Kind, id, InternalErrorMarker, sa, cycle));
    }

    /// <summary>
    /// Device reset (native-layout.md §20.3): the engine drops whatever it holds without saving it (a reset does not write
    /// memory), forgets NEXT_CONTEXT, deferred requests, set-aside contexts, run lists and counters, and empties its TLB.
    /// </summary>
    internal void Reset()
    {
        _ctxAddress = 0;
        _ctx = default;
        _ring = null;
        _ringReadPtr = _ringWritePtr = null;
        _ringSize = 0;
        _ringPrivileged = false;
        _next = _deferred = _kernelResume = 0;
        _hasDeferred = _uqActive = _uqLoading = _driverSwitch = false;
        _uq = default;
        _uqSliceLeft = 0;
        _uqOutgoingOwnsMemory = true;
        ClearYielded();
        _carry = _mark = _budgetReserve = 0;
        _stepEnd = 0;
        _visited = 0;
        _emptyNew = false;
        PacketsExecuted = BusyCycles = SwitchCount = 0;
        LastSwitchReason = SwitchReason.None;
        LastFault = default;
        LastFaultContext = 0;
        RejectedRequest = 0;
        InternalErrors = 0;
        RunList.Reset();
        _tlb.InvalidateAll();
    }
}
