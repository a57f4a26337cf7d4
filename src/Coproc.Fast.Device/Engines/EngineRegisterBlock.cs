using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Engines;

/// <summary>
/// The engines' MMIO registers (native-layout.md §10.1): 0x80 bytes per engine at
/// <see cref="MmioMap.EngineBase"/> + engine × 0x80.
/// </summary>
internal sealed class EngineRegisterBlock(CommandProcessor[] engines) : IMmioBlock
{
    public uint Base => MmioMap.EngineBase;
    public uint Size => 0x400;

    public bool TryRead(uint offset, int width, out ulong value)
    {
        value = 0;
        if (!Split(offset, out var e, out uint reg)) return false;
        var f = e.LastFault;
        switch (reg)
        {
            case EngineRegisters.CurrentContext: value = e.CurrentContext; break;
            case EngineRegisters.NextContext: value = e.NextContext; break;
            case EngineRegisters.DeferredContext: value = e.DeferredContext; break;
            case EngineRegisters.Status: value = Status(e); break;
            case EngineRegisters.LastSwitchReason: value = (uint)e.LastSwitchReason; break;
            case EngineRegisters.Packets: value = (ulong)e.PacketsExecuted; break;
            case EngineRegisters.BusyCycles: value = (ulong)e.BusyCycles; break;
            case EngineRegisters.LastFault: value = (uint)f.Reason | ((uint)f.Detail << 16); break;
            case EngineRegisters.LastFaultContext: value = e.LastFaultContext; break;
            case EngineRegisters.LastFaultAddress: value = f.Address; break;
            case EngineRegisters.LastFaultOffset: value = f.Offset; break;
            case EngineRegisters.LastFaultOpcode: value = f.Opcode | ((uint)f.Where << 8); break;
            case EngineRegisters.RejectedRequest: value = e.RejectedRequest; break;
            case EngineRegisters.SwitchCount: value = (ulong)e.SwitchCount; break;
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
            case EngineRegisters.ContextSwitch when width == 8: e.RequestSwitch(value); return true;
            case EngineRegisters.NextContext when width == 8: e.NextContext = value; return true;
            default: return false;
        }
    }

    private static uint Status(CommandProcessor e)
    {
        if (e.CurrentContext == 0) return 0;
        var flags = e.Context.Flags;
        uint s = EngineRegisters.StatusLoaded;
        if (e.IsRunnable) s |= EngineRegisters.StatusRunnable;
        if ((flags & ContextFlags.Empty) != 0) s |= EngineRegisters.StatusEmpty;
        if ((flags & ContextFlags.Waiting) != 0) s |= EngineRegisters.StatusWaiting;
        if ((flags & ContextFlags.Faulted) != 0) s |= EngineRegisters.StatusFaulted;
        if ((flags & ContextFlags.ContextSwitchDisabled) != 0) s |= EngineRegisters.StatusSwitchDisabled;
        if (e.HasDeferredSwitch) s |= EngineRegisters.StatusSwitchDeferred;
        if ((flags & ContextFlags.InIndirect) != 0) s |= EngineRegisters.StatusInIndirect;
        return s;
    }

    private bool Split(uint offset, out CommandProcessor engine, out uint reg)
    {
        uint index = offset / EngineRegisters.Stride;
        reg = offset % EngineRegisters.Stride;
        engine = index < (uint)engines.Length ? engines[index] : null!;
        return index < (uint)engines.Length;
    }
}
