using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// A pooled kernel buffer holding one paging buffer (seed 001 §3.5–§3.6): a system-memory allocation addressed in
/// the residency manager's kernel view, filled by <c>IResidencyManager.BuildPagingBuffer</c>.
/// </summary>
internal sealed class PagingBufferMemory(AllocationHandle allocation, PhysicalAddress physical, ulong kernelAddress, int capacityDwords)
{
    public AllocationHandle Allocation { get; } = allocation;
    public PhysicalAddress Physical { get; } = physical;
    public ulong KernelAddress { get; } = kernelAddress;
    public int CapacityDwords { get; } = capacityDwords;
    public int DwordCount;
    public int Operations;
    public int Fences;

    /// <summary>Paging-fence value of each other group member this buffer must wait for before it runs (0: none):
    /// earlier-recorded paging buffers of other engines whose memory it touches.</summary>
    public readonly ulong[] WaitBefore = new ulong[SchedulerGroup.MaxMembers];

    /// <summary>The memory its operations read and write, as [start, end) of encoded physical addresses, and the
    /// allocations they move: what a later paging buffer of another engine must not touch before this one ran.</summary>
    public readonly List<(ulong Start, ulong End)> Ranges = new();

    /// <summary>Allocations its operations move.</summary>
    public readonly HashSet<AllocationHandle> Moved = new();

    public Span<uint> Dwords(DeviceMemory memory) => MemoryMarshal.Cast<byte, uint>(memory.GetSpan(Physical, CapacityDwords * 4));
}
