using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Design: the register layer under the scheduler's run-list logic (seed 001 §6.2). It mirrors the device's two lists:
// Current — what the scheduler may assume the engine is running — and Pending — submitted, not yet confirmed. A new
// list is submitted only when none is pending (behaviour 21): TrySubmit answers PendingBusy without touching the
// device. Confirmation comes from the device: the CONTEXT_SWITCH interrupt with reason NewRunList, after which RL_SERIAL
// shows the pending serial as current; OnInterrupt / Refresh promote Pending to Current then. In two-element mode
// every list is checked against the current one with rules 1 and 2 (behaviour 22) before it reaches the device. The
// array the device reads lives in kernel memory given at construction; the device latches it at RL_SUBMIT, so it is
// reused for every submission.
/// <summary>
/// Submits hardware run lists for one engine through the device bus (RL_BASE, RL_COUNT, RL_SUBMIT) and tracks the current and
/// pending lists (native-layout.md §10.5). Not thread-safe: the scheduler calls it under its own lock.
/// </summary>
public sealed class RunListSubmitter
{
    private readonly IDeviceBus _bus;
    private readonly DeviceMemory _memory;
    private readonly PhysicalAddress _array;
    private readonly uint _regs;
    private readonly ulong[] _current = new ulong[RunListRegisters.MaxEntriesValue];
    private readonly ulong[] _pending = new ulong[RunListRegisters.MaxEntriesValue];
    private int _currentCount, _pendingCount;
    private long _accepted;

    /// <summary>
    /// Creates the submitter of <paramref name="engine"/>'s run lists; <paramref name="listArray"/> is kernel memory for
    /// <see cref="RunListRegisters.MaxEntriesValue"/> 64-bit entries (8-byte aligned), reused for every submission.
    /// </summary>
    public RunListSubmitter(IDeviceBus bus, EngineKind engine, PhysicalAddress listArray)
    {
        _bus = bus ?? throw new ArgumentNullException(nameof(bus));
        var memory = _memory = bus.Memory;
        if ((listArray.Offset & 7) != 0 || !memory.Contains(listArray, RunListRegisters.MaxEntriesValue * 8UL))
            throw new ArgumentException($"run-list array {listArray} must be 8-byte aligned with room for {RunListRegisters.MaxEntriesValue} entries", nameof(listArray));
        Engine = engine;
        _array = listArray;
        _regs = MmioMap.RunListBase + RunListRegisters.EngineBase + (uint)engine * RunListRegisters.EngineStride;
    }

    /// <summary>The engine.</summary>
    public EngineKind Engine { get; }

    /// <summary>The device's run-list mode (RL_MODE).</summary>
    public RunListMode Mode => (RunListMode)_bus.ReadRegister32(MmioMap.RunListBase + RunListRegisters.Mode);

    /// <summary>The current run list: what the scheduler may assume the engine runs.</summary>
    public ReadOnlySpan<ulong> Current => _current.AsSpan(0, _currentCount);

    /// <summary>The pending run list (empty when none is outstanding).</summary>
    public ReadOnlySpan<ulong> Pending => _pendingCount == 0 ? default : _pending.AsSpan(0, _pendingCount);

    /// <summary>True while a submitted list awaits its confirmation.</summary>
    public bool HasPending => _pendingCount != 0;

    /// <summary>Device serial of the current list (0 = none).</summary>
    public uint CurrentSerial { get; private set; }

    /// <summary>Device serial of the pending list (0 = none).</summary>
    public uint PendingSerial { get; private set; }

    /// <summary>Submissions refused because one was pending (behaviour 21).</summary>
    public long RefusedWhilePending { get; private set; }

    /// <summary>Save area of the context the engine runs now (CURRENT_CONTEXT; seed 001 §6.4 need 3), 0 when idle.</summary>
    public ulong RunningContext => _bus.ReadRegister(EngineRegisters.At(Engine, EngineRegisters.CurrentContext));

    /// <summary>Index of the running entry in the device's current list, -1 when none (RL_STATE bits 0..7).</summary>
    public int RunningIndex
    {
        get
        {
            uint s = _bus.ReadRegister32(_regs + RunListRegisters.State) & RunListState.RunningIndexMask;
            return s == RunListState.RunningIndexMask ? -1 : (int)s;
        }
    }

    /// <summary>
    /// Submits <paramref name="saveAreas"/> as the pending list. Returns <see cref="RunListSubmitStatus.PendingBusy"/>
    /// (nothing sent) while a list is pending, otherwise the device's verdict; on Ok the list becomes <see cref="Pending"/>.
    /// </summary>
    /// <exception cref="RunListRuleViolationException">Two-element mode and the list breaks rule 1 or 2 (nothing sent).</exception>
    public RunListSubmitStatus TrySubmit(ReadOnlySpan<ulong> saveAreas)
    {
        if (_pendingCount != 0)
        {
            RefusedWhilePending++;
            return RunListSubmitStatus.PendingBusy; // seed 001 §6.2: only when no pending list is outstanding
        }
        bool twoElement = Mode == RunListMode.TwoElement;
        if (twoElement) TwoElementRunListRules.Validate(Current, saveAreas);
        if (saveAreas.Length is < 1 or > RunListRegisters.MaxEntriesValue) return RunListSubmitStatus.BadCount;
        saveAreas.CopyTo(MemoryMarshal.Cast<byte, ulong>(_memory.GetSpan(_array, saveAreas.Length * 8)));
        _bus.WriteRegister(_regs + RunListRegisters.ListBase, _array.Encoded);
        _bus.WriteRegister32(_regs + RunListRegisters.ListCount, (uint)saveAreas.Length);
        _bus.WriteRegister32(_regs + RunListRegisters.Submit, 1);
        var status = (RunListSubmitStatus)_bus.ReadRegister32(_regs + RunListRegisters.Submit);
        if (status != RunListSubmitStatus.Ok) return status;
        saveAreas.CopyTo(_pending);
        _pendingCount = saveAreas.Length;
        // Two-element mode needs no serial from the device (seed 001 §6.4: the decision table tells which list runs):
        // the driver numbers its accepted lists itself, as the device does (from 1).
        _accepted++;
        PendingSerial = twoElement ? (uint)_accepted : _bus.ReadRegister32(_regs + RunListRegisters.Serial) >> 16;
        return status;
    }

    /// <summary>Like <see cref="TrySubmit"/> but throws <see cref="RunListSubmitException"/> on any refusal.</summary>
    public void Submit(ReadOnlySpan<ulong> saveAreas)
    {
        var status = TrySubmit(saveAreas);
        if (status != RunListSubmitStatus.Ok) throw new RunListSubmitException(Engine, status);
    }

    /// <summary>
    /// Handles an interrupt-queue entry: a CONTEXT_SWITCH of this engine with reason NewRunList confirms the pending list.
    /// Returns true when the pending list became current.
    /// </summary>
    public bool OnInterrupt(in InterruptRecord info) =>
        info.Source == InterruptRecord.ContextSwitch && info.Engine == (byte)Engine && info.Data0 == (ulong)SwitchReason.NewRunList && Refresh();

    /// <summary>
    /// Makes the pending list current without asking the device (seed 001 §6.4: in two-element mode the driver concludes
    /// it from a context-switch interrupt and the running context, <see cref="TwoElementRunListRules.Resolve"/>).
    /// Returns false when no list was pending.
    /// </summary>
    public bool AdoptPending()
    {
        if (_pendingCount == 0) return false;
        Array.Copy(_pending, _current, _pendingCount);
        _currentCount = _pendingCount;
        CurrentSerial = PendingSerial;
        _pendingCount = 0;
        PendingSerial = 0;
        return true;
    }

    /// <summary>True while the device still holds a pending list of this engine (RL_STATE bit 8).</summary>
    public bool DeviceHoldsPending => (_bus.ReadRegister32(_regs + RunListRegisters.State) & RunListState.PendingBit) != 0;

    /// <summary>
    /// Reads RL_SERIAL: when the device runs the pending list (its serial is current), pending becomes current and is
    /// cleared (seed 001 §6.2 step 2). Returns true when that happened now.
    /// </summary>
    public bool Refresh()
    {
        if (_pendingCount == 0) return false;
        uint current = _bus.ReadRegister32(_regs + RunListRegisters.Serial) & 0xFFFF;
        return current == (PendingSerial & 0xFFFF) && AdoptPending();
    }
}
