using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// A DMA buffer of the advanced model (seed 001 §5.1): pinned memory mapped into the process — read-only for the GPU,
/// written directly by the UMD through its CPU view — whose packets reference allocations by their invariant VAs, so
/// the kernel submits it as is (no patching, no copy unless enforcement option 1 asks for one).
/// </summary>
public sealed class UserDmaBuffer
{
    private readonly DeviceMemory _memory;
    private readonly PhysicalAddress _pa;

    internal UserDmaBuffer(VaProcess process, DeviceMemory memory, AllocationHandle handle, PhysicalAddress pa, ulong va, int capacity)
    {
        Process = process;
        _memory = memory;
        Handle = handle;
        _pa = pa;
        Va = va;
        CapacityDwords = capacity;
    }

    /// <summary>The owning process.</summary>
    public VaProcess Process { get; }

    /// <summary>The allocation.</summary>
    public AllocationHandle Handle { get; }

    /// <summary>GPU VA of dword 0 in the process's space.</summary>
    public ulong Va { get; }

    /// <summary>Capacity in dwords.</summary>
    public int CapacityDwords { get; }

    /// <summary>The UMD's view of the buffer (the process's CPU mapping of it).</summary>
    public Span<uint> Dwords => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(_memory.GetSpan(_pa, CapacityDwords * 4));

    /// <summary>A packet writer over the whole buffer (the UMD writes packets at VAs, seed 001 §5.1).</summary>
    public PacketWriter Writer() => new(Dwords);
}
