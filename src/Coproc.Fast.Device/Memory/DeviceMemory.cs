using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Memory;

/// <summary>
/// The device's two physical memories: local video memory and system memory. Every access names a
/// typed <see cref="PhysicalAddress"/> and is bounds-checked; out-of-range accesses either return
/// false (Try* methods, used by the device's hot paths) or throw <see cref="PhysicalAccessFaultException"/>.
/// All values are little-endian, as on the wire.
/// </summary>
public sealed unsafe class DeviceMemory : IDisposable
{
    private readonly NativeRegion _local;
    private readonly NativeRegion _system;

    /// <summary>Creates the memories. Takes ownership of both regions.</summary>
    public DeviceMemory(NativeRegion local, NativeRegion system)
    {
        _local = local ?? throw new ArgumentNullException(nameof(local));
        _system = system ?? throw new ArgumentNullException(nameof(system));
    }

    /// <summary>Allocates both memories internally from sizes.</summary>
    public static DeviceMemory Allocate(ulong localBytes, ulong systemBytes) =>
        new(NativeRegion.Allocate(localBytes), NativeRegion.Allocate(systemBytes));

    /// <summary>Local video memory.</summary>
    public NativeRegion Local => _local;

    /// <summary>System memory as seen by the device (possibly a host emulator's guest RAM).</summary>
    public NativeRegion System => _system;

    /// <summary>The region behind a location (local or system).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NativeRegion Region(MemoryLocation location) => location == MemoryLocation.Local ? _local : _system;

    /// <summary>Size of a memory in bytes.</summary>
    public ulong SizeOf(MemoryLocation location) => Region(location).Length;

    /// <summary>True when [address, address+length) is inside its memory.</summary>
    public bool Contains(PhysicalAddress address, ulong length) =>
        address.Location is MemoryLocation.Local or MemoryLocation.System && Region(address.Location).Contains(address.Offset, length);

    /// <summary>Pointer to [address, address+length) or null when out of bounds. Hot-path primitive.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* TryPointer(MemoryLocation location, ulong offset, ulong length)
    {
        var r = location == MemoryLocation.Local ? _local : location == MemoryLocation.System ? _system : null;
        return r is not null && r.Contains(offset, length) ? r.Base + offset : null;
    }

    /// <summary>A span over [address, address+length), or false when out of bounds.</summary>
    public bool TryGetSpan(PhysicalAddress address, int length, out Span<byte> span)
    {
        byte* p = length >= 0 ? TryPointer(address.Location, address.Offset, (ulong)length) : null;
        span = p == null ? default : new Span<byte>(p, length);
        return p != null;
    }

    /// <summary>A span over [address, address+length).</summary>
    /// <exception cref="PhysicalAccessFaultException">The range is outside its memory.</exception>
    public Span<byte> GetSpan(PhysicalAddress address, int length)
    {
        if (!TryGetSpan(address, length, out var s)) Throw(address, (ulong)Math.Max(length, 0));
        return s;
    }

    /// <summary>Reads a little-endian 32-bit value.</summary>
    public uint Read32(PhysicalAddress address) => BinaryPrimitives.ReadUInt32LittleEndian(GetSpan(address, 4));

    /// <summary>Writes a little-endian 32-bit value.</summary>
    public void Write32(PhysicalAddress address, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(GetSpan(address, 4), value);

    /// <summary>Reads a little-endian 64-bit value.</summary>
    public ulong Read64(PhysicalAddress address) => BinaryPrimitives.ReadUInt64LittleEndian(GetSpan(address, 8));

    /// <summary>Writes a little-endian 64-bit value.</summary>
    public void Write64(PhysicalAddress address, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(GetSpan(address, 8), value);

    /// <summary>Copies bytes from memory into <paramref name="destination"/>.</summary>
    public void Read(PhysicalAddress address, Span<byte> destination) => GetSpan(address, destination.Length).CopyTo(destination);

    /// <summary>Copies <paramref name="source"/> into memory.</summary>
    public void Write(PhysicalAddress address, ReadOnlySpan<byte> source) => source.CopyTo(GetSpan(address, source.Length));

    /// <summary>Frees internally allocated regions.</summary>
    public void Dispose()
    {
        _local.Dispose();
        _system.Dispose();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Throw(PhysicalAddress address, ulong length) =>
        throw new PhysicalAccessFaultException(address, length, SizeOf(address.Location));
}
