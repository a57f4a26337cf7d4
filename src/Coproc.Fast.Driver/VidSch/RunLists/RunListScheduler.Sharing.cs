using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Sharing an allocation across processes in the advanced model (seed 001 §4.2: each process has its own GPU address
// space; §9.3: the compositor reads other applications' surfaces). A process may map another process's allocation only
// when the kernel's record of the process names it — the same record the kernel path's validation checks (KmdProcess,
// seed 001 §3.7), to which sharing adds the handle — so one access rule holds on both back ends.
// Invariant: a managed (evictable) allocation's new mapping is valid exactly when the allocation is resident, as every
// other mapping of it is (VidMm rewrites or invalidates all of rec.GpuMappings on a move): a non-resident one faults on
// first use or is paged in by a listed prefetch; a resident one must not be invalid, or a fault on it would find nothing
// to page in and repeat forever.
public sealed partial class RunListScheduler
{
    /// <summary>
    /// The kernel's access record (set by the machine): true when process <c>id</c> may use the allocation — it owns it
    /// or it was shared with it (<see cref="Kernel.KmdProcess.Own"/>). Null: only a process's own allocations.
    /// </summary>
    internal Func<uint, AllocationHandle, bool>? KernelAccess { get; set; }

    internal GpuAllocation MapShared(VaProcess process, AllocationHandle handle, GpuMappingFlags flags)
    {
        lock (KernelLock)
        {
            foreach (var a in process.Allocations)
                if (a.Handle == handle) return a; // already in its space: one VA per allocation
            if (!VidMm.IsLive(handle))
                throw new VidMmException(VidMmError.InvalidHandle, $"allocation {handle} is not live");
            if (KernelAccess?.Invoke(process.Id, handle) != true) throw new AllocationNotSharedException(process.Id, handle);
            ulong bytes = VidMm.SizeOf(handle);
            bool managed = Residency.IsManaged(handle);
            ulong va = process.Space.MapAllocation(handle, flags);
            if (managed && !Residency.IsResident(handle)) process.Space.InvalidateMappingNow(va);
            var mapped = new GpuAllocation(handle, va, bytes, managed);
            process.Add(mapped); // a fault on it is a page fault of this process's allocation (RunListScheduler.Paging.cs)
            return mapped;
        }
    }
}

/// <summary>
/// A process asked to map an allocation it may not use: neither its own nor shared with it through the kernel's record
/// of the process (<see cref="Kernel.KmdProcess.Own"/>). Nothing was mapped.
/// </summary>
public sealed class AllocationNotSharedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public AllocationNotSharedException(uint processId, AllocationHandle handle)
        : base($"process {processId} may not use allocation {handle}: it is neither the process's nor shared with it")
    {
        ProcessId = processId;
        Handle = handle;
    }

    /// <summary>The process that asked.</summary>
    public uint ProcessId { get; }

    /// <summary>The allocation it asked for.</summary>
    public AllocationHandle Handle { get; }
}
