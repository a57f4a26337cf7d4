using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver;

public sealed partial class Machine
{
    /// <summary>
    /// Creates a ring-3 user queue of <paramref name="processId"/> on <paramref name="engine"/> (seed 003), in every
    /// model: the kernel allocates its descriptor and ring (system memory) and its save area (local memory), registers it
    /// with the device's scheduling core through the ring-0 gate at the granted <paramref name="priority"/>
    /// (<see cref="UserQueueRegistrar.SetPriorityLimit"/>), and the queue then runs in <paramref name="space"/>.
    /// Open it with <see cref="UserQueueRegistration.Open"/>; submissions are written and rung from ring 3 with no
    /// further gate crossing.
    /// </summary>
    /// <param name="processId">The owning process.</param>
    /// <param name="space">The process's GPU address space (its packets use VAs of it).</param>
    /// <param name="contextId">The queue's context id (seed 003 queue contexts; distinct from the kernel schedulers' ids).</param>
    /// <param name="engine">The engine.</param>
    /// <param name="priority">Requested priority 0 … 15 (refused above the process's limit).</param>
    /// <param name="ringBytes">Ring size (a power of two, 4 KiB … 16 MiB).</param>
    /// <param name="timeSliceCycles">Time slice among equal priorities; 0: the scheduler's quantum.</param>
    /// <exception cref="VidMmException">No memory for the queue's kernel objects (its save area is local memory: when the
    /// only room is memory in transit, it waits for that paging first, as <see cref="CreateContext(uint, int, EngineKind)"/>).</exception>
    /// <exception cref="UserQueueRegistrationException">The registrar refused the request (priority, ring, doorbells).</exception>
    /// <exception cref="ArgumentException"><paramref name="space"/> is another machine's, or another process's (the space
    /// <see cref="Process"/> made for another process, a run-list process's of another id, or one another process's queue
    /// was created in); nothing is allocated or registered.</exception>
    public UserQueueRegistration CreateUserQueue(uint processId, GpuAddressSpace space, uint contextId, EngineKind engine, byte priority = 0,
        uint ringBytes = 64 << 10, uint timeSliceCycles = 0)
    {
        ThrowIfDisposed();
        return AfterPagingWhenInTransit(static a => a.M.CreateUserQueueOnce(a.ProcessId, a.Space, a.ContextId, a.Engine, a.Priority, a.RingBytes, a.TimeSlice),
            (M: this, ProcessId: processId, Space: space, ContextId: contextId, Engine: engine, Priority: priority, RingBytes: ringBytes, TimeSlice: timeSliceCycles));
    }

    private UserQueueRegistration CreateUserQueueOnce(uint processId, GpuAddressSpace space, uint contextId, EngineKind engine, byte priority,
        uint ringBytes, uint timeSliceCycles)
    {
        ArgumentNullException.ThrowIfNull(space);
        // Invariant: a queue runs only in a GPU address space of this machine's VidMm. Another machine's space has its page
        // tables in that machine's memory: this device would walk the same physical addresses here — this machine's
        // memory, possibly another process's — as page tables.
        if (!ReferenceEquals(space.Owner, VidMm))
            throw new ArgumentException("the GPU address space was made by another machine's VidMm", nameof(space));
        // Invariant: a space runs one process's work (GpuAddressSpace.ProcessId): Machine.Process(2)'s space, or a space
        // process 2's queue already runs in, is refused for process 1, nothing allocated or registered.
        lock (Scheduler.KernelLock) space.ClaimFor(processId, nameof(space));
        if (timeSliceCycles == 0) timeSliceCycles = (uint)Math.Min(Options.Scheduler.QuantumCycles, uint.MaxValue);
        AllocationHandle descriptor = default, ring = default, save = default;
        try
        {
            lock (Scheduler.KernelLock)
            {
                descriptor = VidMm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
                ring = VidMm.Allocate(ringBytes, ringBytes, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
                save = VidMm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
                Device.Memory.GetSpan(VidMm.PhysicalAddressOf(descriptor, 0), (int)VideoMemoryManager.PageSize).Clear();
                Device.Memory.GetSpan(VidMm.PhysicalAddressOf(save, 0), (int)VideoMemoryManager.PageSize).Clear();
            }
            var registration = UserQueues.Register(processId, new UserQueueRegistrationRequest
            {
                ContextId = contextId, Engine = engine, Priority = priority, TimeSliceCycles = timeSliceCycles,
                DescriptorAddress = VidMm.PhysicalAddressOf(descriptor, 0).Encoded,
                RingBase = VidMm.PhysicalAddressOf(ring, 0).Encoded, RingBytes = ringBytes,
            }, new UserQueueExecution(VidMm.PhysicalAddressOf(save, 0), space.Descriptor), space);
            return registration;
        }
        catch
        {
            // Nothing is left allocated for a refused queue.
            lock (Scheduler.KernelLock)
            {
                if (!save.IsNull) VidMm.Free(save);
                if (!ring.IsNull) VidMm.Free(ring);
                if (!descriptor.IsNull) VidMm.Free(descriptor);
            }
            throw;
        }
    }
}
