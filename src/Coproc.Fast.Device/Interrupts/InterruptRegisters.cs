namespace Coproc.Fast.Device.Interrupts;

/// <summary>
/// Register offsets of the interrupt controller at <see cref="Mmio.MmioMap.InterruptBase"/> (native-layout.md §9.1),
/// relative to the block. Drivers, hosts and tests use these names instead of raw offsets.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class InterruptRegisters
{
    /// <summary>R32 STATUS: pending sources, one bit per <see cref="InterruptSource"/>.</summary>
    public const uint Status = 0x00;
    /// <summary>RW32 ENABLE: sources allowed to assert the line; all 9 set at reset.</summary>
    public const uint Enable = 0x04;
    /// <summary>W32 ACK: write 1 to clear the matching STATUS bits.</summary>
    public const uint Ack = 0x08;
    /// <summary>R32 RAISE_COUNT: interrupts raised since reset (low 32 bits).</summary>
    public const uint RaiseCount = 0x0C;
    /// <summary>R32 INFO_COUNT: entries in the information queue (0..64).</summary>
    public const uint InfoCount = 0x10;
    /// <summary>R32 INFO_DROPPED: entries dropped because the queue was full.</summary>
    public const uint InfoDropped = 0x14;
    /// <summary>R32 INFO_SOURCE: head entry — bits 0..7 source, 8..15 engine (0xFF = none); <see cref="InfoSourceEmpty"/> when empty.</summary>
    public const uint InfoSource = 0x18;
    /// <summary>R32 INFO_CONTEXT: head entry's context id.</summary>
    public const uint InfoContext = 0x1C;
    /// <summary>R64 INFO_DATA0 (32-bit reads: low half here, high half at +4).</summary>
    public const uint InfoData0 = 0x20;
    /// <summary>R64 INFO_DATA1 (32-bit reads: low half here, high half at +4).</summary>
    public const uint InfoData1 = 0x28;
    /// <summary>R64 INFO_CYCLE: device cycle at which the head entry was raised (32-bit reads: low, high at +4).</summary>
    public const uint InfoCycle = 0x30;
    /// <summary>W32 INFO_POP: any write removes the head entry.</summary>
    public const uint InfoPop = 0x38;

    /// <summary>INFO_SOURCE when the information queue is empty.</summary>
    public const uint InfoSourceEmpty = 0xFFFF_FFFF;
}
