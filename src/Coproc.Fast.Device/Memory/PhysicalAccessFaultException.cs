namespace Coproc.Fast.Device.Memory;

/// <summary>
/// A physical access outside the bounds of its memory. Thrown only at the API boundary (host or driver
/// touching memory directly); the device's own hot paths report the same condition as a fault record.
/// </summary>
/// <remarks>Called by: host (guest RAM, dirty tracking) and guest driver (physical memory, the bytes it has through its mappings); see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class PhysicalAccessFaultException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PhysicalAccessFaultException(PhysicalAddress address, ulong length, ulong regionLength)
        : base($"physical access {address}+0x{length:X} lies outside {address.Location} memory of 0x{regionLength:X} bytes")
    {
        Address = address;
        Length = length;
        RegionLength = regionLength;
    }

    /// <summary>The first byte of the rejected access.</summary>
    public PhysicalAddress Address { get; }

    /// <summary>The length of the rejected access in bytes.</summary>
    public ulong Length { get; }

    /// <summary>The size of the memory that was addressed.</summary>
    public ulong RegionLength { get; }
}
