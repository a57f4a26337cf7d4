namespace Coproc.Fast.Device.Doorbells;

/// <summary>
/// Register offsets of the doorbell block and scheduling core, relative to
/// <see cref="Mmio.MmioMap.DoorbellBase"/> (native-layout.md §13.3). Registration is staged: select a doorbell
/// in <see cref="Index"/>, write the staging registers, then write a command to <see cref="Command"/> and read
/// the outcome from <see cref="Status"/>.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class DoorbellRegisters
{
    /// <summary>
    /// Number of doorbells (pages of the doorbell BAR, bits of the doorbell vector; native-layout.md §13.1–§13.2).
    /// Guest driver: DB_INDEX ranges over 0 .. DoorbellCount − 1.
    /// </summary>
    public const int DoorbellCount = 256;

    /// <summary>RW32 DB_INDEX: the doorbell (0..255) the staging registers and commands refer to.</summary>
    public const uint Index = 0x00;
    /// <summary>W32 DB_COMMAND: a <see cref="DoorbellCommand"/>.</summary>
    public const uint Command = 0x04;
    /// <summary>R32 DB_STATUS: the <see cref="DoorbellStatus"/> of the last command.</summary>
    public const uint Status = 0x08;
    /// <summary>R32 DB_REGISTERED: number of registered (or faulted, not yet unregistered) doorbells.</summary>
    public const uint RegisteredCount = 0x0C;
    /// <summary>RW64 DB_QUEUE_DESC: encoded physical address of the queue's ring descriptor (64-byte aligned).</summary>
    public const uint QueueDescriptor = 0x10;
    /// <summary>RW32 DB_OWNER: process id of the only writer accepted on the doorbell page (0 = kernel).</summary>
    public const uint Owner = 0x18;
    /// <summary>RW32 DB_CONTEXT: context id; must equal the descriptor's ContextId at every service.</summary>
    public const uint Context = 0x1C;
    /// <summary>RW32 DB_SCHED: bits 0..7 engine, bits 8..11 priority (0 lowest .. 15 highest), rest reserved.</summary>
    public const uint Scheduling = 0x20;
    /// <summary>RW32 DB_TIMESLICE: time slice in device cycles (1 .. 2^32-1).</summary>
    public const uint TimeSlice = 0x24;
    /// <summary>R32 DB_STATE: the <see cref="DoorbellState"/> of the doorbell at DB_INDEX.</summary>
    public const uint State = 0x28;
    /// <summary>R64 DB_UNREGISTERED_WRITES: doorbell page writes to unregistered doorbells (ignored).</summary>
    public const uint UnregisteredWrites = 0x30;
    /// <summary>R64 DB_WRONG_OWNER_WRITES: doorbell page writes by a process other than the owner (ignored).</summary>
    public const uint WrongOwnerWrites = 0x38;
    /// <summary>R64 DB_FAULTED_WRITES: doorbell page writes to a faulted queue's doorbell (ignored).</summary>
    public const uint FaultedWrites = 0x40;
    /// <summary>R64 DB_PENDING0..3 at 0x48, 0x50, 0x58, 0x60: the doorbell vector, read without clearing.</summary>
    public const uint Pending0 = 0x48;
    /// <summary>R64 DB_PENDING_SUMMARY: the vector's summary word (bit w = word w may hold rung doorbells).</summary>
    public const uint PendingSummary = 0x68;
    /// <summary>R64 SC_SERVICES: scheduling-core interrupts serviced (non-empty snapshots).</summary>
    public const uint Services = 0x80;
    /// <summary>R64 SC_QUEUE_FAULTS: queues faulted by the scheduling core or the command processor.</summary>
    public const uint QueueFaults = 0x88;
    /// <summary>R64 SC_LAST_FAULT: bits 0..7 doorbell, 8..15 <see cref="Scheduling.QueueFaultReason"/>, 32..63 context id; 0 = none.</summary>
    public const uint LastFault = 0x90;
    /// <summary>R32 SC_SLOTS: hardware run-list slots per engine.</summary>
    public const uint SlotsPerEngine = 0x98;
    /// <summary>R32 SC_RUNNABLE: bit <c>e</c> set while engine <c>e</c>'s run list holds a slotted or waiting user queue
    /// (what a host's device loop polls to know the device has ring-3 work without a posted register write).</summary>
    public const uint RunnableEngines = 0x9C;
    /// <summary>RW64 SC_QUEUE_TIMEOUT: cycles a user queue may run on engines without completing a packet before the core
    /// faults it (<see cref="Scheduling.QueueFaultReason.Timeout"/>); 0 = no limit; power-on 2,000,000,000 (native-layout.md §13.7).</summary>
    public const uint QueueTimeout = 0xA0;
    /// <summary>RW64 DB_SAVE_AREA: encoded PA of the queue's execution context (a 256-byte save area in local memory naming the
    /// queue's ring descriptor, context id and address space), 0 = none (the queue cannot run on an engine).</summary>
    public const uint SaveArea = 0x70;
}

/// <summary>Commands written to DB_COMMAND.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum DoorbellCommand : uint
{
    /// <summary>Register the doorbell at DB_INDEX with the staged fields; it must be free.</summary>
    Register = 1,
    /// <summary>Unregister (free) the doorbell at DB_INDEX, also clearing a fault; pending rings are dropped.</summary>
    Unregister = 2,
    /// <summary>Find the lowest free doorbell and write it to DB_INDEX (status <see cref="DoorbellStatus.NoFreeDoorbell"/> if none).</summary>
    Allocate = 3,
}

/// <summary>DB_STATUS values: the outcome of the last <see cref="DoorbellCommand"/>.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum DoorbellStatus : uint
{
    /// <summary>Done.</summary>
    Ok = 0,
    /// <summary>DB_INDEX is not 0..255.</summary>
    BadIndex = 1,
    /// <summary>Register on a doorbell that is not free.</summary>
    Busy = 2,
    /// <summary>Unregister on a free doorbell.</summary>
    NotRegistered = 3,
    /// <summary>DB_QUEUE_DESC does not decode, is not 64-byte aligned or the descriptor is outside memory.</summary>
    BadDescriptorAddress = 4,
    /// <summary>The engine field is not a known engine.</summary>
    BadEngine = 5,
    /// <summary>Reserved bits of DB_SCHED are set.</summary>
    BadScheduling = 6,
    /// <summary>DB_TIMESLICE is zero.</summary>
    BadTimeSlice = 7,
    /// <summary>Allocate found all 256 doorbells in use.</summary>
    NoFreeDoorbell = 8,
    /// <summary>Unknown command value.</summary>
    BadCommand = 9,
    /// <summary>DB_SAVE_AREA is not 0 and not a 256-byte aligned local-memory save area inside memory.</summary>
    BadSaveArea = 10,
}

/// <summary>State of one doorbell (DB_STATE).</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum DoorbellState : uint
{
    /// <summary>Not registered: writes to its page are ignored and counted.</summary>
    Free = 0,
    /// <summary>Registered and monitored.</summary>
    Registered = 1,
    /// <summary>Its queue faulted: writes are ignored and counted until it is unregistered.</summary>
    Faulted = 2,
}
