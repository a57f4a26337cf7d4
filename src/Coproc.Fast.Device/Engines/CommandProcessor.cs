using Coproc.Fast.Device.Engines.Work;
using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Display;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Device.Engines;

/// <summary>
/// One engine's command processor (native-layout.md §10): it runs one context at a time — fetching packets from
/// the context's ring (by physical address), following INDIRECT into DMA buffers (by GPU VA in the context's
/// address space), executing packets on real memory for a cycle budget — and saves/restores contexts to their
/// save areas on request (seed 001 §4.1).
/// </summary>
/// <remarks>
/// Design: while a context runs, the engine works on a private copy of its <see cref="ContextSaveArea"/>; every
/// piece of progress (ring position, DMA-buffer offset, mid-packet <see cref="Work.WorkState"/>) lives
/// in that copy, so a save is one 256-byte store and a restore one load — exact by construction. Execution is
/// in order and completes each memory write before the next packet starts, which is why a FENCE's value is
/// visible only after all earlier writes are (seed 001 §8.1) and a TRAP fires only after earlier work retired
/// (§8.2). The engine stops only at packet or unit boundaries, so <see cref="Run"/> returning is always a
/// point where a context switch is exact.
/// </remarks>
internal sealed unsafe partial class CommandProcessor
{
    private readonly DeviceMemory _memory;
    private readonly GpuMmu _mmu;
    private readonly Tlb _tlb;
    private readonly EngineTlbs _allTlbs;
    private readonly InterruptController _interrupts;
    private readonly DisplayController _display;
    private readonly MmioRegisterFile _mmio;
    private readonly PacketCosts _costs;
    private readonly WorkCosts _workCosts;
    private readonly uint[] _staging = new uint[ushort.MaxValue];

    private ContextSaveArea _ctx;
    private ulong _ctxAddress;          // encoded physical address of the loaded save area; 0 = none
    private GpuVirtualMemory _vmLimited, _vmPrivileged;
    private byte* _ring;
    private ulong _ringSize;
    // Invariant: _ring, _ringWritePtr and _ringReadPtr are non-null exactly while a context whose ring TryBindRing accepted
    // is loaded. Load leaves them null for a context still marked Faulted (never fetched from) and Save clears them; so a
    // loaded context that is not Faulted always has a bound ring, and every ReadPtr write-back goes through
    // PublishReadPtr, which is a no-op when nothing is bound.
    private ulong* _ringWritePtr, _ringReadPtr;
    private bool _ringPrivileged;       // false for a user queue's ring (descriptor Flags bit 0): it executes as a limited buffer
    private ulong _next, _deferred;
    private bool _hasDeferred;
    private long _carry;                // cycles overspent in earlier steps (≤ 0)
    private ulong _stepEnd;             // device cycle at the end of the current step
    private long _mark;                 // budget at the last cycle accounting point
    private long _budgetReserve;
    private bool _driverSwitch;         // the switch in progress was requested by the driver (CONTEXT_SWITCH): always reported        // budget set aside while a user queue runs its time slice (0 otherwise)

    internal CommandProcessor(EngineKind kind, DeviceMemory memory, GpuMmu mmu, EngineTlbs tlbs, InterruptController interrupts,
        DisplayController display, MmioRegisterFile mmio, in PacketCosts costs, in WorkCosts workCosts, RunListControl runLists)
    {
        _control = runLists;
        RunList = new HardwareRunList(memory, runLists);
        Kind = kind;
        _memory = memory;
        _mmu = mmu;
        _allTlbs = tlbs;
        _tlb = tlbs[kind];
        _interrupts = interrupts;
        _display = display;
        _mmio = mmio;
        _costs = costs;
        _workCosts = workCosts;
    }

    /// <summary>Which engine this is.</summary>
    public EngineKind Kind { get; }

    /// <summary>Encoded physical address of the current context's save area, 0 when idle.</summary>
    public ulong CurrentContext => _ctxAddress;

    /// <summary>
    /// The context to switch to when the current one yields, runs empty or faults (0 = none). A save-area address the
    /// engine cannot load is rejected as for CONTEXT_SWITCH (REJECTED_REQUEST, ERROR interrupt) and NEXT is left unchanged:
    /// the engine would otherwise switch to it later and read a save area outside memory.
    /// </summary>
    public ulong NextContext
    {
        get => _next;
        set
        {
            if (value != 0 && !IsValidSaveArea(value))
            {
                RejectedRequest = value;
                _interrupts.Raise(new InterruptInfo(InterruptSource.Error, (byte)Kind, _ctx.ContextId, value, 0, _stepEnd));
                return;
            }
            _next = value;
        }
    }

    /// <summary>The target of a CONTEXT_SWITCH request deferred by a disable-context-switch region (valid with <see cref="HasDeferredSwitch"/>).</summary>
    public ulong DeferredContext => _deferred;

    /// <summary>True while a CONTEXT_SWITCH request waits for switching to be re-enabled.</summary>
    public bool HasDeferredSwitch => _hasDeferred;

    /// <summary>The running copy of the current context's save area.</summary>
    public ref readonly ContextSaveArea Context => ref _ctx;

    /// <summary>Packets completed by this engine.</summary>
    public long PacketsExecuted { get; private set; }

    /// <summary>Cycles this engine spent running contexts.</summary>
    public long BusyCycles { get; private set; }

    /// <summary>Context switches performed.</summary>
    public long SwitchCount { get; private set; }

    /// <summary>Why the engine last switched away from a context.</summary>
    public SwitchReason LastSwitchReason { get; private set; }

    /// <summary>The last fault any context raised on this engine.</summary>
    public FaultRecord LastFault { get; private set; }

    /// <summary>Context id of <see cref="LastFault"/>.</summary>
    public uint LastFaultContext { get; private set; }

    /// <summary>Last rejected CONTEXT_SWITCH request (bad save-area address), 0 = none.</summary>
    public ulong RejectedRequest { get; private set; }

    /// <summary>True when a context is loaded and can make progress (not faulted, empty or stalled on a wait).</summary>
    public bool IsRunnable => _ctxAddress != 0 && (_ctx.Flags & (ContextFlags.Faulted | ContextFlags.Empty)) == 0;

    /// <summary>
    /// CONTEXT_SWITCH: save the current context and load the one whose save area is at
    /// <paramref name="saveArea"/> (0 = go idle). Inside a disable-context-switch region the request is recorded
    /// and performed when switching is re-enabled (seed 001 §8.3). Returns false for a bad save-area address
    /// (not local, not 256-byte aligned, outside memory), which raises an Error interrupt and changes nothing.
    /// </summary>
    public bool RequestSwitch(ulong saveArea)
    {
        if (saveArea != 0 && !IsValidSaveArea(saveArea))
        {
            RejectedRequest = saveArea;
            _interrupts.Raise(new InterruptInfo(InterruptSource.Error, (byte)Kind, _ctx.ContextId, saveArea, 0, _stepEnd));
            return false;
        }
        if (_ctxAddress != 0 && (_ctx.Flags & ContextFlags.ContextSwitchDisabled) != 0 && (_ctx.Flags & ContextFlags.Faulted) == 0)
        {
            _deferred = saveArea;
            _hasDeferred = true;
            return true;
        }
        // Between steps: the switch cost becomes debt for the next step; _mark keeps it unaccounted until then,
        // so it is charged to the incoming context.
        long budget = _carry;
        LeaveRunListMode();
        _driverSwitch = true;
        SwitchTo(saveArea, SwitchReason.Requested, ref budget);
        _driverSwitch = false;
        _carry = budget;
        return true;
    }

    private bool IsValidSaveArea(ulong encoded) => RunList.IsValidSaveArea(encoded);

    // A CONTEXT_SWITCH request is the driver taking the engine by hand: the current run list and a kernel context
    // displaced by user queues are forgotten (a pending list is kept and taken at the next switch point).
    private void LeaveRunListMode()
    {
        RunList.ClearCurrent();
        _kernelResume = 0;
    }

    /// <summary>
    /// Runs the engine for one step of <paramref name="cycles"/> ending at device cycle <paramref name="stepEnd"/>.
    /// Overspent cycles (a packet's cost is charged whole) are carried into the next step, so the long-run cycle
    /// count is exact and independent of how the time is sliced.
    /// </summary>
    public void Run(long cycles, ulong stepEnd)
    {
        if (InjectedFailureForTests is { } injected)
        {
            InjectedFailureForTests = null;
            throw injected;
        }
        _stepEnd = stepEnd;
        if (IsIdleForRun())
        {
            // Nothing loaded, no kernel run list, no displaced kernel context, no user queue for this engine: the loop
            // below would call Schedule once, find nothing and account nothing (no context is loaded), ending with the
            // same _mark, _carry and _visited as set here. A Step runs every engine, so an idle engine is a few loads
            // (docs/performance.md goals 1 and 6).
            _visited = 0;
            _carry = 0;
            _mark = 0;
            return;
        }
        long budget = cycles + _carry;
        _mark = budget + (_mark - _carry); // cycles charged between steps (switch costs) are not yet accounted
        _visited = 0;
        if (_uqAnyYielded) ClearYielded(); // usually nothing yielded: skip the clear (an idle Run should cost a few ns)
        // seed 001 §6.2: a pending run list is taken at the first switch point (deferred inside a
        // disable-context-switch region until ENABLE, behaviour 28).
        if (RunList.PendingCount != 0 && CanTakePendingRunList) TakePendingRunList(ref budget);
        while (budget > 0)
        {
            if (_ctxAddress == 0 || _uqActive || (_ctx.Flags & ContextFlags.Faulted) != 0)
            {
                if (!Schedule(ref budget)) break;
                continue;
            }
            // One arbitration (CommandProcessor.Arbitration.cs): a user queue that outranks the loaded kernel context
            // takes the engine at this packet boundary.
            if ((_ctx.SchedulingPriority & ContextSaveArea.PriorityValid) != 0 && UserQueueOutranksLoaded(budget)
                && PreemptForUserQueue(ref budget))
                continue;
            RunStatus s = (_ctx.Flags & ContextFlags.InIndirect) != 0 ? RunDmaBuffer(ref budget) : RunRing(ref budget);
            if (s == RunStatus.Continue) continue;
            if (s == RunStatus.Empty)
            {
                if (!OnEmpty(ref budget)) break; // stay loaded: a later write-pointer update resumes the context
                continue;
            }
            if (s == RunStatus.Yield)
            {
                if (!OnYield(ref budget)) { budget = 0; break; } // nothing else to run: stall on the wait until the next step
                continue;
            }
            if (s == RunStatus.Stall) { budget = 0; break; }
            // Faulted or out of budget: loop condition decides.
        }
        Account(budget);
        _carry = _ctxAddress != 0 && budget < 0 ? budget : 0;
        _mark = _carry;
    }

    /// <summary>
    /// True when <see cref="Run"/> has nothing to do and nothing to account: no context loaded, no pending or current
    /// kernel run list, no displaced kernel context, and this engine's user-queue run list is empty.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsIdleForRun() =>
        _ctxAddress == 0 && !_uqActive && _kernelResume == 0 && !_uqAnyYielded
        && RunList.PendingCount == 0 && RunList.CurrentCount == 0
        && (_userQueues is null || _uqRunList is { IsEmpty: true });

    /// <summary>
    /// Picks work when nothing runnable is loaded (idle, a faulted context, or a user queue between slices): the kernel
    /// side's candidate — NEXT_CONTEXT when a user queue is loaded, the next current-run-list entry with work, then a
    /// kernel context displaced by user queues — against the scheduling core's user queues, by priority on one scale
    /// (CommandProcessor.Arbitration.cs). False when there is nothing: the engine idles until the next Run.
    /// </summary>
    private bool Schedule(ref long budget)
    {
        // The kernel side's candidate, in its own order: NEXT_CONTEXT while a user queue is loaded (OnEmpty/OnYield run
        // only for kernel contexts, so nothing else would take it), the next current-run-list entry with work, a kernel
        // context set aside for user queues. It competes with the queues by priority (CommandProcessor.Arbitration.cs).
        int idx = -1;
        ulong candidate = _uqActive && _next != 0 ? _next
            : (idx = FindRunListCandidate()) >= 0 ? RunList.Current[idx]
            : _kernelResume != 0 && _kernelResume != _ctxAddress && HasWork(_kernelResume) ? _kernelResume
            : 0;
        if (candidate == 0) return RunUserQueue(ref budget);
        if (!KernelFirst(candidate))
        {
            if (candidate == _kernelResume && idx < 0 && !(_uqActive && _next != 0)) ReportKeptOff(budget);
            return RunUserQueue(ref budget);
        }
        if (_uqActive && _next != 0)
        {
            ulong n = _next;
            _next = 0;
            _kernelResume = 0; // reported: the driver now knows the set-aside context is off the engine
            SwitchTo(n, SwitchReason.Requested, ref budget);
            return true;
        }
        if (idx >= 0)
        {
            var reason = _ctxAddress == 0 ? SwitchReason.Empty
                : _uqActive ? SwitchReason.Requested
                : (_ctx.Flags & ContextFlags.Faulted) != 0 ? SwitchReason.Faulted : SwitchReason.Empty;
            SwitchTo(RunList.Current[idx], reason, ref budget);
            return true;
        }
        ulong k = _kernelResume;
        _kernelResume = 0;
        _uqResumingAside = _uqActive;
        SwitchTo(k, SwitchReason.Requested, ref budget);
        _kernelAsideReported = false;
        return true;
    }

    /// <summary>The loaded kernel context ran empty: NEXT_CONTEXT, else the next run-list entry, else user queues.</summary>
    private bool OnEmpty(ref long budget)
    {
        if (_next != 0)
        {
            ulong n = _next;
            _next = 0;
            SwitchTo(n, SwitchReason.Empty, ref budget);
            return true;
        }
        MarkVisited();
        int idx = FindRunListCandidate();
        if (idx >= 0)
        {
            SwitchTo(RunList.Current[idx], SwitchReason.Empty, ref budget); // behaviour 20: no CPU step
            return true;
        }
        if (RunUserQueue(ref budget)) return true;
        // Nothing else to run: report the empty context once (seed 001 §5.6, after the tail re-read).
        if (_emptyNew && _ctxAddress != 0 && !_uqActive)
        {
            _emptyNew = false;
            _interrupts.Raise(new InterruptInfo(InterruptSource.ContextSwitch, (byte)Kind, _ctx.ContextId, (ulong)SwitchReason.Empty, 0, _stepEnd));
        }
        return false;
    }

    /// <summary>The loaded kernel context yielded on an unsatisfied wait (seed 001 §8.4).</summary>
    private bool OnYield(ref long budget)
    {
        if ((_ctx.Flags & ContextFlags.ContextSwitchDisabled) != 0) return false;
        if (_next != 0)
        {
            // The waiting context goes to the back of the (two-entry) NEXT_CONTEXT list and re-executes the wait later.
            ulong n = _next;
            _next = _ctxAddress;
            SwitchTo(n, SwitchReason.Yielded, ref budget);
            return true;
        }
        MarkVisited();
        int idx = FindRunListCandidate();
        if (idx >= 0)
        {
            SwitchTo(RunList.Current[idx], SwitchReason.Yielded, ref budget);
            return true;
        }
        return RunUserQueue(ref budget);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Account(long budget)
    {
        long used = _mark - budget;
        _mark = budget;
        if (_ctxAddress != 0 && used > 0)
        {
            _ctx.CyclesRun += (ulong)used;
            BusyCycles += used;
        }
    }

    private void SwitchTo(ulong saveArea, SwitchReason reason, ref long budget)
    {
        uint oldId = _ctx.ContextId;
        ulong old = _ctxAddress;
        ulong faultAddress = SwitchReasons.IsFault(reason) ? _ctx.Fault.Address : 0;
        // Quiet (native-layout.md §9, §13.7): a switch into a user queue or from one to idle, and the set-aside kernel
        // context coming back — from the driver's side that context never left. Any other switch from a user queue to kernel work
        // (NEXT_CONTEXT, a run-list entry) is reported: it changes which kernel context holds the engine, the driver's
        // only picture of that is these reports, and a quiet one left it charging the incoming context's engine time
        // (a hung WAIT included) to the set-aside one, which the engine meanwhile dropped (Schedule).
        // A kernel context preempted for a queue, and its return, are reported (invariant A1, CommandProcessor.Arbitration.cs).
        bool reportedAside = _uqResumingAside && _kernelAsideReported;
        bool quiet = (_uqLoading || (_uqActive && (saveArea == 0 || _uqResumingAside))) && reason != SwitchReason.NewRunList && !_driverSwitch
            && reason != SwitchReason.UserQueuePreempted && !reportedAside;
        if (_uqResumingAside) _kernelAsideReported = false;
        _uqResumingAside = false;
        if (_ctxAddress != 0)
        {
            Account(budget);
            Save(reason, leaving: saveArea != old);
        }
        _uqActive = _uqLoading;
        _uqLoading = false;
        SwitchCount++;
        LastSwitchReason = reason;
        RunList.RunningIndex = _uqActive ? -1 : RunList.IndexOf(saveArea);
        // Switches among user queues are the scheduling core's business (no CPU interrupt). The outgoing context is
        // saved before the interrupt (seed 001 §6.4 need 4); in history mode the record precedes it (§6.5).
        if (!quiet) ReportSwitch(old, oldId, saveArea, ContextIdAt(saveArea), reason, faultAddress, Now(budget));
        budget -= _costs.ContextSwitch; // accounted to the incoming context at its next accounting point
        if (saveArea != 0) Load(saveArea, ref budget);
        if (!_uqActive)
        {
            _kernelSliceMark = _ctx.CyclesRun; // a kernel context's turn against equal queues starts here
            _queueTurnsSinceKernel = 0;
        }
    }

    private uint ContextIdAt(ulong saveArea)
    {
        if (saveArea == 0 || !PhysicalAddress.TryDecode(saveArea, out var pa)) return 0;
        var sa = (ContextSaveArea*)_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes);
        return sa == null ? 0 : sa->ContextId;
    }

    private void Save(SwitchReason reason, bool leaving)
    {
        _ctx.LastSwitchReason = reason;
        // native-layout.md §11 +92: left for another (not the X→X switch to a new list whose head it is) with work left —
        // inside a DMA buffer, on a WAIT, or packets short of WritePtr — not on a fault: the one count of preemption the
        // kernel can read for every context, user queues included.
        if (leaving && !SwitchReasons.IsFault(reason) && reason != SwitchReason.Empty
            && ((_ctx.Flags & (ContextFlags.InIndirect | ContextFlags.Waiting)) != 0
                || (_ringWritePtr != null && Volatile.Read(ref *_ringWritePtr) != _ctx.RingPosition)))
            _ctx.Preemptions++;
        // A user queue unregistered while loaded (drained and left loaded, then freed by the kernel) is dropped unsaved:
        // its save area and descriptor may already hold someone else's data.
        if (!_uqActive || (_uqLoading ? _uqOutgoingOwnsMemory : LoadedQueueOwnsItsMemory()))
        {
            PublishReadPtr();
            var pa = PhysicalAddress.Decode(_ctxAddress);
            Unsafe.WriteUnaligned(_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes), _ctx);
            _memory.NoteWritten(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes);
        }
        _ctxAddress = 0;
        _ctx = default;
        _ring = null;
        _ringReadPtr = _ringWritePtr = null;
        _deferred = 0;
        _hasDeferred = false;
        _uqActive = false;
    }

    private void Load(ulong saveArea, ref long budget)
    {
        var pa = PhysicalAddress.Decode(saveArea);
        _ctx = Unsafe.ReadUnaligned<ContextSaveArea>(_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes));
        _ctxAddress = saveArea;
        _ctx.LoadCount++;
        _ctx.Flags &= ~ContextFlags.Empty;
        _vmLimited = new GpuVirtualMemory(_mmu, _memory, _tlb, _ctx.AddressSpace, privileged: false);
        _vmPrivileged = _vmLimited.WithPrivilege(true);
        if ((_ctx.Flags & ContextFlags.Faulted) != 0) return; // stays faulted until the driver clears the bit
        // seed 001 §4.1 step 3 / §5.6 condition 1: verify the ring before running it.
        if (!TryBindRing(out ulong bad)) Fault(FaultReason.InvalidRing, 0, 0xFF, bad, FaultLocation.None, 0, _ctx.RingDescriptor, ref budget);
    }

    private bool TryBindRing(out ulong badAddress)
    {
        badAddress = _ctx.RingDescriptor;
        if (!PhysicalAddress.TryDecode(_ctx.RingDescriptor, out var dpa) || (dpa.Offset & 63) != 0) return false;
        byte* d = _memory.TryPointer(dpa.Location, dpa.Offset, RingDescriptor.SizeInBytes);
        if (d == null) return false;
        ref var desc = ref Unsafe.AsRef<RingDescriptor>(d);
        ulong size = desc.SizeBytes;
        badAddress = desc.Base;
        if (size < 4096 || size > (16u << 20) || (size & (size - 1)) != 0) return false;
        if (!PhysicalAddress.TryDecode(desc.Base, out var rpa) || (rpa.Offset & 0xFFF) != 0) return false;
        byte* r = _memory.TryPointer(rpa.Location, rpa.Offset, size);
        if (r == null) return false;
        _ring = r;
        _ringSize = size;
        _ringWritePtr = (ulong*)(d + RingDescriptor.WritePtrOffset);
        _ringReadPtr = (ulong*)(d + RingDescriptor.ReadPtrOffset);
        // seed 003 queues are process-written: limited. A user queue's descriptor lives in the process's own memory, so its
        // Flags word cannot be trusted to say so: a queue loaded through the scheduling core (_uqActive, set by SwitchTo
        // before Load) is limited whatever the flag says (seed 001 §7).
        _ringPrivileged = !_uqActive && (desc.Flags & RingDescriptor.UserQueueFlag) == 0;
        return true;
    }

    /// <summary>Writes the loaded context's ring position to its ring's ReadPtr (device-owned, §10.2) when a ring is bound.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PublishReadPtr()
    {
        if (_ringReadPtr == null) return;
        Volatile.Write(ref *_ringReadPtr, _ctx.RingPosition);
        _memory.NoteWritten(_ringReadPtr, sizeof(ulong));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Now(long budget) => _stepEnd - (ulong)(budget + _budgetReserve);

    private enum RunStatus : byte { Continue, Empty, Yield, Stall, Faulted, OutOfBudget }
}
