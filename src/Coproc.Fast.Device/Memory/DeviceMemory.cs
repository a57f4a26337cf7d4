using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Memory;

/// <summary>
/// The device's two physical memories: local video memory and system memory. System memory is one or more
/// <see cref="GuestRamRange"/>s at guest-physical addresses (native-layout.md §1, §20.6): a system-memory offset is a
/// guest-physical address, and an address in no range is a hole. Every access names a typed <see cref="PhysicalAddress"/>
/// and is bounds-checked; an access must lie inside one range (one that crosses a range boundary, even into an adjacent
/// range, or touches a hole is out of range). Out-of-range accesses either return false / null (Try* methods, used by
/// the device's hot paths, which turn them into faults) or throw <see cref="PhysicalAccessFaultException"/> (the API
/// boundary). All values are little-endian, as on the wire.
/// </summary>
/// <remarks>Called by: host (guest RAM, dirty tracking) and guest driver (physical memory, the bytes it has through its mappings); see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed unsafe class DeviceMemory : IDisposable
{
    private readonly NativeRegion _local;
    private readonly GuestRamRange[] _ranges; // sorted by address, disjoint
    private readonly bool _ownsSystemRanges; // false: the host's guest RAM (docs/embedding.md §1), never disposed here
    // Design (the common case must not get slower): the lowest range is tested inline in TryPointer with three fields of
    // this object, as the single block was; only an access outside it looks at the other ranges, out of line.
    private byte* _base0;
    private ulong _address0, _length0;
    private byte* _writeBias; // base0 − address0 while there is one range and no observer (else null): the TLB-hit write path
    private IGuestRamWriteObserver? _observer;
    private bool _inObserver;

    /// <summary>Creates the memories with system memory as one block at guest-physical 0. Takes ownership of both regions.</summary>
    internal DeviceMemory(NativeRegion local, NativeRegion system)
        : this(local, [new GuestRamRange(0, system ?? throw new ArgumentNullException(nameof(system)))]) { }

    /// <summary>
    /// Creates the memories with system memory as <paramref name="systemRanges"/> (any order; at least one). Takes
    /// ownership of <paramref name="local"/> and, when <paramref name="ownsSystemRanges"/>, of every range's region
    /// (<see cref="Dispose"/> disposes them; wrapped host memory is not freed). A host's guest RAM is the host's: the
    /// device passes false, so disposing the device leaves it alive (docs/embedding.md §1).
    /// </summary>
    /// <exception cref="ArgumentException">A range is not 4 KiB aligned, reaches 2^48, or overlaps another; or there is none.</exception>
    internal DeviceMemory(NativeRegion local, IReadOnlyList<GuestRamRange> systemRanges, bool ownsSystemRanges = true)
    {
        _local = local ?? throw new ArgumentNullException(nameof(local));
        ArgumentNullException.ThrowIfNull(systemRanges);
        _ranges = ValidateRanges(systemRanges);
        _ownsSystemRanges = ownsSystemRanges;
        _base0 = _ranges[0].Memory.Base;
        _address0 = _ranges[0].GuestPhysicalAddress;
        _length0 = _ranges[0].Memory.Length;
        UpdateWriteBias();
    }

    /// <summary>Allocates both memories internally from sizes (system memory one block at guest-physical 0).</summary>
    internal static DeviceMemory Allocate(ulong localBytes, ulong systemBytes) =>
        new(NativeRegion.Allocate(localBytes), NativeRegion.Allocate(systemBytes));

    /// <summary>Host and guest driver: local video memory.</summary>
    public NativeRegion Local => _local;

    /// <summary>
    /// Host and guest driver: the lowest system-memory range's memory — all of system memory when it is one block at guest-physical 0 (the
    /// default). With several ranges use <see cref="SystemRanges"/>.
    /// </summary>
    public NativeRegion System => _ranges[0].Memory;

    /// <summary>Host and guest driver: the system-memory ranges, sorted by guest-physical address.</summary>
    public ReadOnlySpan<GuestRamRange> SystemRanges => _ranges;

    /// <summary>Host and guest driver: bytes of guest RAM in all system-memory ranges.</summary>
    public ulong SystemBytes
    {
        get
        {
            ulong n = 0;
            foreach (var r in _ranges) n += r.Memory.Length;
            return n;
        }
    }

    /// <summary>Host and guest driver: one past the highest guest-physical address of system memory (SYSTEM_SIZE, native-layout.md §6.1).</summary>
    public ulong SystemEnd => _ranges[^1].End;

    /// <summary>
    /// Host and guest driver: the host's observer of device writes to guest RAM (<see cref="IGuestRamWriteObserver"/>), or null (default: none,
    /// and no cost). Set it between steps.
    /// </summary>
    public IGuestRamWriteObserver? WriteObserver
    {
        get => _observer;
        set
        {
            _observer = value;
            UpdateWriteBias();
        }
    }

    /// <summary>Host and guest driver: the region behind a location: local memory, or the lowest system-memory range (see <see cref="System"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NativeRegion Region(MemoryLocation location) => location == MemoryLocation.Local ? _local : _ranges[0].Memory;

    /// <summary>Host and guest driver: size of a memory in bytes (system memory: the bytes of all its ranges).</summary>
    public ulong SizeOf(MemoryLocation location) => location == MemoryLocation.Local ? _local.Length : SystemBytes;

    /// <summary>Host and guest driver: true when [address, address+length) is inside its memory (inside one range of system memory).</summary>
    public bool Contains(PhysicalAddress address, ulong length) => TryPointer(address.Location, address.Offset, length) != null;

    /// <summary>Host and guest driver: pointer to [address, address+length) or null when out of bounds (or across a range boundary, or in a hole). Hot-path primitive.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* TryPointer(MemoryLocation location, ulong offset, ulong length)
    {
        if (location == MemoryLocation.Local) return _local.Contains(offset, length) ? _local.Base + offset : null;
        if (location != MemoryLocation.System) return null;
        ulong rel = offset - _address0; // wraps below the range: then far above its length
        if (rel <= _length0 && length <= _length0 - rel) return _base0 + rel;
        return _ranges.Length > 1 ? TryPointerAnyRange(offset, length) : null;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private byte* TryPointerAnyRange(ulong offset, ulong length)
    {
        int i = RangeIndex(offset);
        if (i < 0) return null;
        ref readonly var r = ref _ranges[i];
        ulong rel = offset - r.GuestPhysicalAddress;
        return length <= r.Memory.Length - rel ? r.Memory.Base + rel : null;
    }

    // The range holding guest-physical 'address', or -1 (a hole). Binary search over the sorted ranges.
    private int RangeIndex(ulong address)
    {
        // Invariant: a disposed memory holds nothing. The lowest range is emptied by Dispose (_base0, _length0); the others
        // may be the host's guest RAM, which stays allocated, so no lookup may find them either.
        if (_disposed) return -1;
        int lo = 0, hi = _ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            ref readonly var r = ref _ranges[mid];
            if (address < r.GuestPhysicalAddress) hi = mid - 1;
            else if (address - r.GuestPhysicalAddress >= r.Memory.Length) lo = mid + 1;
            else return mid;
        }
        return -1;
    }

    /// <summary>
    /// One past the last byte of the memory block that holds <paramref name="offset"/> (local memory, or the system range
    /// holding that guest-physical address); 0 when no block holds it. A contiguous physical run never extends past it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong BlockEnd(MemoryLocation location, ulong offset)
    {
        if (location == MemoryLocation.Local) return offset < _local.Length ? _local.Length : 0;
        if (location != MemoryLocation.System) return 0;
        if (offset - _address0 < _length0) return _address0 + _length0;
        int i = _ranges.Length > 1 ? RangeIndex(offset) : -1;
        return i < 0 ? 0 : _ranges[i].End;
    }

    /// <summary>
    /// System memory's base minus its guest-physical address while it is one range and no observer is set (a TLB-hit
    /// write's pointer is this plus the physical offset), else null.
    /// </summary>
    internal byte* SystemWriteBias
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _writeBias;
    }

    /// <summary>
    /// The TLB-hit write path of system memory (<see cref="Mmu.GpuVirtualMemory"/>): a pointer to the cached page's bytes,
    /// or null when the caller must take the general path (an observer is set: only the general path reports writes).
    /// The page was bounds-checked when it was cached.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* SystemWritePointer(ulong offset, uint bytes)
    {
        byte* bias = _writeBias;
        if (bias != null) return bias + offset;
        return _observer is null ? TryPointerAnyRange(offset, bytes) : null;
    }

    /// <summary>Reports a device write of [offset, offset+length) in <paramref name="location"/> to the observer (system memory only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void NoteWritten(MemoryLocation location, ulong offset, ulong length)
    {
        if (_observer is { } o && location == MemoryLocation.System && length != 0) Notify(o, offset, length);
    }

    /// <summary>Reports a device write through a raw pointer into memory (found back to its guest-physical range; local memory is ignored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void NoteWritten(void* pointer, ulong length)
    {
        if (_observer is { } o && length != 0) NotifyPointer(o, (byte*)pointer, length);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NotifyPointer(IGuestRamWriteObserver o, byte* p, ulong length)
    {
        foreach (var r in _ranges)
            if ((ulong)(p - r.Memory.Base) < r.Memory.Length)
            {
                Notify(o, r.GuestPhysicalAddress + (ulong)(p - r.Memory.Base), length);
                return;
            }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Notify(IGuestRamWriteObserver o, ulong address, ulong length)
    {
        // The flag lets Coprocessor.Step's containment filter tell the observer's own exception (the host's, passed through)
        // from the device's (exception filters run before this finally).
        _inObserver = true;
        try { o.DeviceWrote(address, length); }
        finally { _inObserver = false; }
    }

    /// <summary>True while the host's <see cref="IGuestRamWriteObserver.DeviceWrote"/> runs.</summary>
    internal bool InObserverCallback => _inObserver;

    /// <summary>The guest-physical address of a pointer into a system-memory range, or false.</summary>
    internal bool TryGuestPhysicalOf(byte* p, out ulong address)
    {
        foreach (var r in _ranges)
            if ((ulong)(p - r.Memory.Base) < r.Memory.Length)
            {
                address = r.GuestPhysicalAddress + (ulong)(p - r.Memory.Base);
                return true;
            }
        address = 0;
        return false;
    }

    /// <summary>Host and guest driver: a span over [address, address+length), or false when out of bounds.</summary>
    public bool TryGetSpan(PhysicalAddress address, int length, out Span<byte> span)
    {
        byte* p = length >= 0 ? TryPointer(address.Location, address.Offset, (ulong)length) : null;
        span = p == null ? default : new Span<byte>(p, length);
        return p != null;
    }

    /// <summary>Host and guest driver: a span over [address, address+length).</summary>
    /// <exception cref="PhysicalAccessFaultException">The range is outside its memory.</exception>
    public Span<byte> GetSpan(PhysicalAddress address, int length)
    {
        if (!TryGetSpan(address, length, out var s)) Throw(address, (ulong)Math.Max(length, 0));
        return s;
    }

    /// <summary>Host and guest driver: reads a little-endian 32-bit value.</summary>
    public uint Read32(PhysicalAddress address) => BinaryPrimitives.ReadUInt32LittleEndian(GetSpan(address, 4));

    /// <summary>Host and guest driver: writes a little-endian 32-bit value.</summary>
    public void Write32(PhysicalAddress address, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(GetSpan(address, 4), value);

    /// <summary>Host and guest driver: reads a little-endian 64-bit value.</summary>
    public ulong Read64(PhysicalAddress address) => BinaryPrimitives.ReadUInt64LittleEndian(GetSpan(address, 8));

    /// <summary>Host and guest driver: writes a little-endian 64-bit value.</summary>
    public void Write64(PhysicalAddress address, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(GetSpan(address, 8), value);

    /// <summary>Host and guest driver: copies bytes from memory into <paramref name="destination"/>.</summary>
    public void Read(PhysicalAddress address, Span<byte> destination) => GetSpan(address, destination.Length).CopyTo(destination);

    /// <summary>Host and guest driver: copies <paramref name="source"/> into memory.</summary>
    public void Write(PhysicalAddress address, ReadOnlySpan<byte> source) => source.CopyTo(GetSpan(address, source.Length));

    /// <summary>Host (through <see cref="Core.Coprocessor.Dispose"/>): frees internally allocated regions; the host's guest
    /// RAM given to the device's constructor stays the host's, alive.</summary>
    public void Dispose()
    {
        _disposed = true;
        _local.Dispose();
        if (_ownsSystemRanges) foreach (var r in _ranges) r.Memory.Dispose();
        _base0 = null;
        _length0 = 0;
        _writeBias = null;
    }

    private void UpdateWriteBias() =>
        _writeBias = _ranges.Length == 1 && _observer is null && _base0 != null ? _base0 - _address0 : null;

    private static GuestRamRange[] ValidateRanges(IReadOnlyList<GuestRamRange> ranges)
    {
        if (ranges.Count == 0) throw new ArgumentException("system memory needs at least one range", nameof(ranges));
        var sorted = new GuestRamRange[ranges.Count];
        for (int i = 0; i < sorted.Length; i++)
        {
            var r = ranges[i];
            if (r.Memory is null) throw new ArgumentException($"range {i} has no memory", nameof(ranges));
            if ((r.GuestPhysicalAddress & 0xFFF) != 0)
                throw new ArgumentException($"range {i} starts at 0x{r.GuestPhysicalAddress:X}, not 4 KiB aligned", nameof(ranges));
            if (r.GuestPhysicalAddress > PhysicalAddress.OffsetMask + 1 - r.Memory.Length)
                throw new ArgumentException($"range {i} at 0x{r.GuestPhysicalAddress:X} reaches past 2^48", nameof(ranges));
            sorted[i] = r;
        }
        Array.Sort(sorted, static (a, b) => a.GuestPhysicalAddress.CompareTo(b.GuestPhysicalAddress));
        for (int i = 1; i < sorted.Length; i++)
            if (sorted[i].GuestPhysicalAddress < sorted[i - 1].End)
                throw new ArgumentException(
                    $"ranges at 0x{sorted[i - 1].GuestPhysicalAddress:X} and 0x{sorted[i].GuestPhysicalAddress:X} overlap", nameof(ranges));
        return sorted;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    // A checked access that finds nothing: after Dispose every range is empty, and the caller is told the memory is freed
    // (docs/embedding.md: a disposed machine throws ObjectDisposedException), not that its address lies outside it.
    private void Throw(PhysicalAddress address, ulong length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        throw new PhysicalAccessFaultException(address, length, SizeOf(address.Location));
    }

    private bool _disposed;
}
