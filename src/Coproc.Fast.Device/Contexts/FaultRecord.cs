using System.Runtime.InteropServices;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Device.Contexts;

/// <summary>
/// Why and where a context faulted (native-layout.md §11.2): 32 bytes inside the context save area.
/// <code>
/// +0  u16 Reason         FaultReason
/// +2  u16 Detail         DecodeError, TranslationStatus or WorkStatus, per reason
/// +4  u8  Opcode         opcode of the faulting packet (0xFF when no packet was decoded)
/// +5  u8  Engine         EngineKind
/// +6  u8  Where          0 none, 1 ring, 2 DMA buffer
/// +7  u8  Reserved
/// +8  u64 Offset         ring: free-running byte position of the packet; DMA buffer: byte offset inside it
/// +16 u64 Address        faulting VA, or physical address for physical faults
/// +24 u64 BufferAddress  DMA buffer start (VA | bit 0 privileged) or ring descriptor physical address
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public struct FaultRecord
{
    /// <summary>The reason.</summary>
    [FieldOffset(0)] public FaultReason Reason;
    /// <summary>Reason-specific detail code.</summary>
    [FieldOffset(2)] public ushort Detail;
    /// <summary>Opcode byte of the faulting packet.</summary>
    [FieldOffset(4)] public byte Opcode;
    /// <summary>Engine that faulted.</summary>
    [FieldOffset(5)] public byte Engine;
    /// <summary>0 none, 1 ring, 2 DMA buffer.</summary>
    [FieldOffset(6)] public FaultLocation Where;
    /// <summary>Reserved, zero.</summary>
    [FieldOffset(7)] public byte Reserved;
    /// <summary>Byte position of the packet (ring: free-running; DMA buffer: offset inside it).</summary>
    [FieldOffset(8)] public ulong Offset;
    /// <summary>Faulting address.</summary>
    [FieldOffset(16)] public ulong Address;
    /// <summary>The buffer the packet came from.</summary>
    [FieldOffset(24)] public ulong BufferAddress;

    /// <summary>The faulting opcode as an enum value (may be an unknown value).</summary>
    public readonly Opcode OpcodeValue => (Opcode)Opcode;

    /// <inheritdoc />
    public override readonly string ToString() =>
        $"{Reason}(detail {Detail}) engine {Engine} {Where}+0x{Offset:X} opcode 0x{Opcode:X2} address 0x{Address:X}";
}

/// <summary>Where the faulting packet was fetched from.</summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum FaultLocation : byte
{
    /// <summary>No packet (e.g. context load).</summary>
    None = 0,
    /// <summary>The ring.</summary>
    Ring = 1,
    /// <summary>A DMA buffer.</summary>
    DmaBuffer = 2,
}

/// <summary>Why a context faulted.</summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum FaultReason : ushort
{
    /// <summary>No fault.</summary>
    None = 0,
    /// <summary>A structurally invalid packet; Detail = <see cref="DecodeError"/>.</summary>
    MalformedPacket = 1,
    /// <summary>A privileged opcode in a limited DMA buffer (seed 001 §7.1).</summary>
    PrivilegedPacketInLimitedBuffer = 2,
    /// <summary>A physical address (privileged fence) in a limited DMA buffer (seed 001 §7.1 rule 1).</summary>
    PhysicalAddressInLimitedBuffer = 3,
    /// <summary>INDIRECT inside a DMA buffer: only the ring may redirect.</summary>
    IndirectOutsideRing = 4,
    /// <summary>A work packet on an engine that cannot run it.</summary>
    WrongEngine = 5,
    /// <summary>A VA access failed; Detail = TranslationStatus, Address = the VA. Restartable once the driver fixes the mapping.</summary>
    MemoryFault = 6,
    /// <summary>A physical access out of range; Address = the encoded physical address.</summary>
    PhysicalOutOfRange = 7,
    /// <summary>The ring descriptor is invalid (bad base, size, or outside memory).</summary>
    InvalidRing = 8,
    /// <summary>A work packet's payload was rejected by its executor; Detail = WorkStatus.</summary>
    MalformedWork = 9,
    /// <summary>COPY source and destination VA ranges overlap.</summary>
    OverlappingCopy = 10,
    /// <summary>The write pointer is behind the read pointer or more than the ring size ahead.</summary>
    RingPointersInvalid = 11,
    /// <summary>
    /// The engine met a state it has no rule for and abandoned the context (native-layout.md §10.3, "Device internal
    /// error"): the device's last-resort containment instead of an exception into its host.
    /// </summary>
    DeviceInternalError = 12,
}
