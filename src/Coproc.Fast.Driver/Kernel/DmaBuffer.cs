using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>Where a DMA buffer is in the basic model's pipeline (seed 001 §19.3 "DMA buffer (basic model)").</summary>
public enum DmaBufferStatus : byte
{
    /// <summary>In its process's pool.</summary>
    Free = 0,
    /// <summary>In the context's software queue and the ready queue.</summary>
    Ready,
    /// <summary>Selected: the preparation worker owns it (never displaced, §3.3).</summary>
    Preparing,
    /// <summary>Prepared (resident, patched, paging buffer built), waiting to be handed to the hardware.</summary>
    Prepared,
    /// <summary>In the hardware (its last chunk written to the ring).</summary>
    Running,
}

/// <summary>
/// A kernel-only DMA buffer (seed 001 §3.1 step 6, §3.7): the validated copy of a command buffer in kernel memory
/// (a system-memory allocation, never mapped into the application), its resource list and patch sites, and its
/// place in the scheduler's pipeline. Pooled per process (<see cref="KmdProcess"/>); executes as a privileged
/// INDIRECT in the residency manager's kernel view.
/// </summary>
public sealed class DmaBuffer
{
    internal DmaBuffer(KmdProcess process, AllocationHandle allocation, PhysicalAddress physical, ulong kernelAddress,
        int capacityDwords, int maxReferences, int sizeClass = 0)
    {
        Process = process;
        SizeClass = sizeClass;
        Allocation = allocation;
        Physical = physical;
        KernelAddress = kernelAddress;
        CapacityDwords = capacityDwords;
        References = new ResourceReference[maxReferences];
        Sites = new PatchSite[maxReferences];
    }

    /// <summary>The owning process (whose pool it returns to).</summary>
    public KmdProcess Process { get; }

    /// <summary>The kernel allocation holding the packets.</summary>
    public AllocationHandle Allocation { get; }

    /// <summary>Physical address of dword 0.</summary>
    public PhysicalAddress Physical { get; }

    /// <summary>Address of dword 0 in the residency manager's kernel view (what the ring's INDIRECT names).</summary>
    public ulong KernelAddress { get; }

    /// <summary>Its pool's size class (capacity 4 KiB × 2^class, the largest class capped at the DMA buffer size).</summary>
    public int SizeClass { get; }

    /// <summary>Capacity in dwords.</summary>
    public int CapacityDwords { get; }

    /// <summary>Dwords of packets.</summary>
    public int DwordCount { get; internal set; }

    /// <summary>Resource-list entries (each names one operand).</summary>
    public int ReferenceCount { get; internal set; }

    /// <summary>The kernel copy of the resource list.</summary>
    public ResourceReference[] References { get; }

    /// <summary>Operand positions and their original allocation offsets (for patching and re-patching).</summary>
    public PatchSite[] Sites { get; }

    /// <summary>The per-context submission number (1, 2, …).</summary>
    public long SubmissionId { get; internal set; }

    /// <summary>Pipeline stage.</summary>
    public DmaBufferStatus Status { get; internal set; }

    /// <summary>Priority (the context's at submission).</summary>
    public int Priority { get; internal set; }

    // Scheduler bookkeeping (VidSch): ready-queue key and split progress.
    internal object? Owner;
    internal ulong Round;
    internal long Sequence;
    internal int NextChunkStart; // dword where the next chunk begins (0 = not split yet)
    internal int ChunkIndex;
    internal VidSch.Sync.UserModeCompletionEvent? CompletionEvent; // seed 001 §10.4: signalled after its trailing fence

    /// <summary>The packets in device memory.</summary>
    public Span<uint> Dwords(DeviceMemory memory) =>
        MemoryMarshal.Cast<byte, uint>(memory.GetSpan(Physical, CapacityDwords * 4));

    internal void ResetForReuse()
    {
        DwordCount = 0;
        ReferenceCount = 0;
        SubmissionId = 0;
        Status = DmaBufferStatus.Free;
        Owner = null;
        Round = 0;
        Sequence = 0;
        NextChunkStart = 0;
        ChunkIndex = 0;
        CompletionEvent = null;
    }
}
