using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Driver;

/// <summary>
/// An application process as the machine knows it (<see cref="Machine.Process"/>): its id — the one the KMD, the
/// synchronization objects and every back end know it by — its GPU address space (the VAs its ring-3 queues and, in the
/// advanced model, its run-list contexts use; invalid VAs fault), its CPU address space (where the kernel maps a queue's
/// ring and doorbell page for it) and, in the advanced model, its run-list process.
/// </summary>
public sealed class MachineProcess
{
    internal MachineProcess(uint id, GpuAddressSpace gpuSpace, CpuAddressSpace cpuSpace, ulong pagingFenceVa, VaProcess? runLists)
    {
        Id = id;
        GpuSpace = gpuSpace;
        CpuSpace = cpuSpace;
        PagingFenceVa = pagingFenceVa;
        RunLists = runLists;
    }

    /// <summary>The process id.</summary>
    public uint Id { get; }

    /// <summary>
    /// Its GPU address space: the advanced model's run-list process's space (page tables in
    /// <see cref="RunListOptions.PageTables"/>' format), otherwise a space of its own (multi-level tables); both fault on
    /// invalid VAs.
    /// </summary>
    public GpuAddressSpace GpuSpace { get; }

    /// <summary>Its CPU address space (the kernel maps opened queues' rings and doorbell pages here).</summary>
    public CpuAddressSpace CpuSpace { get; }

    /// <summary>The machine's paging fence (<see cref="Machine.Paging"/>), mapped read-only into <see cref="GpuSpace"/>: a WAIT_FENCE on it waits for paging.</summary>
    public ulong PagingFenceVa { get; }

    /// <summary>Advanced model: its run-list process (the same <see cref="GpuSpace"/>); null in the other models.</summary>
    public VaProcess? RunLists { get; }

    // GPU VAs of allocations Machine.TrySubmit mapped into GpuSpace, by allocation (index << 32 | generation: a key whose
    // hash is the same in every process, as a machine save-state needs). The space lives as long as the machine, so an
    // entry never outlives it, and VidMm refuses to free a mapped allocation (VidMmError.StillMapped), so it never names
    // freed memory.
    internal Dictionary<ulong, ulong> SubmissionVas { get; } = new();
}
