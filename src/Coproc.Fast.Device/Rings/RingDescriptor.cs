using System.Runtime.InteropServices;

namespace Coproc.Fast.Device.Rings;

/// <summary>
/// A ring buffer's descriptor in memory (native-layout.md §10): 192 bytes, 64-byte aligned, three cache lines
/// so the producer-owned write pointer and the device-owned read pointer never share a line.
/// <code>
/// +0   u64 Base        encoded physical address of the ring bytes (4 KiB aligned)
/// +8   u32 SizeBytes   power of two, 4 KiB .. 16 MiB
/// +12  u32 Flags       bit 0 = user queue (filled from ring 3, rung through a doorbell); others reserved
/// +16  u32 ContextId   the context that owns the ring
/// +20  u32 Reserved0
/// +24..63              reserved
/// +64  u64 WritePtr    producer-owned free-running byte count (tail); index = WritePtr &amp; (SizeBytes-1)
/// +72..127             reserved (padding)
/// +128 u64 ReadPtr     device-owned free-running byte count (head), written back after packets retire
/// +136..191            reserved (padding)
/// </code>
/// Packets never straddle the end of the ring: a producer pads to the end with one NOP packet.
/// </summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[StructLayout(LayoutKind.Explicit, Size = 192)]
public struct RingDescriptor
{
    /// <summary>Size of the descriptor in bytes.</summary>
    public const int SizeInBytes = 192;
    /// <summary>Offset of <see cref="WritePtr"/>.</summary>
    public const int WritePtrOffset = 64;
    /// <summary>Offset of <see cref="ReadPtr"/>.</summary>
    public const int ReadPtrOffset = 128;
    /// <summary>Flag: user queue.</summary>
    public const uint UserQueueFlag = 1;

    /// <summary>Encoded physical address of the ring bytes.</summary>
    [FieldOffset(0)] public ulong Base;
    /// <summary>Ring size in bytes (power of two).</summary>
    [FieldOffset(8)] public uint SizeBytes;
    /// <summary>Flags.</summary>
    [FieldOffset(12)] public uint Flags;
    /// <summary>Owning context.</summary>
    [FieldOffset(16)] public uint ContextId;
    /// <summary>Producer write pointer (tail).</summary>
    [FieldOffset(WritePtrOffset)] public ulong WritePtr;
    /// <summary>Device read pointer (head).</summary>
    [FieldOffset(ReadPtrOffset)] public ulong ReadPtr;
}
