using System.Numerics;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// What a process asks for when it opens a ring-3 queue with <see cref="UserQueueRegistrar.Open"/> (copied in by the
/// gate): only the scheduling parameters and the ring size — the kernel creates the context id and allocates all memory,
/// so a process never names a physical address.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct UserQueueOpenRequest
{
    /// <summary>Engine that runs the queue.</summary>
    public EngineKind Engine;
    /// <summary>Priority 0 (lowest) .. 15 (highest).</summary>
    public byte Priority;
    /// <summary>Time slice in device cycles (≥ 1).</summary>
    public uint TimeSliceCycles;
    /// <summary>Ring size in bytes (power of two, 4 KiB .. 16 MiB).</summary>
    public uint RingBytes;
}

/// <summary>The memory the kernel allocated for one user queue and the CPU mappings it made of it.</summary>
internal sealed class UserQueueMemory(VideoMemoryManager vidmm, CpuAddressSpace process, AllocationHandle descriptor,
    AllocationHandle ring, AllocationHandle saveArea, ulong descriptorVa, ulong ringVa)
{
    /// <summary>Unmaps the descriptor and ring from the process and frees the three allocations.</summary>
    public void Release()
    {
        if (descriptorVa != 0) vidmm.UnmapFromCpu(process, descriptorVa);
        if (ringVa != 0) vidmm.UnmapFromCpu(process, ringVa);
        vidmm.Free(descriptor);
        vidmm.Free(ring);
        vidmm.Free(saveArea);
    }
}

public sealed partial class UserQueueRegistrar
{
    /// <summary>
    /// First context id the kernel creates for queues opened with <see cref="Open"/>: above every other back end's range
    /// (a machine's kernel-path contexts from <c>VidSchOptions.FirstContextId</c>, 0x1_0000, 4,096 per engine; run-list
    /// contexts from <c>RunListOptions.FirstContextId</c>, 0x2_0000), so ids stay unique across the machine.
    /// </summary>
    public const uint FirstKernelContextId = 0x0100_0000;

    private uint _nextContextId = FirstKernelContextId;

    /// <summary>
    /// Opens a ring-3 queue for <paramref name="processId"/> (seed 003 "registration, once, through ring 0"),
    /// all in exactly one gate entry: the kernel creates a fresh context id, allocates the ring descriptor and the ring in
    /// system memory and maps both writable into the process's CPU address space <paramref name="process"/>, allocates the
    /// context's save area in local memory (the context runs in <paramref name="gpu"/>), picks a doorbell, programs the
    /// doorbell block and scheduling core, and maps the doorbell page into the process. <see cref="Unregister"/> undoes all of it.
    /// VidMm and <see cref="CpuAddressSpace"/> are not thread-safe: call this under the kernel lock that serialises VidMm
    /// requests — except on a <see cref="Machine"/>'s registrar (<see cref="Machine.UserQueues"/>), which takes its kernel
    /// lock itself: called from the host's thread outside that lock, it waits, when the save area's only room in local
    /// memory is memory in transit (docs/memory.md), for that paging and tries again, as
    /// <see cref="Machine.CreateUserQueue"/> does; under the lock or on a machine thread the typed refusal stands.
    /// </summary>
    /// <param name="processId">The calling process.</param>
    /// <param name="vidmm">The device's memory manager (kernel side; never crosses the gate).</param>
    /// <param name="process">The process's CPU address space (the kernel's record of the caller).</param>
    /// <param name="gpu">The process's GPU address space: the queue's packets use its VAs.</param>
    /// <param name="request">The process's arguments.</param>
    /// <exception cref="DoorbellsExhaustedException">All 256 doorbells are in use; nothing stays allocated.</exception>
    /// <exception cref="UserQueueRegistrationException">The request is malformed or the device refused it; nothing stays allocated.</exception>
    /// <exception cref="VidMmException">No memory for the queue; nothing stays allocated.</exception>
    public UserQueueRegistration Open(uint processId, VideoMemoryManager vidmm, CpuAddressSpace process, GpuAddressSpace gpu,
        in UserQueueOpenRequest request)
    {
        ArgumentNullException.ThrowIfNull(vidmm);
        ArgumentNullException.ThrowIfNull(process);
        ArgumentNullException.ThrowIfNull(gpu);
        using var call = _gate.Enter(processId, MemoryMarshal.AsBytes(new ReadOnlySpan<UserQueueOpenRequest>(in request)));
        var req = call.Read<UserQueueOpenRequest>(); // only the kernel's copy from here on
        // Refuse a bad size before allocating anything (the rest is checked by RegisterLocked's Validate).
        if (req.RingBytes < 4096 || req.RingBytes > (16u << 20) || !BitOperations.IsPow2(req.RingBytes))
            throw new UserQueueRegistrationException(DoorbellStatus.Ok, $"ring size {req.RingBytes} is not a power of two in 4 KiB .. 16 MiB");

        // Ordering, not refusal (VidMm/Residency/ResidencyManager.InTransit.cs). Decided before the call: an exception
        // filter runs before the call's locks are released.
        bool mayWait = KernelLock is not null && InTransitWait is { MayWait: true };
        try { return OpenUnderKernelLock(processId, vidmm, process, gpu, req); }
        catch (VidMmException e) when (mayWait && e.Error == VidMmError.OutOfLocalMemory)
        {
            // Nothing stays allocated for the refused attempt; wait (outside every lock) for the paging, then once more.
            if (!InTransitWait!.WaitAndRetire()) throw;
            return OpenUnderKernelLock(processId, vidmm, process, gpu, req);
        }
    }

    /// <summary>Set by <c>Machine</c>: the kernel lock <see cref="Open"/> takes (lock order: kernel lock, then the doorbell block's).</summary>
    internal object? KernelLock { get; init; }

    /// <summary>Set by <c>Machine</c>: <see cref="Open"/> waits for memory in transit instead of refusing.</summary>
    internal VidMm.Residency.InTransitWait? InTransitWait { get; init; }

    private UserQueueRegistration OpenUnderKernelLock(uint processId, VideoMemoryManager vidmm, CpuAddressSpace process, GpuAddressSpace gpu,
        UserQueueOpenRequest req)
    {
        if (KernelLock is null) return OpenOnce(processId, vidmm, process, gpu, req);
        lock (KernelLock) return OpenOnce(processId, vidmm, process, gpu, req);
    }

    private UserQueueRegistration OpenOnce(uint processId, VideoMemoryManager vidmm, CpuAddressSpace process, GpuAddressSpace gpu,
        UserQueueOpenRequest req)
    {
        lock (_doorbellBlock)
        {
            var flags = AllocationFlags.Contiguous | AllocationFlags.CpuVisible;
            AllocationHandle desc = default, ring = default, save = default;
            ulong descVa = 0, ringVa = 0;
            bool ok = false;
            int allocated = 0;
            try
            {
                desc = vidmm.Allocate(4096, 4096, PlacementHint.SystemOnly, flags); allocated++;
                ring = vidmm.Allocate(req.RingBytes, 4096, PlacementHint.SystemOnly, flags); allocated++;
                save = vidmm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous); allocated++;
                // seed 003: the user queue lives in memory the process can write (its WritePtr and its entries).
                descVa = vidmm.MapToCpu(process, desc, 0, 4096, CpuAddressHalf.User, writable: true);
                ringVa = vidmm.MapToCpu(process, ring, 0, req.RingBytes, CpuAddressHalf.User, writable: true);
                // Skip an id a caller of Register took in this range (ids unique across the machine, GpuContext).
                while (_nextContextId <= int.MaxValue && ContextIdInUse?.Invoke((int)_nextContextId) == true) _nextContextId++;
                uint context = _nextContextId++;
                var full = new UserQueueRegistrationRequest
                {
                    ContextId = context, Engine = req.Engine, Priority = req.Priority, TimeSliceCycles = req.TimeSliceCycles,
                    DescriptorAddress = vidmm.PhysicalAddressOf(desc, 0).Encoded, RingBase = vidmm.PhysicalAddressOf(ring, 0).Encoded,
                    RingBytes = req.RingBytes,
                };
                var execution = new UserQueueExecution(vidmm.PhysicalAddressOf(save, 0), gpu.Descriptor);
                var reg = RegisterLocked(processId, full, execution, process, gpu);
                ok = true;
                return reg.Context.Registration = reg with
                {
                    RingVa = ringVa, DescriptorVa = descVa,
                    KernelAllocated = new UserQueueMemory(vidmm, process, desc, ring, save, descVa, ringVa),
                };
            }
            finally
            {
                if (!ok)
                {
                    if (ringVa != 0) vidmm.UnmapFromCpu(process, ringVa);
                    if (descVa != 0) vidmm.UnmapFromCpu(process, descVa);
                    if (allocated > 2) vidmm.Free(save);
                    if (allocated > 1) vidmm.Free(ring);
                    if (allocated > 0) vidmm.Free(desc);
                }
            }
        }
    }
}
