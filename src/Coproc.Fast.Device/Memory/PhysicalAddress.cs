using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Memory;

/// <summary>
/// A typed device physical address: a <see cref="MemoryLocation"/> plus a byte offset inside that
/// memory. Wire encoding (registers, descriptors, packets): bits 0..47 offset, bits 62..63 location,
/// bits 48..61 zero. See native-layout.md, "Physical addresses".
/// </summary>
/// <remarks>Called by: host (guest RAM, dirty tracking) and guest driver (physical memory, the bytes it has through its mappings); see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly record struct PhysicalAddress
{
    /// <summary>Number of offset bits in the wire encoding.</summary>
    public const int OffsetBits = 48;

    /// <summary>Mask of the offset bits in the wire encoding.</summary>
    public const ulong OffsetMask = (1UL << OffsetBits) - 1;

    private const int LocationShift = 62;

    /// <summary>Creates a physical address.</summary>
    /// <param name="location">Local or system memory.</param>
    /// <param name="offset">Byte offset inside that memory (below 2^48).</param>
    /// <exception cref="ArgumentOutOfRangeException">The offset does not fit in 48 bits or the location is not addressable.</exception>
    public PhysicalAddress(MemoryLocation location, ulong offset)
    {
        if (offset > OffsetMask) throw new ArgumentOutOfRangeException(nameof(offset), offset, "physical offsets are 48-bit");
        if (location is not (MemoryLocation.Local or MemoryLocation.System))
            throw new ArgumentOutOfRangeException(nameof(location), location, "only local and system memory have physical addresses");
        Location = location;
        Offset = offset;
    }

    /// <summary>The memory this address points into.</summary>
    public MemoryLocation Location { get; }

    /// <summary>Byte offset inside <see cref="Location"/>.</summary>
    public ulong Offset { get; }

    /// <summary>The wire encoding of this address.</summary>
    public ulong Encoded => Offset | ((ulong)Location << LocationShift);

    /// <summary>An address in local memory.</summary>
    public static PhysicalAddress Local(ulong offset) => new(MemoryLocation.Local, offset);

    /// <summary>An address in system memory.</summary>
    public static PhysicalAddress System(ulong offset) => new(MemoryLocation.System, offset);

    /// <summary>Decodes a wire-encoded address; returns false for reserved bits or location values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryDecode(ulong encoded, out PhysicalAddress address)
    {
        ulong loc = encoded >> LocationShift;
        if ((encoded & ~OffsetMask & ~(3UL << LocationShift)) != 0 || loc > 1)
        {
            address = default;
            return false;
        }
        address = new PhysicalAddress((MemoryLocation)loc, encoded & OffsetMask, skipCheck: true);
        return true;
    }

    /// <summary>Decodes a wire-encoded address.</summary>
    /// <exception cref="FormatException">Reserved bits are set.</exception>
    public static PhysicalAddress Decode(ulong encoded) =>
        TryDecode(encoded, out var a) ? a : throw new FormatException($"0x{encoded:X16} is not a valid physical address encoding");

    /// <summary>This address plus a byte delta.</summary>
    public PhysicalAddress Add(ulong bytes) => new(Location, Offset + bytes);

    // Skips validation for already-checked hot-path values.
    private PhysicalAddress(MemoryLocation location, ulong offset, bool skipCheck)
    {
        _ = skipCheck;
        Location = location;
        Offset = offset;
    }

    /// <inheritdoc />
    public override string ToString() => $"{(Location == MemoryLocation.Local ? "L" : "S")}:0x{Offset:X}";
}
