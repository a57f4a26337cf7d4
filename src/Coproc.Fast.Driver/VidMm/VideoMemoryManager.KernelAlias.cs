using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm;

// Kernel-view aliases of allocations that live in several physical extents (seed 002: portions need not be
// contiguous; seed 001 §4.2: the GPU reaches memory through page tables, so a VA range can be linear over
// scattered pages).
//
// Invariant (patching, seed 000 claim 8 / seed 001 §3.1 step 16): an operand patched into a privileged DMA buffer
// addresses a range the device walks linearly from the patched address. The kernel view maps physical memory
// linearly, which is linear over an allocation only while the allocation is ONE extent; an allocation in several
// extents is therefore patched with the address of its alias — one VA range of the kernel view whose PTEs point at
// the extents in order — so a FILL or COPY that crosses an extent boundary continues in the allocation's next
// extent, never in whatever physically follows the first one (another process's memory). An evictable allocation is
// patched through its alias even in one extent: its patched operands must stay valid when it moves under a chunk
// that has started (seed 001 §3.5 preemption to make room; the alias is retargeted by every move, §4.2).
public sealed partial class VideoMemoryManager
{
    /// <summary>The kernel view's address space, in which aliases are mapped (set by the kernel view).</summary>
    internal GpuAddressSpace? KernelAliasSpace { get; set; }

    /// <summary>
    /// The kernel-view address of byte <paramref name="offset"/>, valid for every byte from there to the allocation's
    /// end: the linear view of physical memory when the allocation is one extent and has no alias, else its alias
    /// (created here on first use).
    /// </summary>
    /// <param name="handle">The allocation.</param>
    /// <param name="offset">Byte offset inside it.</param>
    /// <param name="linear">The linear view's address of a physical address.</param>
    /// <exception cref="VidMmException">Stale handle, offset past the allocation, or no memory for the alias's page tables.</exception>
    internal ulong KernelAddressOf(AllocationHandle handle, ulong offset, Func<Coproc.Fast.Device.Memory.PhysicalAddress, ulong> linear)
    {
        ref var r = ref _allocations.Get(handle);
        if (offset >= r.Size)
            throw new VidMmException(VidMmError.RangeOutsideAllocation, $"offset 0x{offset:X} is past {handle} (0x{r.Size:X} bytes)");
        // An evictable (residency-managed) allocation is always patched through its alias, whatever its extents: a
        // chunk preempted to lend its memory to higher-priority work resumes with the operands it was patched with after
        // its memory moved (evicted and paged in again elsewhere), and only the alias follows a move (every move
        // retargets it in the paging buffer; VidSch's memory-lending invariant, VidSchScheduler.Lending.cs).
        if (r.KernelAliasVa == 0 && r.ExtentCount == 1 && (r.Flags & AllocationFlags.Evictable) == 0) return linear(r.First.Address.Add(offset));
        return EnsureKernelAlias(handle) + offset;
    }

    /// <summary>True when the allocation has a kernel-view alias.</summary>
    internal bool HasKernelAlias(AllocationHandle handle) => _allocations.Get(handle).KernelAliasVa != 0;

    private ulong EnsureKernelAlias(AllocationHandle handle)
    {
        ulong va = _allocations.Get(handle).KernelAliasVa;
        if (va != 0) return va;
        var space = KernelAliasSpace ?? throw new InvalidOperationException("no kernel view: create the residency manager first");
        // Privileged and writable, like the linear view: only privileged (kernel) buffers may reach it. An evictable
        // allocation's alias joins its GPU mappings, so every later move retargets it in the paging buffer (§4.2).
        va = space.MapAllocation(handle, GpuMappingFlags.Writable | GpuMappingFlags.Privileged);
        _allocations.Get(handle).KernelAliasVa = va;
        return va;
    }

    // Unmaps the alias (clearing its PTEs and invalidating the TLBs) before the allocation's memory goes back.
    private void DropKernelAlias(AllocationHandle handle)
    {
        ulong va = _allocations.Get(handle).KernelAliasVa;
        if (va == 0) return;
        KernelAliasSpace!.UnmapAllocation(va);
        _allocations.Get(handle).KernelAliasVa = 0;
    }
}
