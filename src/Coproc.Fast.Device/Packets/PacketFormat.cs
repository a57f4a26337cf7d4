namespace Coproc.Fast.Device.Packets;

/// <summary>
/// Payload layout of every control packet (native-layout.md §8): exact lengths in dwords (header included),
/// flag bits and field positions. Multi-dword values are little-endian: low dword first.
/// </summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class PacketFormat
{
    /// <summary>WRITE_DATA: header, VA lo, VA hi, then n ≥ 1 data dwords.</summary>
    public const int WriteDataFixedDwords = 3;
    /// <summary>COPY: header, src VA (2), dst VA (2), byte count (2).</summary>
    public const int CopyDwords = 7;
    /// <summary>FILL: header, dst VA (2), pattern, byte count (2).</summary>
    public const int FillDwords = 6;
    /// <summary>TIMESTAMP: header, VA (2).</summary>
    public const int TimestampDwords = 3;
    /// <summary>FENCE: header, address (2), value (2).</summary>
    public const int FenceDwords = 5;
    /// <summary>TRAP: header, trap id.</summary>
    public const int TrapDwords = 2;
    /// <summary>WAIT and SIGNAL: header, counter VA (2).</summary>
    public const int CounterDwords = 3;
    /// <summary>WAIT_FENCE: header, fence VA (2), value (2).</summary>
    public const int WaitFenceDwords = 5;
    /// <summary>INDIRECT: header, start address (2; bit 0 = privileged), length in dwords.</summary>
    public const int IndirectDwords = 4;
    /// <summary>ENABLE/DISABLE_CONTEXT_SWITCH and WAIT_FOR_FLIP: header only.</summary>
    public const int HeaderOnlyDwords = 1;
    /// <summary>FLIP: header, surface physical address (2).</summary>
    public const int FlipDwords = 3;
    /// <summary>REG_WRITE: header, register offset in the BAR, value.</summary>
    public const int RegWriteDwords = 3;
    /// <summary>UPDATE_PAGE_TABLE: header, PTE physical address (2), then n ≥ 1 entries of 2 dwords.</summary>
    public const int UpdatePageTableFixedDwords = 3;
    /// <summary>TLB_FLUSH: header, ASID word, VA (2), page count.</summary>
    public const int TlbFlushDwords = 5;

    /// <summary>FENCE flags bits 0..1: the fence kind (<see cref="FenceKind"/>; 3 is reserved).</summary>
    public const byte FenceKindMask = 0x03;
    /// <summary>FENCE flag bit 2: privileged fence, the address is a physical address (privileged buffers only).</summary>
    public const byte FencePrivilegedFlag = 0x04;
    /// <summary>FENCE flag bit 3: raise a fence interrupt once the value is written.</summary>
    public const byte FenceInterruptFlag = 0x08;
    /// <summary>FLIP flag bit 0: synchronized (vsync) flip; clear = immediate.</summary>
    public const byte FlipVsyncFlag = 0x01;
    /// <summary>TLB_FLUSH ASID word bit 31: every address space (ASID bits ignored, VA and pages must be 0).</summary>
    public const uint TlbFlushAllAsidsBit = 0x8000_0000;
    /// <summary>INDIRECT start address bit 0: the DMA buffer is privileged (seed 001 §7.4 option 3).</summary>
    public const ulong IndirectPrivilegedBit = 1;
    /// <summary>Largest DMA buffer an INDIRECT may name, in dwords (64 MiB).</summary>
    public const uint MaxIndirectDwords = 1u << 24;
    /// <summary>Largest page count a TLB_FLUSH may name (the 48-bit VA space).</summary>
    public const uint MaxTlbFlushPages = uint.MaxValue;
    /// <summary>Width of the VA space: bits above must be zero in packet addresses.</summary>
    public const int VaBits = 48;

    /// <summary>
    /// First privileged opcode (native-layout.md §8.3): every opcode ≥ 0x40 is privileged — only the ring and privileged
    /// DMA buffers may carry it. Guest driver (KMD validator): refuse such packets in buffers it does not build.
    /// </summary>
    public const byte FirstPrivilegedOpcode = 0x40;

    /// <summary>Joins a little-endian (lo, hi) dword pair.</summary>
    public static ulong U64(uint lo, uint hi) => lo | ((ulong)hi << 32);

    /// <summary>Guest driver: true for an opcode only the ring and privileged DMA buffers may carry (≥ <see cref="FirstPrivilegedOpcode"/>, §8.3).</summary>
    public static bool IsPrivileged(Opcode opcode) => (byte)opcode >= FirstPrivilegedOpcode;

    /// <summary>
    /// Guest driver: the engine that runs an engine work packet (native-layout.md §8A: DRAW_RECTS render, DISPATCH
    /// compute, VIDEO_DECODE / VIDEO_ENCODE the video engines); the packet on any other engine is an invalid command.
    /// </summary>
    /// <returns>False (and <paramref name="engine"/> = Copy) when <paramref name="opcode"/> is not a work packet.</returns>
    public static bool TryGetWorkEngine(Opcode opcode, out Engines.EngineKind engine)
    {
        switch (opcode)
        {
            case Opcode.DrawRects: engine = Engines.EngineKind.Render; return true;
            case Opcode.Dispatch: engine = Engines.EngineKind.Compute; return true;
            case Opcode.VideoDecode: engine = Engines.EngineKind.VideoDecode; return true;
            case Opcode.VideoEncode: engine = Engines.EngineKind.VideoEncode; return true;
            default: engine = Engines.EngineKind.Copy; return false;
        }
    }
}

/// <summary>Kinds of fence (seed 001 §8.1).</summary>
/// <remarks>Called by: guest driver (builds and validates command buffers); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum FenceKind : byte
{
    /// <summary>All earlier writes are globally visible before the value is written (the required kind).</summary>
    Write = 0,
    /// <summary>All earlier reads have completed before the value is written.</summary>
    Read = 1,
    /// <summary>The DMA stream up to the fence has been read; the device will not re-read it.</summary>
    TopOfPipe = 2,
}
