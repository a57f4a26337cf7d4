using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Device.Engines;

// Design: hardware run lists (seed 001 §6; native-layout.md §10.5). This code runs only at switch points — the top of
// Run (a packet boundary), an ENABLE_CONTEXT_SWITCH, or a context that went empty, yielded or faulted — so the packet
// hot path is unchanged. The engine walks its current list without CPU help: from the running entry onwards
// (wrapping), it switches to the first entry that has work, peeking each candidate's save area and ring descriptor
// in memory (not Faulted; in a DMA buffer, waiting, or WritePtr ≠ its saved ring position) — so empty entries are
// skipped without paying a switch. Entries that went empty or yielded during the current Run are not retried in the
// same Run (_visited), which bounds the work per step; an engine that finds nothing idles and re-polls its list once
// per Run (one Step slice), deterministically.
internal sealed unsafe partial class CommandProcessor
{
    private readonly RunListControl _control;
    private uint _visited;   // run-list entries that went empty or yielded during this Run
    private bool _emptyNew;  // the last ReportEmpty found the context newly empty

    /// <summary>This engine's hardware run list (current and pending).</summary>
    public HardwareRunList RunList { get; }

    /// <summary>True while a pending run list waits for the current context's ENABLE_CONTEXT_SWITCH (behaviour 28).</summary>
    public bool RunListDeferred => RunList.PendingCount != 0 && !CanTakePendingRunList;

    private bool CanTakePendingRunList =>
        _ctxAddress == 0 || (_ctx.Flags & (ContextFlags.ContextSwitchDisabled | ContextFlags.Faulted)) != ContextFlags.ContextSwitchDisabled;

    /// <summary>RL_SUBMIT: makes the staged list pending; the engine switches to it at its next switch point.</summary>
    public RunListSubmitStatus SubmitRunList() => RunList.Submit();

    /// <summary>
    /// The pending list becomes current and the engine switches to its head (its first entry not marked Faulted; seed
    /// 001 §6.2), raising the confirming
    /// CONTEXT_SWITCH interrupt with reason NewRunList — also when the head is the running context (X→X, §6.4 need 2).
    /// </summary>
    private void TakePendingRunList(ref long budget)
    {
        RunList.Promote();
        _visited = 0;
        _kernelResume = 0; // the new list is the kernel's whole word on this engine
        // The head, unless it is still faulted (the driver has not cleared it): then the first entry that is not, so the
        // engine never loads a context only to leave it at once; none → idle.
        ulong head = 0;
        for (int i = 0; i < RunList.CurrentCount && head == 0; i++)
        {
            ulong sa = RunList.Current[i];
            if (sa == _ctxAddress ? (_ctx.Flags & ContextFlags.Faulted) == 0 : !IsFaulted(sa)) head = sa;
        }
        if (_ctxAddress == head && head != 0 && !_uqActive)
        {
            RunList.RunningIndex = RunList.IndexOf(head);
            SwitchCount++;
            LastSwitchReason = SwitchReason.NewRunList;
            ReportSwitch(head, _ctx.ContextId, head, _ctx.ContextId, SwitchReason.NewRunList, 0, Now(budget));
            return;
        }
        SwitchTo(head, SwitchReason.NewRunList, ref budget);
    }

    /// <summary>Interrupt (and, in history mode, a history record written before it) for one switch.</summary>
    private void ReportSwitch(ulong from, uint fromId, ulong to, uint toId, SwitchReason reason, ulong faultAddress, ulong cycle)
    {
        if (_control.Recording)
        {
            var record = new HistoryRecord
            {
                FromSaveArea = from, ToSaveArea = to, FromContextId = fromId, ToContextId = toId, Reason = reason,
                Engine = (byte)Kind, ToIndex = RunList.RunningIndex < 0 ? HistoryRecord.NoIndex : (byte)RunList.RunningIndex,
                ListSerial = RunList.CurrentSerial, Cycle = cycle, FaultAddress = faultAddress,
            };
            _control.History.Append(ref record);
        }
        _interrupts.Raise(new InterruptInfo(InterruptSource.ContextSwitch, (byte)Kind, fromId, (ulong)reason, to, cycle));
    }

    /// <summary>Index of the next current-list entry with work after the running one (wrapping), -1 when none.</summary>
    private int FindRunListCandidate()
    {
        int n = RunList.CurrentCount;
        if (n == 0) return -1;
        int start = RunList.RunningIndex < 0 ? n - 1 : RunList.RunningIndex;
        for (int k = 1; k <= n; k++)
        {
            int i = (start + k) % n;
            ulong sa = RunList.Current[i];
            if ((_visited & (1u << i)) != 0 || sa == _ctxAddress) continue;
            if (HasWork(sa)) return i;
        }
        return -1;
    }

    /// <summary>Marks the running entry as visited for this Run (it went empty or yielded).</summary>
    private void MarkVisited()
    {
        if (RunList.RunningIndex >= 0) _visited |= 1u << RunList.RunningIndex;
    }

    /// <summary>
    /// Peeks a saved (not loaded) context: false when faulted (skipped until the driver clears Faulted, behaviour 15) or
    /// when its ring is empty; true when it is inside a DMA buffer, stopped on a wait (the wait may now be satisfied),
    /// or WritePtr moved past its saved position. A save area or ring the engine cannot read counts as work: loading it
    /// faults the context, which is how the CPU hears about it (seed 001 §5.6 condition 1).
    /// </summary>
    private bool HasWork(ulong saveArea)
    {
        if (!PhysicalAddress.TryDecode(saveArea, out var pa)) return false;
        var sa = (ContextSaveArea*)_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes);
        if (sa == null) return false;
        var flags = sa->Flags;
        if ((flags & ContextFlags.Faulted) != 0) return false;
        if ((flags & (ContextFlags.InIndirect | ContextFlags.Waiting)) != 0) return true;
        if (!PhysicalAddress.TryDecode(sa->RingDescriptor, out var dpa)) return true;
        var d = (RingDescriptor*)_memory.TryPointer(dpa.Location, dpa.Offset, RingDescriptor.SizeInBytes);
        if (d == null) return true;
        return Volatile.Read(ref d->WritePtr) != sa->RingPosition;
    }

    private bool IsFaulted(ulong saveArea)
    {
        if (!PhysicalAddress.TryDecode(saveArea, out var pa)) return false;
        var sa = (ContextSaveArea*)_memory.TryPointer(pa.Location, pa.Offset, ContextSaveArea.SizeInBytes);
        return sa != null && (sa->Flags & ContextFlags.Faulted) != 0;
    }

    /// <summary>The switch reason recorded for a fault (seed 001 §6.1: page fault, protection fault; §5.6: invalid command).</summary>
    private static SwitchReason ReasonFor(FaultReason reason, ushort detail) => reason switch
    {
        FaultReason.MemoryFault when detail == (ushort)Mmu.TranslationStatus.InvalidAddress => SwitchReason.PageFault,
        FaultReason.MemoryFault or FaultReason.PrivilegedPacketInLimitedBuffer or FaultReason.PhysicalAddressInLimitedBuffer => SwitchReason.ProtectionFault,
        FaultReason.PhysicalOutOfRange or FaultReason.InvalidRing or FaultReason.RingPointersInvalid => SwitchReason.Faulted,
        _ => SwitchReason.InvalidCommand,
    };
}
