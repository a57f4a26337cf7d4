using System.Buffers.Binary;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.Cpu;

/// <summary>
/// An emulated CPU virtual address space (one process): the CPU's MMU, not part of the device interface.
/// Its page table is a dictionary from 4 KiB virtual page number to <see cref="CpuPageTableEntry"/>: a
/// present entry refers either to a system-memory page directly or to an aperture page, which the
/// <see cref="ApertureWindow"/> redirects to local memory by reading the aperture PTE (seed 001 §12).
/// Reads and writes reach exactly the device's bytes; an address with no entry raises
/// <see cref="CpuPageFaultException"/>. VidMm creates the mappings (seed 002).
/// </summary>
public sealed partial class CpuAddressSpace
{
    /// <summary>First user address (the lowest 64 KiB stay unmapped, so null-ish pointers fault).</summary>
    public const ulong UserBase = 0x1_0000;
    /// <summary>End of the user half.</summary>
    public const ulong UserEnd = 1UL << 47;
    /// <summary>First kernel address.</summary>
    public const ulong KernelBase = 0xFFFF_8000_0000_0000;

    private const int PageShift = 12;
    private const ulong PageMask = 0xFFF;

    private readonly DeviceMemory _memory;
    private readonly ApertureWindow _aperture;
    private readonly Dictionary<ulong, CpuPageTableEntry> _pageTable = new();
    private readonly BuddyAllocator _userVa = new((UserEnd - UserBase) >> PageShift);
    private readonly BuddyAllocator _kernelVa = new((ulong.MaxValue - KernelBase + 1) >> PageShift);

    internal CpuAddressSpace(DeviceMemory memory, ApertureWindow aperture)
    {
        _memory = memory;
        _aperture = aperture;
    }

    /// <summary>Pages with a present entry.</summary>
    public int MappedPages => _pageTable.Count;

    /// <summary>The device memory this space's entries refer to (which VidMm made it).</summary>
    internal DeviceMemory Memory => _memory;

    internal Dictionary<int, CpuMapping> Mappings { get; } = new();
    internal Dictionary<AllocationHandle, List<CpuMapping>> MappingsByAllocation { get; } = new();
    internal int NextMappingId { get; set; } = 1;

    /// <summary>Which half an address belongs to, or null for the non-canonical hole and the unmapped first 64 KiB.</summary>
    public static CpuAddressHalf? HalfOf(ulong va) =>
        va >= KernelBase ? CpuAddressHalf.Kernel : va >= UserBase && va < UserEnd ? CpuAddressHalf.User : null;

    /// <summary>The page-table entry for the page holding <paramref name="va"/>, if present.</summary>
    public bool TryGetEntry(ulong va, out CpuPageTableEntry entry) => _pageTable.TryGetValue(va >> PageShift, out entry);

    /// <summary>Translates <paramref name="va"/> to the device byte it reaches; false when it does not refer to memory.</summary>
    public bool TryTranslate(ulong va, out PhysicalAddress physical) => Resolve(va, write: false, out physical, out _) == null;

    /// <summary>Copies bytes from [va, va+destination.Length) into <paramref name="destination"/>.</summary>
    /// <exception cref="CpuPageFaultException">Some page of the range does not refer to memory.</exception>
    public void Read(ulong va, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = (int)Math.Min((ulong)destination.Length, 4096 - (va & PageMask));
            if (TryDoorbellRead(va, destination[..n]))
            {
                destination = destination[n..];
                va += (ulong)n;
                continue;
            }
            var pa = ResolveOrThrow(va, write: false);
            _memory.Read(pa, destination[..n]);
            destination = destination[n..];
            va += (ulong)n;
        }
    }

    /// <summary>Copies <paramref name="source"/> to [va, va+source.Length).</summary>
    /// <exception cref="CpuPageFaultException">Some page does not refer to memory or is read-only; nothing after it is written.</exception>
    public void Write(ulong va, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            int n = (int)Math.Min((ulong)source.Length, 4096 - (va & PageMask));
            if (TryDoorbellWrite(va, source[..n]))
            {
                source = source[n..];
                va += (ulong)n;
                continue;
            }
            var pa = ResolveOrThrow(va, write: true);
            _memory.Write(pa, source[..n]);
            source = source[n..];
            va += (ulong)n;
        }
    }

    /// <summary>Reads a little-endian 32-bit value.</summary>
    public uint Read32(ulong va) { Span<byte> b = stackalloc byte[4]; Read(va, b); return BinaryPrimitives.ReadUInt32LittleEndian(b); }

    /// <summary>Writes a little-endian 32-bit value.</summary>
    public void Write32(ulong va, uint value) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); Write(va, b); }

    /// <summary>Reads a little-endian 64-bit value.</summary>
    public ulong Read64(ulong va) { Span<byte> b = stackalloc byte[8]; Read(va, b); return BinaryPrimitives.ReadUInt64LittleEndian(b); }

    /// <summary>Writes a little-endian 64-bit value.</summary>
    public void Write64(ulong va, ulong value) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); Write(va, b); }

    internal bool TryReserve(CpuAddressHalf half, ulong bytes, out ulong va)
    {
        var alloc = half == CpuAddressHalf.User ? _userVa : _kernelVa;
        bool ok = alloc.TryAllocate(bytes >> PageShift, 0, out ulong page);
        va = (half == CpuAddressHalf.User ? UserBase : KernelBase) + (page << PageShift);
        return ok;
    }

    internal void ReleaseRange(CpuAddressHalf half, ulong va, ulong bytes)
    {
        var (alloc, b) = half == CpuAddressHalf.User ? (_userVa, UserBase) : (_kernelVa, KernelBase);
        alloc.FreeRange((va - b) >> PageShift, bytes >> PageShift);
    }

    internal void SetEntry(ulong va, CpuPageTableEntry entry) => _pageTable[va >> PageShift] = entry;

    internal void ClearEntry(ulong va) => _pageTable.Remove(va >> PageShift);

    internal (ulong User, ulong Kernel) FreeVaPages => (_userVa.FreeUnits, _kernelVa.FreeUnits);

    private PhysicalAddress ResolveOrThrow(ulong va, bool write)
    {
        var fault = Resolve(va, write, out var pa, out _);
        if (fault is { } r) throw new CpuPageFaultException(va, write, r);
        return pa;
    }

    private CpuFaultReason? Resolve(ulong va, bool write, out PhysicalAddress physical, out CpuPageTableEntry entry)
    {
        physical = default;
        if (!_pageTable.TryGetValue(va >> PageShift, out entry) || !entry.IsPresent) return CpuFaultReason.NotMapped;
        if (entry.IsDoorbell) return CpuFaultReason.NotMemory; // a device register page: Read/Write handle it before resolving
        if (write && !entry.IsWritable) return CpuFaultReason.WriteProtected;
        if (!entry.IsAperture)
        {
            physical = PhysicalAddress.System(entry.Frame | (va & PageMask));
            return null;
        }
        // seed 001 §12: the aperture redirects the page through its own table in local memory.
        if (!_aperture.TryResolve(entry.Frame | (va & PageMask), out physical, out bool apertureWritable)) return CpuFaultReason.ApertureEntryInvalid;
        return write && !apertureWritable ? CpuFaultReason.WriteProtected : null;
    }
}
