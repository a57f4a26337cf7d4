namespace Coproc.Fast.Device.Packets;

/// <summary>
/// Command-packet opcodes (native-layout.md §8). Values 0x40 and above are privileged: a limited
/// (non-privileged) DMA buffer containing one faults its context (seed 001 §7.1).
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum Opcode : byte
{
    /// <summary>No operation (also used as padding to the end of a ring).</summary>
    Nop = 0x00,
    /// <summary>Write n dwords to a VA.</summary>
    WriteData = 0x01,
    /// <summary>Copy bytes between VAs.</summary>
    Copy = 0x02,
    /// <summary>Fill bytes at a VA with a 32-bit pattern.</summary>
    Fill = 0x03,
    /// <summary>Write the device cycle counter to a VA.</summary>
    Timestamp = 0x04,
    /// <summary>Render engine: draw axis-aligned rectangles (interruptible between primitives).</summary>
    DrawRects = 0x10,
    /// <summary>Compute engine: run a built-in kernel over thread groups (interruptible between groups).</summary>
    Dispatch = 0x11,
    /// <summary>Video decode engine: expand a bitstream into a surface.</summary>
    VideoDecode = 0x12,
    /// <summary>Video encode engine: compress a surface into a bitstream.</summary>
    VideoEncode = 0x13,
    /// <summary>Fence: write a 64-bit value once earlier work is visible (seed 001 §8.1).</summary>
    Fence = 0x20,
    /// <summary>Trap: interrupt once earlier work retires (§8.2).</summary>
    Trap = 0x21,
    /// <summary>Wait on a counter: decrement if non-zero else yield (§8.4).</summary>
    Wait = 0x22,
    /// <summary>Signal a counter: add one (§8.4).</summary>
    Signal = 0x23,
    /// <summary>Wait until a 64-bit monitored fence reaches a value (seed 004).</summary>
    WaitFence = 0x24,
    /// <summary>Ring only: run a DMA buffer; bit 0 of the start address marks it privileged (§7.4 option 3).</summary>
    Indirect = 0x30,
    /// <summary>Privileged: re-enable context switching (§8.3).</summary>
    EnableContextSwitch = 0x40,
    /// <summary>Privileged: disable context switching (§8.3).</summary>
    DisableContextSwitch = 0x41,
    /// <summary>Privileged: flip the display to a surface (immediate or vsync, §9).</summary>
    Flip = 0x42,
    /// <summary>Privileged: wait until the last queued flip is visible.</summary>
    WaitForFlip = 0x43,
    /// <summary>Privileged: write a display/clock/power register.</summary>
    RegWrite = 0x44,
    /// <summary>Privileged: write page-table entries in memory (paging buffers and the paging queue).</summary>
    UpdatePageTable = 0x45,
    /// <summary>Privileged: invalidate TLB entries.</summary>
    TlbFlush = 0x46,
}

/// <summary>Helpers over <see cref="Opcode"/>.</summary>
internal static class OpcodeInfo
{
    /// <summary>First privileged opcode value.</summary>
    public const byte FirstPrivileged = PacketFormat.FirstPrivilegedOpcode;

    /// <summary>True for opcodes only privileged DMA buffers may contain.</summary>
    public static bool IsPrivileged(Opcode op) => PacketFormat.IsPrivileged(op);
}
