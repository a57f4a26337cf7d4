using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Engines;

/// <summary>
/// The engines' MMIO registers (native-layout.md §10.1): 0x80 bytes per engine at
/// <see cref="MmioMap.EngineBase"/> + engine × 0x80.
/// </summary>
internal sealed class EngineRegisterBlock(CommandProcessor[] engines) : IMmioBlock
{
    public const uint Stride = 0x80;
    public const uint ContextSwitchReg = 0x00, CurrentContextReg = 0x08, NextContextReg = 0x10, DeferredContextReg = 0x18;
    public const uint StatusReg = 0x20, LastSwitchReasonReg = 0x24, PacketsReg = 0x28, BusyCyclesReg = 0x30;
    public const uint FaultReasonReg = 0x38, FaultContextReg = 0x3C, FaultAddressReg = 0x40, FaultOffsetReg = 0x48;
    public const uint FaultOpcodeReg = 0x50, RejectedRequestReg = 0x58, SwitchCountReg = 0x60;

    /// <summary>STATUS bits.</summary>
    public const uint StatusLoaded = 1, StatusRunnable = 2, StatusEmpty = 4, StatusWaiting = 8, StatusFaulted = 16,
        StatusSwitchDisabled = 32, StatusSwitchDeferred = 64, StatusInIndirect = 128;

    public uint Base => MmioMap.EngineBase;
    public uint Size => 0x400;

    public bool TryRead(uint offset, int width, out ulong value)
    {
        value = 0;
        if (!Split(offset, out var e, out uint reg)) return false;
        var f = e.LastFault;
        switch (reg)
        {
            case CurrentContextReg: value = e.CurrentContext; break;
            case NextContextReg: value = e.NextContext; break;
            case DeferredContextReg: value = e.DeferredContext; break;
            case StatusReg: value = Status(e); break;
            case LastSwitchReasonReg: value = (uint)e.LastSwitchReason; break;
            case PacketsReg: value = (ulong)e.PacketsExecuted; break;
            case BusyCyclesReg: value = (ulong)e.BusyCycles; break;
            case FaultReasonReg: value = (uint)f.Reason | ((uint)f.Detail << 16); break;
            case FaultContextReg: value = e.LastFaultContext; break;
            case FaultAddressReg: value = f.Address; break;
            case FaultOffsetReg: value = f.Offset; break;
            case FaultOpcodeReg: value = f.Opcode | ((uint)f.Where << 8); break;
            case RejectedRequestReg: value = e.RejectedRequest; break;
            case SwitchCountReg: value = (ulong)e.SwitchCount; break;
            default: return false;
        }
        if (width == 4) value = (uint)value;
        return true;
    }

    public bool TryWrite(uint offset, int width, ulong value)
    {
        if (!Split(offset, out var e, out uint reg)) return false;
        switch (reg)
        {
            case ContextSwitchReg when width == 8: e.RequestSwitch(value); return true;
            case NextContextReg when width == 8: e.NextContext = value; return true;
            default: return false;
        }
    }

    private static uint Status(CommandProcessor e)
    {
        if (e.CurrentContext == 0) return 0;
        var flags = e.Context.Flags;
        uint s = StatusLoaded;
        if (e.IsRunnable) s |= StatusRunnable;
        if ((flags & ContextFlags.Empty) != 0) s |= StatusEmpty;
        if ((flags & ContextFlags.Waiting) != 0) s |= StatusWaiting;
        if ((flags & ContextFlags.Faulted) != 0) s |= StatusFaulted;
        if ((flags & ContextFlags.ContextSwitchDisabled) != 0) s |= StatusSwitchDisabled;
        if (e.HasDeferredSwitch) s |= StatusSwitchDeferred;
        if ((flags & ContextFlags.InIndirect) != 0) s |= StatusInIndirect;
        return s;
    }

    private bool Split(uint offset, out CommandProcessor engine, out uint reg)
    {
        uint index = offset / Stride;
        reg = offset % Stride;
        engine = index < (uint)engines.Length ? engines[index] : null!;
        return index < (uint)engines.Length;
    }
}
