using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>An allocation as a process sees it in the advanced model: a handle and its invariant GPU VA (seed 001 §4.2).</summary>
/// <param name="Handle">The VidMm allocation.</param>
/// <param name="Va">Its VA in the owning process's address space; never changes while it lives.</param>
/// <param name="Bytes">Size in bytes.</param>
/// <param name="Managed">True when the residency manager may evict it (a surface); false for pinned memory.</param>
public readonly record struct GpuAllocation(AllocationHandle Handle, ulong Va, ulong Bytes, bool Managed)
{
    /// <summary>True when <paramref name="va"/> lies inside the allocation.</summary>
    public bool Contains(ulong va) => va >= Va && va - Va < Bytes;
}

/// <summary>
/// One application process of the advanced model (seed 001 §4.2, §5.1): a private GPU address space whose invalid VAs
/// fault, the allocations mapped in it at invariant VAs, and the DMA buffers the UMD writes directly. Created by
/// <see cref="RunListScheduler.CreateProcess()"/>.
/// </summary>
public sealed class VaProcess
{
    private readonly RunListScheduler _owner;
    private readonly List<GpuAllocation> _allocations = new();

    internal VaProcess(RunListScheduler owner, uint id, GpuAddressSpace space, ulong pagingFenceVa)
    {
        _owner = owner;
        Id = id;
        Space = space;
        PagingFenceVa = pagingFenceVa;
    }

    /// <summary>
    /// Process id: the id the kernel path knows the process by (the same number space as <see cref="Kernel.Kmd.Process"/>),
    /// which synchronization-object access lists name.
    /// </summary>
    public uint Id { get; }

    /// <summary>The process's GPU address space (FaultOnInvalid: an unbacked VA stops only the context using it).</summary>
    public GpuAddressSpace Space { get; }

    /// <summary>VA of VidMm's paging fence, mapped read-only: the ring's WAIT_FENCE before a prefetched buffer reads it.</summary>
    public ulong PagingFenceVa { get; }

    /// <summary>The allocations mapped in the space (surfaces, pinned memory, DMA buffers).</summary>
    public IReadOnlyList<GpuAllocation> Allocations => _allocations;

    /// <summary>
    /// Creates an evictable surface of <paramref name="bytes"/> and maps it at an invariant VA (seed 001 §5.1). It starts
    /// not resident: its PTEs are invalid until a prefetch or a fault pages it in.
    /// </summary>
    public GpuAllocation AllocateSurface(ulong bytes) => _owner.AllocateSurface(this, bytes);

    /// <summary>
    /// Creates pinned local memory of <paramref name="bytes"/> mapped with <paramref name="flags"/> (a P page for
    /// <see cref="GpuMappingFlags.Privileged"/>), for tests of privileged memory and for kernel-owned ranges.
    /// </summary>
    public GpuAllocation AllocatePinned(ulong bytes, GpuMappingFlags flags = GpuMappingFlags.Writable) => _owner.AllocatePinned(this, bytes, flags);

    /// <summary>
    /// Creates memory of <paramref name="bytes"/> pinned in <b>system</b> memory and maps it writable: the device reads
    /// and writes it where it is, through the GPU page tables (seed 001 §4.2, location bit), and it is never paged into
    /// local memory — for data a context streams once rather than reuses. Reads zeros at first.
    /// </summary>
    /// <exception cref="VidMm.VidMmException"><see cref="VidMm.VidMmError.OutOfSystemMemory"/> (nothing changed).</exception>
    public GpuAllocation AllocateInSystemMemory(ulong bytes) => _owner.AllocatePinned(this, bytes, GpuMappingFlags.Writable, VidMm.PlacementHint.SystemOnly);

    /// <summary>
    /// Maps another process's allocation into this process's address space (seed 001 §9.3: a compositor reads other
    /// applications' surfaces) and records it as one of the process's allocations, so a fault on it is served like a
    /// fault on its own. The process may map only what the kernel's record of it names — sharing is
    /// <see cref="Kernel.KmdProcess.Own"/> on that record, as on the kernel path. A managed allocation's mapping is valid
    /// only while it is resident (list it in a submission's resources to have it prefetched). An allocation already in
    /// the space is returned as it is.
    /// </summary>
    /// <param name="handle">The allocation.</param>
    /// <param name="flags">How this process may access it (read-only by default: a reader of another's surface).</param>
    /// <returns>The allocation at its VA in this process's space.</returns>
    /// <exception cref="AllocationNotSharedException">The allocation is neither the process's nor shared with it.</exception>
    /// <exception cref="VidMmException">The handle is not live, or the address space has no room for it.</exception>
    public GpuAllocation MapShared(AllocationHandle handle, GpuMappingFlags flags = GpuMappingFlags.ReadOnly) => _owner.MapShared(this, handle, flags);

    /// <summary>Creates a DMA buffer of <paramref name="dwords"/> that the UMD writes directly (seed 001 §5.1).</summary>
    public UserDmaBuffer CreateDmaBuffer(int dwords) => _owner.CreateDmaBuffer(this, dwords);

    /// <summary>The allocation holding <paramref name="va"/>, if any (VidMm's "which allocation faulted", seed 001 §5.8).</summary>
    public bool TryFind(ulong va, out GpuAllocation allocation)
    {
        foreach (var a in _allocations)
            if (a.Contains(va)) { allocation = a; return true; }
        allocation = default;
        return false;
    }

    /// <summary>True when the process owns <paramref name="handle"/>.</summary>
    public bool Owns(AllocationHandle handle)
    {
        foreach (var a in _allocations)
            if (a.Handle == handle) return true;
        return false;
    }

    internal void Add(GpuAllocation a) => _allocations.Add(a);

    internal void Remove(ulong va) => _allocations.RemoveAll(a => a.Va == va);

    internal static ResourceReference Reference(AllocationHandle h) => new(h, 0, 0, true);
}
