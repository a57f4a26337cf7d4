using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Core;

/// <summary>The device block at <see cref="MmioMap.DeviceBase"/> (native-layout.md §6.1; offsets in <see cref="DeviceRegisters"/>).</summary>
internal sealed class DeviceIdentityBlock(Coprocessor device) : IMmioBlock
{
    /// <summary>Value of the ID register: "CF" + device 0x0001.</summary>
    public const uint DeviceId = DeviceRegisters.IdValue;

    public uint Base => MmioMap.DeviceBase;
    public uint Size => MmioMap.BlockSize;

    public bool TryRead(uint offset, int width, out ulong value)
    {
        switch (offset)
        {
            case DeviceRegisters.Id: value = DeviceId; return true;
            case DeviceRegisters.Revision: value = DeviceRegisters.RevisionValue; return true;
            case DeviceRegisters.Caps: value = device.Capabilities; return true;
            case DeviceRegisters.Cycle: value = device.Cycle; return true;
            case DeviceRegisters.LocalSize: value = device.Memory.Local.Length; return true;
            case DeviceRegisters.SystemSize: value = device.Memory.SystemEnd; return true;
            case DeviceRegisters.ApertureSize: value = device.Options.ApertureBytes; return true;
            case DeviceRegisters.InternalErrors: value = (ulong)device.InternalErrors; return true;
            case DeviceRegisters.WorkPending: value = device.WorkPending; return true;
            case DeviceRegisters.NextEvent when width == 8: value = device.NextEventCycle; return true;
            case DeviceRegisters.ResetCount when width == 8: value = (ulong)device.ResetCount; return true;
            default: value = 0; return false;
        }
    }

    public bool TryWrite(uint offset, int width, ulong value)
    {
        if (offset != DeviceRegisters.Reset || width != 4 || (uint)value != DeviceRegisters.ResetKey) return false;
        device.Reset();
        return true;
    }
}
