using System.Buffers.Binary;
using Coproc.Fast.Device.Doorbells;

namespace Coproc.Fast.Driver.Cpu;

// seed 003: "the kernel ... maps it [a doorbell page] into the process's address space as its doorbell page". The
// doorbell aperture is a device BAR (native-layout.md §13.1), so the page is a device register page in the CPU page
// table, not memory: a 32-bit store to it is a bus write to the doorbell aperture tagged with the process the kernel
// mapped the page for; loads read 0 (the pages are write-only).
public sealed partial class CpuAddressSpace
{
    private DoorbellAperture? _doorbells;
    private int _doorbellPages;

    /// <summary>Doorbell pages currently mapped into this space.</summary>
    public int MappedDoorbellPages => _doorbellPages;

    /// <summary>
    /// Maps doorbell <paramref name="doorbell"/>'s page of <paramref name="aperture"/> into the user half for
    /// <paramref name="processId"/> and returns its CPU address. Called by the kernel at registration only.
    /// </summary>
    /// <exception cref="InvalidOperationException">No user VA is free, or the space already maps another device's aperture.</exception>
    internal ulong MapDoorbellPage(DoorbellAperture aperture, int doorbell, uint processId)
    {
        ArgumentNullException.ThrowIfNull(aperture);
        if (_doorbells is not null && !ReferenceEquals(_doorbells, aperture))
            throw new InvalidOperationException("this CPU address space already maps the doorbell aperture of another device");
        if (!TryReserve(CpuAddressHalf.User, 4096, out ulong va))
            throw new InvalidOperationException("no free user VA page for the doorbell page");
        _doorbells = aperture;
        SetEntry(va, CpuPageTableEntry.Doorbell(DoorbellAperture.PageOffset(doorbell), processId, mappingId: 0));
        _doorbellPages++;
        return va;
    }

    /// <summary>Removes the doorbell page mapped at <paramref name="va"/>: later accesses fault with <see cref="CpuFaultReason.NotMapped"/>.</summary>
    /// <exception cref="InvalidOperationException"><paramref name="va"/> does not map a doorbell page.</exception>
    internal void UnmapDoorbellPage(ulong va)
    {
        if (!TryGetEntry(va, out var e) || !e.IsDoorbell || (va & 0xFFF) != 0)
            throw new InvalidOperationException($"0x{va:X16} is not a mapped doorbell page");
        ClearEntry(va);
        ReleaseRange(CpuAddressHalf.User, va, 4096);
        _doorbellPages--;
    }

    /// <summary>
    /// The doorbell page at <paramref name="va"/> as the CPU's TLB would hold it: the aperture, the page and the writer's
    /// process id, so a ring-3 writer can ring it without walking the page table on every store.
    /// </summary>
    /// <exception cref="CpuPageFaultException"><paramref name="va"/> does not map a doorbell page.</exception>
    public (DoorbellAperture Aperture, int Doorbell, uint ProcessId) ResolveDoorbellPage(ulong va)
    {
        if (!TryGetEntry(va, out var e) || !e.IsPresent)
            throw new CpuPageFaultException(va, write: true, CpuFaultReason.NotMapped);
        if (!e.IsDoorbell || _doorbells is null)
            throw new CpuPageFaultException(va, write: true, CpuFaultReason.NotMemory);
        return (_doorbells, (int)(e.DoorbellOffset >> DoorbellAperture.PageShift), e.DoorbellOwner);
    }

    // A write inside one page: true when the page is a doorbell page (each aligned dword becomes one doorbell-aperture
    // write; partial dwords are dropped, like a bus that only takes 32-bit register writes).
    private bool TryDoorbellWrite(ulong va, ReadOnlySpan<byte> source)
    {
        if (_doorbells is null || !TryGetEntry(va, out var e) || !e.IsDoorbell) return false;
        ulong offset = e.DoorbellOffset | (va & 0xFFF);
        for (int i = 0; i + 4 <= source.Length; i += 4)
            _doorbells.Write32(offset + (ulong)i, BinaryPrimitives.ReadUInt32LittleEndian(source[i..]), e.DoorbellOwner);
        return true;
    }

    // A read inside one page: doorbell pages read as zero (DoorbellAperture.Read32).
    private bool TryDoorbellRead(ulong va, Span<byte> destination)
    {
        if (_doorbells is null || !TryGetEntry(va, out var e) || !e.IsDoorbell) return false;
        destination.Clear();
        return true;
    }
}
