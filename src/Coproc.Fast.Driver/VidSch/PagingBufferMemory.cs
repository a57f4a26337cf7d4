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

    public Span<uint> Dwords(DeviceMemory memory) => MemoryMarshal.Cast<byte, uint>(memory.GetSpan(Physical, CapacityDwords * 4));
}
