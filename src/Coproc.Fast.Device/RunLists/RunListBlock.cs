using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.RunLists;

/// <summary>
/// The run-list registers at <see cref="MmioMap.RunListBase"/> (native-layout.md §10.5): device-wide mode and history
/// buffer, then per engine the submission staging registers, RL_SUBMIT and the current/pending state.
/// </summary>
internal sealed class RunListBlock(CommandProcessor[] engines, RunListControl control) : IMmioBlock
{
    public uint Base => MmioMap.RunListBase;
    public uint Size => MmioMap.BlockSize;

    public bool TryRead(uint offset, int width, out ulong value)
    {
        value = 0;
        if (offset < RunListRegisters.EngineBase)
        {
            switch (offset)
            {
                case RunListRegisters.Mode: value = (uint)control.Mode; return true;
                case RunListRegisters.MaxEntries: value = HardwareRunList.MaxEntries; return true;
                case RunListRegisters.HistoryBase: value = control.StagedHistoryBase; return true;
                case RunListRegisters.HistorySize: value = control.StagedHistorySize; return true;
                case RunListRegisters.ConfigStatus: value = (uint)control.LastStatus; return true;
                case RunListRegisters.HistoryWritePtr: value = control.History.WritePointer; return true;
                case RunListRegisters.HistoryCapacity: value = (uint)control.History.Capacity; return true;
                default: return false;
            }
        }
        if (!Split(offset, out var e, out uint reg)) return false;
        var rl = e.RunList;
        switch (reg)
        {
            case RunListRegisters.ListBase: value = rl.StagedBase; return true;
            case RunListRegisters.ListCount: value = rl.StagedCount; return true;
            case RunListRegisters.Submit: value = (uint)rl.LastStatus; return true;
            case RunListRegisters.State: value = State(e); return true;
            case RunListRegisters.Serial: value = (rl.CurrentSerial & 0xFFFF) | ((rl.PendingSerial & 0xFFFF) << 16); return true;
            case RunListRegisters.CurrentBase: value = rl.CurrentBase; return true;
            default: return false;
        }
    }

    public bool TryWrite(uint offset, int width, ulong value)
    {
        if (offset < RunListRegisters.EngineBase)
        {
            switch (offset)
            {
                case RunListRegisters.Mode when width == 4: control.SetMode((uint)value, AnyRunList()); return true;
                case RunListRegisters.HistoryBase when width == 8: control.StagedHistoryBase = value; return true;
                case RunListRegisters.HistorySize when width == 4: control.StagedHistorySize = (uint)value; return true;
                default: return false;
            }
        }
        if (!Split(offset, out var e, out uint reg)) return false;
        switch (reg)
        {
            case RunListRegisters.ListBase when width == 8: e.RunList.StagedBase = value; return true;
            case RunListRegisters.ListCount when width == 4: e.RunList.StagedCount = (uint)value; return true;
            case RunListRegisters.Submit when width == 4: e.SubmitRunList(); return true;
            default: return false;
        }
    }

    private static uint State(CommandProcessor e)
    {
        var rl = e.RunList;
        uint s = rl.RunningIndex < 0 ? RunListState.RunningIndexMask : (uint)rl.RunningIndex;
        if (rl.PendingCount != 0) s |= RunListState.PendingBit;
        if (rl.CurrentCount != 0) s |= RunListState.CurrentBit;
        if (e.RunListDeferred) s |= RunListState.DeferredBit;
        s |= (uint)rl.CurrentCount << RunListState.CurrentCountShift;
        s |= (uint)rl.PendingCount << RunListState.PendingCountShift;
        return s;
    }

    private bool AnyRunList()
    {
        foreach (var e in engines) if (e.RunList.CurrentCount != 0 || e.RunList.PendingCount != 0) return true;
        return false;
    }

    private bool Split(uint offset, out CommandProcessor engine, out uint reg)
    {
        uint index = (offset - RunListRegisters.EngineBase) / RunListRegisters.EngineStride;
        reg = (offset - RunListRegisters.EngineBase) % RunListRegisters.EngineStride;
        engine = index < (uint)engines.Length ? engines[index] : null!;
        return index < (uint)engines.Length;
    }
}
