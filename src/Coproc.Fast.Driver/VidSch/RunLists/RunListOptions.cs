using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>How the advanced scheduler tells the device which contexts to run (seed 001 §6.4 / §6.5).</summary>
public enum RunListMechanism
{
    /// <summary>Two-element lists obeying rules 1 and 2, an interrupt on every switch and the running-context query (§6.4).</summary>
    TwoElement = 0,
    /// <summary>N-element lists; the interrupt handler reconstructs the switches from the history buffer (§6.5, Fig. 19).</summary>
    History = 1,
}

/// <summary>How limited (user-built) DMA buffers are kept from privileged functionality (seed 001 §7.4).</summary>
public enum PrivilegeEnforcement
{
    /// <summary>Option 1: the kernel checks the user's buffer for privileged instructions only and copies it into a kernel-owned buffer.</summary>
    KernelCopy = 1,
    /// <summary>Option 2: the user's buffer runs as is (limited); the kernel writes privileged commands straight into the kernel-only ring.</summary>
    RingInsertion = 2,
    /// <summary>Option 3: privileged commands live in kernel-built DMA buffers named by an INDIRECT whose bit 0 is set.</summary>
    IndirectBit = 3,
}

/// <summary>What a fault resolution brings in (seed 001 §5.6 surface-level vs §5.8 page-level faulting).</summary>
public enum FaultGranularity
{
    /// <summary>Surface level: the allocation holding the faulting VA plus every resource the context's outstanding buffers listed.</summary>
    Surface = 0,
    /// <summary>Page level: only the faulting VA is used; VidMm brings in the allocation holding it (its whole extent is the prefetch).</summary>
    Page = 1,
}

/// <summary>
/// The run-list back end of the advanced scheduling model (seed 001 §4–§7; <see cref="MachineOptions.RunLists"/>, used when
/// <see cref="MachineOptions.Model"/> is <see cref="SchedulingModel.Advanced"/>).
/// </summary>
public sealed record RunListOptions
{
    /// <summary>The engine every context (and VidMm's paging context) runs on. Default render.</summary>
    public EngineKind Engine { get; init; } = EngineKind.Render;

    /// <summary>
    /// Every engine the run-list back end drives, each with its own current and pending list (native-layout.md §10.5)
    /// and the device's one history buffer read once and dispatched by each record's engine (§10.6). Null (the
    /// default): <see cref="Engine"/> alone. <see cref="Engine"/> must be one of them: VidMm's paging context runs there.
    /// </summary>
    public IReadOnlyList<EngineKind>? Engines { get; init; }

    /// <summary>Run-list mechanism. Default two-element.</summary>
    public RunListMechanism Mechanism { get; init; } = RunListMechanism.TwoElement;

    /// <summary>History mode: the longest run list (2 … 16); the history buffer holds at least twice as many records.</summary>
    public int RunListLength { get; init; } = 4;

    /// <summary>Limited-vs-privileged enforcement option. Default 3 (privilege bit in the ring's redirect).</summary>
    public PrivilegeEnforcement Privilege { get; init; } = PrivilegeEnforcement.IndirectBit;

    /// <summary>Fault granularity. Default surface level.</summary>
    public FaultGranularity Faults { get; init; } = FaultGranularity.Surface;

    /// <summary>Per-context ring bytes (power of two, 4 KiB … 16 MiB). Default 16 KiB.</summary>
    public uint RingBytes { get; init; } = 16 << 10;

    /// <summary>VidMm paging context ring bytes. Default 256 KiB.</summary>
    public uint PagingRingBytes { get; init; } = 256 << 10;

    /// <summary>Option 1: bytes of each context's kernel copy arena. Default 64 KiB.</summary>
    public uint KernelCopyBytes { get; init; } = 64 << 10;

    /// <summary>
    /// Page-table format of the processes' GPU address spaces (seed 001 §5.4.1 flat with a limit register, §5.4.2
    /// multi-level). Default multi-level; <see cref="RunListScheduler.CreateProcess(Coproc.Fast.Device.Mmu.PageTableFormat)"/> can choose per
    /// process, so one machine may run both.
    /// </summary>
    public Coproc.Fast.Device.Mmu.PageTableFormat PageTables { get; init; } = Coproc.Fast.Device.Mmu.PageTableFormat.MultiLevel;

    /// <summary>
    /// Flat page tables: the VA each process may use, a power of two ≥ 2 MiB. The whole table (8 bytes per 4 KiB page:
    /// 512 KiB for the default 256 MiB) is allocated when the process is created and never moves, because every
    /// context of the process holds its root and limit in its save area (seed 001 §5.4.1).
    /// </summary>
    public ulong FlatVaBytes { get; init; } = 256UL << 20;

    /// <summary>
    /// Timeout detection (seed 001 §13): a context that stays the running context of the engine this long — active time,
    /// sampled at every quantum tick — without its scheduler fence advancing is stopped (<see cref="VaContextState.Error"/>,
    /// its buffers fail; no other context is touched). Waiting for a turn never counts. Default 2·10⁹ cycles (2 s). Every span
    /// of cycles here is 1 … <see cref="MachineOptions.MaxCycleSpan"/> (the paging service cost may be 0), checked when the
    /// scheduler is made.
    /// </summary>
    public ulong TimeoutCycles { get; init; } = 2_000_000_000;

    /// <summary>Quantum: a head that ran this long yields to an equal-or-higher-priority ready context. Default 200 µs at 1 GHz.</summary>
    public ulong QuantumCycles { get; init; } = 200_000;

    /// <summary>Paging list: a waiting context gains one priority level per period (seed 001 §5.6 periodic boost). Default 100 µs.</summary>
    public ulong PagingBoostPeriodCycles { get; init; } = 100_000;

    /// <summary>Modeled CPU cost of the paging thread serving one request (deterministic mode). Default 5 µs.</summary>
    public ulong PagingServiceCycles { get; init; } = 5_000;

    /// <summary>Most entries the scheduler's event log keeps; later events are counted, not stored. Default 1 Mi.</summary>
    public int EventLogCapacity { get; init; } = 1 << 20;

    /// <summary>First context id of the advanced model (distinct from the basic model's and VidMm's).</summary>
    public uint FirstContextId { get; init; } = 0x2_0000;
}
