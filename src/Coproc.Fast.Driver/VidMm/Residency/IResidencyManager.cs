using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Driver.VidMm.Residency;

/// <summary>
/// One entry of a DMA buffer's resource list (seed 001 §3.2, Fig. 5): which allocation is referenced, at which
/// byte offset of the command buffer the reference sits (also a candidate split point, §3.4), under which
/// resource id (0 = render target, 1 = depth, …; references with different ids are used simultaneously and may
/// not be separated by a split) and whether the buffer writes it.
/// </summary>
/// <param name="Handle">The referenced allocation.</param>
/// <param name="BufferOffset">Byte offset in the command/DMA buffer of the packet holding the reference.</param>
/// <param name="ResourceId">Resource slot (0 = render target, 1 = depth, …).</param>
/// <param name="Write">True when the buffer writes the allocation.</param>
public readonly record struct ResourceReference(AllocationHandle Handle, uint BufferOffset, ushort ResourceId, bool Write);

/// <summary>The kind of one VidMm command-list entry (seed 001 §3.5, Fig. 6).</summary>
public enum PagingOperationKind : byte
{
    /// <summary>Copy the allocation out of local memory to its system-memory backing store and free the local pages.</summary>
    Evict = 1,
    /// <summary>Copy the allocation from its backing store into local memory.</summary>
    PageIn = 2,
    /// <summary>Move the allocation from one local location to another (compaction).</summary>
    Relocate = 3,
}

/// <summary>
/// One VidMm command-list entry: an operation with the allocation's current and new location (seed 001 §3.5).
/// <see cref="PreFence"/> / <see cref="PostFence"/> mark operations whose CPU work must happen before / after the
/// copy (e.g. unlocking system pages, freeing the source range); the paging-buffer builder aggregates the post
/// fences and merges a post fence with a later dependent pre fence (§3.6).
/// </summary>
/// <remarks>
/// A resident allocation may lie in several extents of local memory (docs/memory.md): its page-in or eviction is then
/// one operation per extent, each moving the piece [<see cref="Offset"/>, +<see cref="Bytes"/>) of the allocation.
/// </remarks>
/// <param name="Kind">What the operation does.</param>
/// <param name="Handle">The allocation moved.</param>
/// <param name="From">Current physical location of the piece's first byte (byte <paramref name="Offset"/> of the allocation).</param>
/// <param name="To">New physical location of the piece's first byte.</param>
/// <param name="Bytes">Bytes copied (the piece's length; the whole allocation when it moves in one piece).</param>
/// <param name="PreFence">CPU work must complete before the copy starts (needs a fence after earlier ops).</param>
/// <param name="PostFence">CPU work must follow the copy (needs a fence after it).</param>
/// <param name="Offset">Byte offset in the allocation of the piece moved (0 when it moves in one piece).</param>
public readonly record struct PagingOperation(PagingOperationKind Kind, AllocationHandle Handle, PhysicalAddress From,
    PhysicalAddress To, ulong Bytes, bool PreFence, bool PostFence, ulong Offset = 0);

/// <summary>Result of <see cref="IResidencyManager.MakeResident"/>.</summary>
public enum ResidencyOutcome
{
    /// <summary>Every referenced allocation was already resident where the device can reach it; no paging needed.</summary>
    AlreadyResident,
    /// <summary>Paging operations were appended; once they have run (in a paging buffer) everything is resident.</summary>
    PagingRequired,
    /// <summary>The resource set cannot be resident at once even after eviction; nothing changed (the caller splits).</summary>
    DoesNotFit,
}

/// <summary>
/// What the scheduler's preparation worker (VidSch) asks of VidMm for one DMA buffer (seed 001 §3.1 steps 6–9,
/// §3.5–§3.6, §5.5): make a resource set resident (evicting others, current context first), describe the moves as a
/// command list, turn the command list into a paging buffer, and give the addresses used to patch the DMA buffer.
/// Implemented by VidMm over the hardware interface only.
/// </summary>
public interface IResidencyManager
{
    /// <summary>
    /// Address space in which basic-model (patched) DMA buffers and paging buffers execute: a privileged,
    /// kernel-only view of physical memory; <see cref="PatchAddress"/> returns addresses in it.
    /// </summary>
    AddressSpaceDescriptor KernelView { get; }

    /// <summary>Bytes of local memory a single resource set may occupy at most (local size minus pinned memory).</summary>
    ulong ResidentBudget { get; }

    /// <summary>Bytes of the distinct allocations referenced by <paramref name="resources"/>.</summary>
    ulong FootprintOf(ReadOnlySpan<ResourceReference> resources);

    /// <summary>
    /// Makes every allocation in <paramref name="resources"/> resident for a buffer of <paramref name="contextId"/>,
    /// evicting least-recently-used allocations (the current context's first, others after, seed 001 §5.5) and
    /// appending the moves to <paramref name="commands"/>. The bookkeeping changes at once (the new locations are
    /// what <see cref="PatchAddress"/> returns), so the caller must run the paging buffer before the DMA buffer.
    /// On <see cref="ResidencyOutcome.DoesNotFit"/> nothing changes.
    /// </summary>
    ResidencyOutcome MakeResident(ReadOnlySpan<ResourceReference> resources, int contextId, List<PagingOperation> commands);

    /// <summary>
    /// Like <see cref="MakeResident"/>, but evicts only from <paramref name="contextId"/>'s own working set (seed 001
    /// §5.5: before evicting memory from other contexts, evict from the current context and split its DMA buffers so
    /// they fit; only at their minimum size take memory from another context). The default, for residency managers
    /// without working sets, is <see cref="MakeResident"/>.
    /// </summary>
    ResidencyOutcome MakeResidentWithinWorkingSet(ReadOnlySpan<ResourceReference> resources, int contextId, List<PagingOperation> commands) =>
        MakeResident(resources, contextId, commands);

    /// <summary>Marks the allocations referenced by a buffer as used now (LRU), e.g. when the buffer is submitted.</summary>
    void Touch(ReadOnlySpan<ResourceReference> resources, int contextId);

    /// <summary>The address in <see cref="KernelView"/> of byte <paramref name="offset"/> of a resident allocation (patching, seed 000 claim 8).</summary>
    ulong PatchAddress(AllocationHandle handle, ulong offset);

    /// <summary>Dwords <see cref="BuildPagingBuffer"/> needs at most for <paramref name="commands"/>.</summary>
    int MeasurePagingBuffer(ReadOnlySpan<PagingOperation> commands);

    /// <summary>
    /// Writes the paging buffer for <paramref name="commands"/> into <paramref name="destination"/>: one
    /// non-interruptible region (DISABLE_CONTEXT_SWITCH … ENABLE_CONTEXT_SWITCH: a paging buffer keeps the engine until
    /// it completes, seed 001 §3.6 / behaviour 11, native-layout.md §14.4) holding privileged copy packets in order,
    /// fences merged where a pre fence depends on an earlier post fence and the remaining post fences aggregated into
    /// one fence at the end (seed 001 §3.6), each fence writing the next value of the paging fence at
    /// <paramref name="fenceAddress"/> starting from <paramref name="firstFenceValue"/>, with an interrupt. Returns the
    /// dwords written and the number of fences emitted.
    /// </summary>
    int BuildPagingBuffer(ReadOnlySpan<PagingOperation> commands, Span<uint> destination, PhysicalAddress fenceAddress,
        ulong firstFenceValue, out int fencesEmitted);
}
