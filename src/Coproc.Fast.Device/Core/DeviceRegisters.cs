namespace Coproc.Fast.Device.Core;

/// <summary>
/// Register offsets of the device block at <see cref="Mmio.MmioMap.DeviceBase"/> (native-layout.md §6.1), relative to
/// the block. Drivers, hosts and tests use these names instead of raw offsets.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class DeviceRegisters
{
    /// <summary>R32 ID = <see cref="IdValue"/>.</summary>
    public const uint Id = 0x00;
    /// <summary>R32 REVISION.</summary>
    public const uint Revision = 0x04;
    /// <summary>R32 CAPS: capability bits (0).</summary>
    public const uint Caps = 0x08;
    /// <summary>R64 CYCLE: device clock.</summary>
    public const uint Cycle = 0x10;
    /// <summary>R64 LOCAL_SIZE: bytes of local memory.</summary>
    public const uint LocalSize = 0x18;
    /// <summary>R64 SYSTEM_SIZE: bytes of system memory.</summary>
    public const uint SystemSize = 0x20;
    /// <summary>R64 APERTURE_SIZE: bytes of the aperture window.</summary>
    public const uint ApertureSize = 0x28;
    /// <summary>R64 INTERNAL_ERRORS: device internal errors contained since reset (§10.3).</summary>
    public const uint InternalErrors = 0x30;
    /// <summary>R32 WORK_PENDING: bits 0..4 engine e holds work, bit 8 user-queue work, bit 9 a vsync flip is latched.</summary>
    public const uint WorkPending = 0x38;

    /// <summary>W32 RESET: writing <see cref="ResetKey"/> resets the device (§20.3); any other value is ignored (counted unclaimed).</summary>
    public const uint Reset = 0x40;
    /// <summary>R64 NEXT_EVENT: the first cycle at which stepping can change anything (§20.5); all ones = none.</summary>
    public const uint NextEvent = 0x48;
    /// <summary>R64 RESET_COUNT: resets since creation.</summary>
    public const uint ResetCount = 0x50;

    /// <summary>The value that RESET accepts ("RSET").</summary>
    public const uint ResetKey = 0x5253_4554;

    /// <summary>Value of the ID register: "CF" + device 0x0001.</summary>
    public const uint IdValue = 0x43460001;
    /// <summary>Value of the REVISION register.</summary>
    public const uint RevisionValue = 1;

    /// <summary>WORK_PENDING bit: the doorbell vector holds a ring or a scheduling-core run list holds a queue (§13.3).</summary>
    public const uint WorkPendingUserQueues = 1u << 8;
    /// <summary>WORK_PENDING bit: a vsync flip is latched (a WAIT_FOR_FLIP may be stalled on it, §12).</summary>
    public const uint WorkPendingFlipLatched = 1u << 9;
}
