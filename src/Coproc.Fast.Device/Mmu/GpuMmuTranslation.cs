using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.Mmu;

/// <summary>
/// Single-page translation through a client TLB: <c>mmu.Translate(tlb, space, va, access, privileged, out run)</c>.
/// </summary>
internal static class GpuMmuTranslation
{
    // Design: an extension method, not an instance method of GpuMmu, because a TLB hit reads nothing of the MMU. An
    // inlined instance call keeps a null check of the MMU on every hit (a load and a compare in the caller's loop, which
    // the JIT cannot hoist: the loop holds the miss call); here the MMU is touched only on a miss (GpuMmu.TranslateMiss).
    // The hit itself is Tlb.TryHitLocal: one table pointer and one mask read from the TLB, then the entry's comparator,
    // owner and addend — no data word: that hit is for local memory only (the owner compare says so), so the run's location
    // is a constant; a cached system-memory page is found by TranslateMiss's TLB lookup, still without a walk
    // (docs/performance.md goal 5, ninth session).

    /// <summary>
    /// Translates the page that holds <paramref name="va"/>. The run covers [va, end of that 4 KiB page).
    /// </summary>
    /// <param name="mmu">The MMU (read on a TLB miss only).</param>
    /// <param name="tlb">The client's TLB, or null for an uncached walk.</param>
    /// <param name="space">The address space.</param>
    /// <param name="va">Virtual address.</param>
    /// <param name="access">Read or write.</param>
    /// <param name="privileged">True for a privileged DMA buffer (may touch P pages).</param>
    /// <param name="run">The backing run on success.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TranslationStatus Translate(this GpuMmu mmu, Tlb? tlb, in AddressSpaceDescriptor space, ulong va, AccessKind access, bool privileged, out PageRun run)
    {
        if (tlb is not null && tlb.TryHitLocal(space.Asid, va, Tlb.AccessClass(access, privileged), out ulong offset))
        {
            run = new PageRun(MemoryLocation.Local, offset, PageTableLayout.PageSize - (va & (PageTableLayout.PageSize - 1)));
            return TranslationStatus.Ok;
        }
        // The slow path fills a local of its own: passing 'run' itself by reference would keep it in memory on the hit path too.
        var s = mmu.TranslateMiss(tlb, space, va, access, privileged, out PageRun slow);
        run = slow;
        return s;
    }
}
