namespace Coproc.Fast.Device.Mmio;

/// <summary>
/// Byte offsets of the register blocks in the device's register BAR (native-layout.md, "MMIO register map").
/// Each block owns its range; a block's registers are documented beside its implementation.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class MmioMap
{
    /// <summary>Size of the register BAR in bytes.</summary>
    public const uint RegisterBarSize = 0x1000;

    /// <summary>Identity and global control: ID, revision, caps, cycle counter, memory sizes.</summary>
    public const uint DeviceBase = 0x0000;
    /// <summary>Interrupt controller.</summary>
    public const uint InterruptBase = 0x0100;
    /// <summary>Memory management: dummy policy, aperture table, TLB invalidation, MMU fault log.</summary>
    public const uint MmuBase = 0x0200;
    /// <summary>Engines (0x80 bytes each): context switch registers, ring registers, status.</summary>
    public const uint EngineBase = 0x0400;
    /// <summary>Run list and history buffer.</summary>
    public const uint RunListBase = 0x0800;
    /// <summary>Display controller.</summary>
    public const uint DisplayBase = 0x0900;
    /// <summary>Doorbell block and scheduling core.</summary>
    public const uint DoorbellBase = 0x0A00;
    /// <summary>Clock and power.</summary>
    public const uint ClockPowerBase = 0x0B00;

    /// <summary>Size of each block except engines, bytes.</summary>
    public const uint BlockSize = 0x100;
}
