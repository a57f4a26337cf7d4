using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Device.Contexts;

/// <summary>
/// A coprocessor context's save area in local memory (native-layout.md §11; seed 001 §4.1): 256 bytes,
/// 256-byte aligned. The engine works on a copy of it while the context runs and writes it back, verbatim,
/// when it switches away, so the kernel driver can inspect or patch a saved context (ring location, page
/// table, physical references) while it is not running.
/// <code>
/// +0   u64 RingDescriptor   encoded physical address of the ring descriptor (64-byte aligned)
/// +8   u32 ContextId
/// +12  u32 Flags            ContextFlags
/// +16  AddressSpaceDescriptor (32 bytes)
/// +48  u64 RingPosition     free-running byte position of the ring packet being executed / next to fetch
/// +56  u64 IndirectAddress  current DMA buffer: VA | bit 0 privileged (valid with InIndirect)
/// +64  u32 IndirectLength   dwords
/// +68  u32 IndirectOffset   dword offset of the current packet inside the DMA buffer
/// +72  u64 CyclesRun        cycles the context ran on engines
/// +80  u32 LastSwitchReason SwitchReason of the last switch away
/// +84  u32 LoadCount        times an engine loaded the context
/// +88  u32 SchedulingPriority  bit 8 = valid, bits 0..3 the kernel's priority for the context (native-layout.md §13.7)
/// +92  u32 Preemptions      times switched away with work left (not on a fault)
/// +96  WorkState (32 bytes) mid-packet progress of the current packet
/// +128 FaultRecord (32 bytes)
/// +160 u64 StallCycles      user queues: cycles run on engines since the last completed packet (§13.7 hang detection)
/// +168..255 reserved, zero
/// </code>
/// </summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[StructLayout(LayoutKind.Explicit, Size = SizeInBytes)]
public struct ContextSaveArea
{
    /// <summary>Size in bytes.</summary>
    public const int SizeInBytes = 256;
    /// <summary>Required alignment in bytes.</summary>
    public const int Alignment = 256;

    /// <summary>Encoded physical address of the context's ring descriptor.</summary>
    [FieldOffset(0)] public ulong RingDescriptor;
    /// <summary>Context id reported in interrupts and fault records.</summary>
    [FieldOffset(8)] public uint ContextId;
    /// <summary>State flags.</summary>
    [FieldOffset(12)] public ContextFlags Flags;
    /// <summary>The context's GPU address space.</summary>
    [FieldOffset(16)] public AddressSpaceDescriptor AddressSpace;
    /// <summary>Ring position (free-running bytes) of the packet being executed, or of the next packet to fetch.</summary>
    [FieldOffset(48)] public ulong RingPosition;
    /// <summary>Current DMA buffer's start VA with bit 0 = privileged.</summary>
    [FieldOffset(56)] public ulong IndirectAddress;
    /// <summary>Current DMA buffer's length in dwords.</summary>
    [FieldOffset(64)] public uint IndirectLength;
    /// <summary>Offset in dwords of the current packet inside the DMA buffer.</summary>
    [FieldOffset(68)] public uint IndirectOffset;
    /// <summary>Cycles this context has run.</summary>
    [FieldOffset(72)] public ulong CyclesRun;
    /// <summary>Why an engine last switched away from this context.</summary>
    [FieldOffset(80)] public SwitchReason LastSwitchReason;
    /// <summary>Times an engine loaded this context.</summary>
    [FieldOffset(84)] public uint LoadCount;
    /// <summary>
    /// The kernel's priority for this context on the scale user queues use (native-layout.md §13.7): bits 0..3 the
    /// priority (0 lowest .. 15 highest), bit 8 (<see cref="PriorityValid"/>) set when the kernel gives one. Without bit 8
    /// the context ranks above every user queue (kernel work first). Other bits reserved, zero.
    /// </summary>
    [FieldOffset(88)] public uint SchedulingPriority;
    /// <summary>
    /// Times an engine switched away from the context while it still had work — inside a DMA buffer, stopped on a WAIT, or
    /// packets left in its ring — for any reason but a fault (a request, a new run list, a time slice, a higher-priority
    /// queue, its own WAIT); kept by the engine, wraps at 2³² (native-layout.md §11).
    /// </summary>
    [FieldOffset(92)] public uint Preemptions;
    /// <summary>Progress inside the current packet (all zero = not started).</summary>
    [FieldOffset(96)] public WorkState Work;
    /// <summary>The last fault (valid with <see cref="ContextFlags.Faulted"/>).</summary>
    [FieldOffset(128)] public FaultRecord Fault;
    /// <summary>
    /// User queues: cycles the queue ran on engines since it last completed a packet, kept by the engine; the scheduling
    /// core faults the queue (QueueFaultReason.Timeout) when it reaches SC_QUEUE_TIMEOUT (native-layout.md §13.7).
    /// </summary>
    [FieldOffset(160)] public ulong StallCycles;

    /// <summary><see cref="SchedulingPriority"/> bit 8: the kernel gave the context a priority.</summary>
    public const uint PriorityValid = 0x100;

    /// <summary>The <see cref="SchedulingPriority"/> word for <paramref name="priority"/> (0..15; higher values are clamped to 15).</summary>
    public static uint PriorityWord(int priority) => PriorityValid | (uint)Math.Clamp(priority, 0, 15);

    /// <summary>
    /// Guest driver: true for the <see cref="LastSwitchReason"/> (and history-record reason, native-layout.md §10.6) values
    /// that mean the context faulted — Faulted, PageFault, ProtectionFault, InvalidCommand (§10.3, §11.1). Such a context
    /// stays stopped until the driver clears <see cref="ContextFlags.Faulted"/>.
    /// </summary>
    public static bool IsFaultReason(SwitchReason reason) =>
        reason is SwitchReason.Faulted or SwitchReason.PageFault or SwitchReason.ProtectionFault or SwitchReason.InvalidCommand;

    /// <summary>
    /// The context's rank against user queues: its priority (0..15) when the kernel gave one, else 16 (above every
    /// user queue: kernel work first).
    /// </summary>
    public readonly int ArbitrationPriority => (SchedulingPriority & PriorityValid) != 0 ? (int)(SchedulingPriority & 0xF) : 16;

    /// <summary>True while the context is inside a DMA buffer.</summary>
    public readonly bool InIndirect => (Flags & ContextFlags.InIndirect) != 0;

    /// <summary>True when the packet being executed comes from a privileged source (the ring, or a privileged DMA buffer).</summary>
    public readonly bool Privileged => !InIndirect || (IndirectAddress & 1) != 0;
}

/// <summary>Bits of <see cref="ContextSaveArea.Flags"/>.</summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Public name used by callers and the docs: the bits of the save area's Flags word (native-layout.md); renaming would break the API.")]
[Flags]
public enum ContextFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>Executing a DMA buffer reached through INDIRECT.</summary>
    InIndirect = 1 << 0,
    /// <summary>Inside a DISABLE_CONTEXT_SWITCH region (seed 001 §8.3).</summary>
    ContextSwitchDisabled = 1 << 1,
    /// <summary>Faulted; the engine will not run it until the driver clears this bit.</summary>
    Faulted = 1 << 2,
    /// <summary>Stopped on an unsatisfied WAIT, WAIT_FENCE or WAIT_FOR_FLIP; re-executes it when run again.</summary>
    Waiting = 1 << 3,
    /// <summary>Its ring was empty when the engine last looked (write pointer re-read).</summary>
    Empty = 1 << 4,
}

/// <summary>Why an engine switched away from a context (seed 001 §4.1 query 1).</summary>
/// <remarks>Called by: guest driver (structures it lays out in memory for the device); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum SwitchReason : uint
{
    /// <summary>Never switched away.</summary>
    None = 0,
    /// <summary>The driver wrote CONTEXT_SWITCH.</summary>
    Requested = 1,
    /// <summary>The ring ran empty (after re-reading the write pointer).</summary>
    Empty = 2,
    /// <summary>An unsatisfied WAIT or WAIT_FENCE yielded the engine to the next context.</summary>
    Yielded = 3,
    /// <summary>The context faulted with a device error (invalid ring, ring pointers, physical access out of range).</summary>
    Faulted = 4,
    /// <summary>The engine switched to a newly submitted run list (seed 001 §6.1 reason 4); X→X when the list's head was already running.</summary>
    NewRunList = 5,
    /// <summary>The context touched an invalid VA (page fault, restartable; seed 001 §6.1 reason 2).</summary>
    PageFault = 6,
    /// <summary>The context broke a protection rule (seed 001 §6.1 reason 3).</summary>
    ProtectionFault = 7,
    /// <summary>The context's stream held a malformed or misplaced packet (seed 001 §5.6 event 4).</summary>
    InvalidCommand = 8,
    /// <summary>
    /// The engine took the kernel context off for a user queue that outranks it on the common priority scale (or an
    /// equal one whose turn it is), or kept it off while it had work (native-layout.md §13.7 "Arbitration"). The engine
    /// resumes it by itself; that switch back is reported too.
    /// </summary>
    UserQueuePreempted = 9,
}

/// <summary>Helpers for <see cref="SwitchReason"/> (device side; software uses <see cref="ContextSaveArea.IsFaultReason"/>).</summary>
internal static class SwitchReasons
{
    /// <summary>True for the reasons that mean the context faulted (it stays stopped until the driver clears Faulted).</summary>
    public static bool IsFault(SwitchReason reason) => ContextSaveArea.IsFaultReason(reason);
}
