using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Core;

/// <summary>
/// Registers at <see cref="MmioMap.DeviceBase"/> (native-layout.md, "Device block"):
/// 0x00 ID (R32), 0x04 REVISION (R32), 0x08 CAPS (R32), 0x10 CYCLE (R64), 0x18 LOCAL_SIZE (R64), 0x20 SYSTEM_SIZE (R64),
/// 0x28 APERTURE_SIZE (R64).
/// </summary>
internal sealed class DeviceIdentityBlock(Coprocessor device) : IMmioBlock
{
    /// <summary>Value of the ID register: "CF" + device 0x0001.</summary>
    public const uint DeviceId = 0x43460001;

    public uint Base => MmioMap.DeviceBase;
    public uint Size => MmioMap.BlockSize;

    public bool TryRead(uint offset, int width, out ulong value)
    {
        value = offset switch
        {
            0x00 => DeviceId,
            0x04 => 1,
            0x08 => device.Capabilities,
            0x10 => device.Cycle,
            0x18 => device.Memory.Local.Length,
            0x20 => device.Memory.System.Length,
            0x28 => device.Options.ApertureBytes,
            _ => ulong.MaxValue,
        };
        return value != ulong.MaxValue;
    }

    public bool TryWrite(uint offset, int width, ulong value) => false;
}
