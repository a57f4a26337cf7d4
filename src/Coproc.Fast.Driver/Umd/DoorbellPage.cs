using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Driver.Cpu;

namespace Coproc.Fast.Driver.Umd;

/// <summary>
/// A process's mapping of its doorbell page (seed 003: the kernel "maps it into the process's address space as its
/// doorbell page"). Writing it rings the doorbell. The emulated write carries the process id of the mapping's owner,
/// which is how the doorbell block tells the writer (native-layout.md §13.1).
/// </summary>
public readonly struct DoorbellPage
{
    private readonly DoorbellAperture _aperture;
    private readonly ulong _offset;

    /// <summary>Maps doorbell <paramref name="doorbell"/>'s page of <paramref name="aperture"/> for process <paramref name="processId"/>.</summary>
    public DoorbellPage(DoorbellAperture aperture, int doorbell, uint processId)
    {
        ArgumentNullException.ThrowIfNull(aperture);
        ArgumentOutOfRangeException.ThrowIfNegative(doorbell);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(doorbell, DoorbellRegisters.DoorbellCount);
        _aperture = aperture;
        _offset = DoorbellAperture.PageOffset(doorbell);
        Doorbell = doorbell;
        ProcessId = processId;
    }

    /// <summary>
    /// The doorbell page a process reaches at <paramref name="va"/> of its CPU address space, resolved once through the
    /// CPU page table (as a TLB fill would) so that ringing costs one store, not a page-table walk.
    /// </summary>
    /// <exception cref="CpuPageFaultException"><paramref name="va"/> does not map a doorbell page.</exception>
    public static DoorbellPage FromCpuMapping(CpuAddressSpace space, ulong va)
    {
        ArgumentNullException.ThrowIfNull(space);
        var (aperture, doorbell, processId) = space.ResolveDoorbellPage(va);
        return new DoorbellPage(aperture, doorbell, processId);
    }

    /// <summary>The doorbell number.</summary>
    public int Doorbell { get; }

    /// <summary>The process the page is mapped into.</summary>
    public uint ProcessId { get; }

    /// <summary>Rings: one 32-bit store to offset 0 of the page (by convention the low bits of the new WritePtr).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Ring(uint value) => _aperture.Write32(_offset, value, ProcessId);
}
