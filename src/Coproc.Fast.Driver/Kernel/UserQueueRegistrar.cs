using System.Numerics;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The arguments of a user-queue registration as they cross the ring-0 gate (copied in by the gate). The ring
/// and descriptor memory is allocated by the caller (VidMm at integration) in memory the process can write.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct UserQueueRegistrationRequest
{
    /// <summary>The context the queue belongs to.</summary>
    public uint ContextId;
    /// <summary>Engine that runs the queue.</summary>
    public EngineKind Engine;
    /// <summary>Priority asked for, 0 (lowest) .. 15 (highest); the kernel grants at most the process's limit (<see cref="UserQueueRegistrar.SetPriorityLimit"/>).</summary>
    public byte Priority;
    /// <summary>Time slice in device cycles (≥ 1).</summary>
    public uint TimeSliceCycles;
    /// <summary>Encoded physical address of the 192-byte ring descriptor (64-byte aligned).</summary>
    public ulong DescriptorAddress;
    /// <summary>Encoded physical address of the ring bytes (4 KiB aligned).</summary>
    public ulong RingBase;
    /// <summary>Ring size in bytes (power of two, 4 KiB .. 16 MiB).</summary>
    public uint RingBytes;
}

/// <summary>
/// The kernel's side of a user queue's execution context (native-layout.md §13.7): a save area in local memory the kernel
/// allocated and the process's GPU address space (from VidMm). Never crosses the gate — the kernel decides both, so a
/// process cannot name another's address space.
/// </summary>
/// <param name="SaveArea">256-byte aligned save area in local memory (the kernel initialises it).</param>
/// <param name="AddressSpace">The owning process's address space: INDIRECT and every VA of the queue's packets use it.</param>
public readonly record struct UserQueueExecution(PhysicalAddress SaveArea, AddressSpaceDescriptor AddressSpace);

/// <summary>The outcome of a registration: everything ring 3 needs to open its <see cref="UserQueue"/>.</summary>
/// <param name="Doorbell">The doorbell (0..255) picked for the queue.</param>
/// <param name="ProcessId">The owning process.</param>
/// <param name="ContextId">The queue's context.</param>
/// <param name="Descriptor">Where the ring descriptor lives.</param>
/// <param name="Page">The doorbell page mapped into the owner.</param>
public sealed record UserQueueRegistration(int Doorbell, uint ProcessId, uint ContextId, PhysicalAddress Descriptor, DoorbellPage Page)
{
    /// <summary>
    /// Where the doorbell page is mapped in the process's emulated CPU address space (seed 003), or 0 when the caller
    /// registered without one (then <see cref="Page"/> is the only handle to the page).
    /// </summary>
    public ulong DoorbellVa { get; init; }

    /// <summary>The CPU address space the page is mapped into (unmapped again by <see cref="UserQueueRegistrar.Unregister"/>).</summary>
    internal CpuAddressSpace? MappedInto { get; init; }

    /// <summary>CPU address of the ring in the process (kernel-allocated queues, <see cref="UserQueueRegistrar.Open"/>), else 0.</summary>
    public ulong RingVa { get; init; }

    /// <summary>CPU address of the ring descriptor (ReadPtr/WritePtr) in the process (kernel-allocated queues), else 0.</summary>
    public ulong DescriptorVa { get; init; }

    /// <summary>The memory the kernel allocated for the queue, released at unregistration.</summary>
    internal UserQueueMemory? KernelAllocated { get; init; }

    /// <summary>The priority the kernel granted (the request's, capped at the process's limit).</summary>
    public byte Priority { get; init; }

    /// <summary>The queue as a scheduling context of the machine (<see cref="GpuContext"/>, listed in <see cref="Machine.Contexts"/>).</summary>
    public UserQueueContext Context { get; init; } = null!;

    /// <summary>Opens the ring-3 writer over the process's mapping of device memory.</summary>
    public UserQueue Open(DeviceMemory memory) => new(memory, Descriptor, Page);
}

/// <summary>
/// Ring-0 registration of user queues (seed 003 "registration, once, through ring 0"): one gate entry picks a free
/// doorbell (DB_COMMAND Allocate), initialises the queue's descriptor, programs the doorbell block with the page to
/// monitor, owner, context, descriptor, engine, priority and time slice (native-layout.md §13.3), and maps the page
/// into the process. Touches the device only through the device bus: registers, memory and the doorbell aperture.
/// </summary>
public sealed partial class UserQueueRegistrar
{
    private readonly IDeviceBus _bus;
    private readonly Ring0Gate _gate;
    private readonly Lock _doorbellBlock = new(); // one register sequence (DB_INDEX, DB_COMMAND, DB_STATUS …) at a time
    private readonly Dictionary<uint, byte> _priorityLimits = new();
    private readonly SortedDictionary<int, UserQueueContext> _live = new(); // by doorbell: the queues registered now

    /// <summary>Set by <c>Machine</c>: whether another context of the machine holds an id (a registration under it is refused).</summary>
    internal Func<int, bool>? ContextIdInUse { get; init; }

    /// <summary>The queues registered now, as contexts (by doorbell; a copy).</summary>
    public IReadOnlyList<UserQueueContext> Contexts { get { lock (_live) return [.. _live.Values]; } }

    /// <summary>At least one queue is registered now.</summary>
    /// <remarks>Read without a lock (the machine's idle test runs per step): the count <see cref="_live"/> had when its lock was last released.</remarks>
    internal bool HasLiveQueues => Volatile.Read(ref _liveCount) > 0;

    private int _liveCount;

    /// <summary>
    /// The highest queue priority a process may hold unless <see cref="SetPriorityLimit"/> says otherwise (0..15; default 15).
    /// Queue priorities are on the kernel scheduler's scale (docs/scheduling-policy.md rule 3, native-layout.md §13.7).
    /// </summary>
    public byte DefaultPriorityLimit { get; init; } = 15;

    /// <summary>
    /// Sets the highest priority the kernel grants <paramref name="processId"/>'s queues (0..15): a registration asking for
    /// more is granted this limit (the kernel decides priorities; ring 3 only asks, seed 003 "registration through ring 0").
    /// </summary>
    public void SetPriorityLimit(uint processId, byte maxPriority)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPriority, (byte)15);
        lock (_priorityLimits) _priorityLimits[processId] = maxPriority;
    }

    /// <summary>The priority the kernel grants <paramref name="processId"/> when it asks for <paramref name="requested"/>.</summary>
    public byte GrantedPriority(uint processId, byte requested)
    {
        byte limit;
        lock (_priorityLimits) limit = _priorityLimits.TryGetValue(processId, out var l) ? l : DefaultPriorityLimit;
        return Math.Min(requested, limit);
    }

    /// <summary>
    /// Creates the registrar over <paramref name="bus"/> (the machine's <see cref="Machine.Bus"/>, or a
    /// <see cref="DirectDeviceBus"/> over a device you step yourself).
    /// </summary>
    public UserQueueRegistrar(IDeviceBus bus, Ring0Gate gate)
    {
        _bus = bus ?? throw new ArgumentNullException(nameof(bus));
        _gate = gate ?? throw new ArgumentNullException(nameof(gate));
    }

    /// <summary>
    /// Hang detection for user queues, the rule kernel contexts get (docs/containment.md): a queue that runs
    /// <paramref name="cycles"/> engine cycles without completing a packet is faulted alone (QueueFaultReason.Timeout) and
    /// must be registered again; waiting on a WAIT is not counted. Writes SC_QUEUE_TIMEOUT (native-layout.md §13.7);
    /// 0 = no limit. The device's power-on value is 2,000,000,000 cycles (2 s at 1 GHz), the kernel contexts' default
    /// timeout (<c>VidSchOptions.TimeoutCycles</c>).
    /// </summary>
    public void SetQueueTimeout(ulong cycles)
    {
        lock (_doorbellBlock) _bus.WriteRegister(MmioMap.DoorbellBase + DoorbellRegisters.QueueTimeout, cycles);
    }

    /// <summary>Registers a user queue for <paramref name="processId"/>: exactly one ring-0 entry.</summary>
    /// <exception cref="DoorbellsExhaustedException">All 256 doorbells are in use (no doorbell virtualization).</exception>
    /// <exception cref="UserQueueRegistrationException">The request is malformed or the device refused it.</exception>
    public UserQueueRegistration Register(uint processId, in UserQueueRegistrationRequest request) => Register(processId, request, null);

    /// <summary>
    /// Registers a user queue that the engines execute (seed 003): exactly one ring-0 entry. The kernel
    /// writes the execution context's save area (ring = the queue's descriptor, context id, address space) and hands it to
    /// the doorbell block in DB_SAVE_AREA.
    /// </summary>
    /// <exception cref="DoorbellsExhaustedException">All 256 doorbells are in use (no doorbell virtualization).</exception>
    /// <exception cref="UserQueueRegistrationException">The request is malformed or the device refused it.</exception>
    public UserQueueRegistration Register(uint processId, in UserQueueRegistrationRequest request, in UserQueueExecution execution) =>
        Register(processId, request, (UserQueueExecution?)execution);

    /// <summary>
    /// Registers a user queue and maps its doorbell page into <paramref name="process"/>, the process's emulated CPU
    /// address space (seed 003: the kernel "maps it into the process's address space as its doorbell page"): exactly one
    /// ring-0 entry. The returned <see cref="UserQueueRegistration.Page"/> is resolved from that mapping, and a 32-bit
    /// store through <see cref="CpuAddressSpace.Write32"/> at <see cref="UserQueueRegistration.DoorbellVa"/> rings it too.
    /// </summary>
    /// <exception cref="DoorbellsExhaustedException">All 256 doorbells are in use (no doorbell virtualization).</exception>
    /// <exception cref="UserQueueRegistrationException">The request is malformed or the device refused it.</exception>
    public UserQueueRegistration Register(uint processId, CpuAddressSpace process, in UserQueueRegistrationRequest request, in UserQueueExecution execution)
    {
        ArgumentNullException.ThrowIfNull(process);
        return Register(processId, request, (UserQueueExecution?)execution, process);
    }

    /// <summary>
    /// For <c>Machine</c>: <see cref="Register(uint, in UserQueueRegistrationRequest, in UserQueueExecution)"/> with the GPU
    /// address space the queue runs in recorded on its context before the context is listed (<see cref="UserQueueContext.Space"/>).
    /// </summary>
    internal UserQueueRegistration Register(uint processId, in UserQueueRegistrationRequest request, in UserQueueExecution execution,
        VidMm.GpuAddressSpace space) => Register(processId, request, (UserQueueExecution?)execution, null, space);

    private UserQueueRegistration Register(uint processId, in UserQueueRegistrationRequest request, UserQueueExecution? execution,
        CpuAddressSpace? process = null, VidMm.GpuAddressSpace? space = null)
    {
        using var call = _gate.Enter(processId, MemoryMarshal.AsBytes(new ReadOnlySpan<UserQueueRegistrationRequest>(in request)));
        var req = call.Read<UserQueueRegistrationRequest>(); // from here on only the kernel's copy is used
        // Invariant: context ids are unique across the machine — the device reports faults by context id, and the kernel
        // path resets the context an id names, so a queue under another context's id could get that context reset.
        // Checked before the doorbell block's lock (the check takes the kernel lock: lock order kernel, then doorbell).
        if (req.ContextId <= int.MaxValue && ContextIdInUse?.Invoke((int)req.ContextId) == true)
            throw new UserQueueRegistrationException(DoorbellStatus.Ok, $"context id 0x{req.ContextId:X} is another context's");
        lock (_doorbellBlock) return RegisterLocked(processId, req, execution, process, space);
    }

    // The registration proper, inside a gate entry and under _doorbellBlock: validate, allocate a doorbell, program the block.
    private UserQueueRegistration RegisterLocked(uint processId, in UserQueueRegistrationRequest req, UserQueueExecution? execution,
        CpuAddressSpace? process, VidMm.GpuAddressSpace? space = null)
    {
        var (descriptor, ring) = Validate(req);
        if (execution is { } e && (e.SaveArea.Location != MemoryLocation.Local || (e.SaveArea.Offset & (ContextSaveArea.Alignment - 1)) != 0
            || !_bus.Memory.Contains(e.SaveArea, ContextSaveArea.SizeInBytes)))
            throw new UserQueueRegistrationException(DoorbellStatus.BadSaveArea, $"save area {e.SaveArea}");

        ref var d = ref MemoryMarshal.AsRef<RingDescriptor>(_bus.Memory.GetSpan(descriptor, RingDescriptor.SizeInBytes));
        {
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Command, (uint)DoorbellCommand.Allocate);
            var status = (DoorbellStatus)_bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Status);
            if (status == DoorbellStatus.NoFreeDoorbell) throw new DoorbellsExhaustedException(processId, req.ContextId);
            if (status != DoorbellStatus.Ok) throw new UserQueueRegistrationException(status, "allocating a doorbell");
            int doorbell = (int)_bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Index);

            d = default;
            d.Base = ring.Encoded;
            d.SizeBytes = req.RingBytes;
            d.Flags = RingDescriptor.UserQueueFlag;
            d.ContextId = req.ContextId;

            ulong saveArea = 0;
            if (execution is { } x)
            {
                // seed 001 §4.1: a context = private address space + private ring + save area; here the ring is the user queue.
                _bus.Memory.Local.Ref<ContextSaveArea>(x.SaveArea.Offset) = new ContextSaveArea
                {
                    RingDescriptor = descriptor.Encoded, ContextId = req.ContextId, AddressSpace = x.AddressSpace,
                };
                saveArea = x.SaveArea.Encoded;
            }
            _bus.WriteRegister(MmioMap.DoorbellBase + DoorbellRegisters.SaveArea, saveArea);

            _bus.WriteRegister(MmioMap.DoorbellBase + DoorbellRegisters.QueueDescriptor, descriptor.Encoded);
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Owner, processId);
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Context, req.ContextId);
            // The kernel grants the priority (within the process's limit); the request is only a wish.
            byte priority = GrantedPriority(processId, req.Priority);
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Scheduling, (uint)req.Engine | ((uint)priority << 8));
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.TimeSlice, req.TimeSliceCycles);
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
            status = (DoorbellStatus)_bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Status);
            if (status != DoorbellStatus.Ok) throw new UserQueueRegistrationException(status, $"registering doorbell {doorbell}");
            var context = new UserQueueContext((int)req.ContextId, processId, priority, req.Engine, doorbell, _bus, _doorbellBlock,
                execution?.SaveArea) { Space = space };
            if (process is null)
            {
                lock (_live) { _live[doorbell] = context; Volatile.Write(ref _liveCount, _live.Count); }
                return context.Registration = new UserQueueRegistration(doorbell, processId, req.ContextId, descriptor,
                    new DoorbellPage(_bus.Doorbells, doorbell, processId)) { Priority = priority, Context = context };
            }
            // seed 003: map the page into the process; ring 3 then rings through that mapping. A refused mapping
            // must leave nothing changed: give the just-registered doorbell back before the error leaves ring 0.
            ulong va;
            try
            {
                va = process.MapDoorbellPage(_bus.Doorbells, doorbell, processId);
            }
            catch
            {
                _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Index, (uint)doorbell);
                _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Command, (uint)DoorbellCommand.Unregister);
                throw;
            }
            lock (_live) { _live[doorbell] = context; Volatile.Write(ref _liveCount, _live.Count); }
            return context.Registration = new UserQueueRegistration(doorbell, processId, req.ContextId, descriptor, DoorbellPage.FromCpuMapping(process, va))
            {
                DoorbellVa = va, MappedInto = process, Priority = priority, Context = context,
            };
        }
    }

    /// <summary>
    /// Unregisters a queue (one ring-0 entry): its doorbell becomes free and its page stops ringing; a page mapped into a
    /// CPU address space is unmapped, and for a queue from <see cref="Open"/> the descriptor, ring and save area are
    /// unmapped and freed — so call it once the queue has drained (DeviceReadPtr = WritePtr).
    /// </summary>
    public void Unregister(UserQueueRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        Span<byte> args = stackalloc byte[4];
        BitConverter.TryWriteBytes(args, registration.Doorbell);
        using var call = _gate.Enter(registration.ProcessId, args);
        int doorbell = BitConverter.ToInt32(call.Arguments);
        lock (_doorbellBlock)
        {
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Index, (uint)doorbell);
            _bus.WriteRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Command, (uint)DoorbellCommand.Unregister);
            var status = (DoorbellStatus)_bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.Status);
            if (status != DoorbellStatus.Ok) throw new UserQueueRegistrationException(status, $"unregistering doorbell {doorbell}");
            registration.MappedInto?.UnmapDoorbellPage(registration.DoorbellVa);
            registration.KernelAllocated?.Release();
            // The live entry is this registration's queue when doorbell, context and owner match — also for a
            // registration kept across a save-state restore, whose Context object is the saved machine's.
            lock (_live)
                if (_live.TryGetValue(doorbell, out var live) && live.Id == (int)registration.ContextId && live.ProcessId == registration.ProcessId)
                {
                    _live.Remove(doorbell);
                    Volatile.Write(ref _liveCount, _live.Count);
                    live.MarkUnregistered();
                }
            registration.Context?.MarkUnregistered();
        }
    }

    private (PhysicalAddress Descriptor, PhysicalAddress Ring) Validate(in UserQueueRegistrationRequest r)
    {
        if ((uint)r.Engine >= Engines.Count) throw new UserQueueRegistrationException(DoorbellStatus.BadEngine, $"engine {r.Engine}");
        if (r.Priority > 15) throw new UserQueueRegistrationException(DoorbellStatus.BadScheduling, $"priority {r.Priority} is not 0..15");
        // Context ids are the machine's GpuContext.Id (an int): the top bit is refused rather than read as a negative id.
        if (r.ContextId > int.MaxValue) throw new UserQueueRegistrationException(DoorbellStatus.Ok, $"context id 0x{r.ContextId:X} is above 0x7FFFFFFF");
        if (r.TimeSliceCycles == 0) throw new UserQueueRegistrationException(DoorbellStatus.BadTimeSlice, "time slice 0");
        if (r.RingBytes < 4096 || r.RingBytes > (16u << 20) || !BitOperations.IsPow2(r.RingBytes))
            throw new UserQueueRegistrationException(DoorbellStatus.Ok, $"ring size {r.RingBytes} is not a power of two in 4 KiB .. 16 MiB");
        if (!PhysicalAddress.TryDecode(r.DescriptorAddress, out var desc) || (desc.Offset & 63) != 0
            || !_bus.Memory.Contains(desc, RingDescriptor.SizeInBytes))
            throw new UserQueueRegistrationException(DoorbellStatus.BadDescriptorAddress, $"descriptor 0x{r.DescriptorAddress:X16}");
        if (!PhysicalAddress.TryDecode(r.RingBase, out var ring) || (ring.Offset & 0xFFF) != 0 || !_bus.Memory.Contains(ring, r.RingBytes))
            throw new UserQueueRegistrationException(DoorbellStatus.Ok, $"ring base 0x{r.RingBase:X16} is not 4 KiB aligned inside memory");
        return (desc, ring);
    }
}

/// <summary>The 257th registration: all 256 doorbells are taken (this build does no doorbell virtualization).</summary>
public sealed class DoorbellsExhaustedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DoorbellsExhaustedException(uint processId, uint contextId)
        : base($"all {DoorbellRegisters.DoorbellCount} doorbells are registered; process {processId} context {contextId} cannot get one — unregister a queue first")
    {
        ProcessId = processId;
        ContextId = contextId;
    }

    /// <summary>The process that asked.</summary>
    public uint ProcessId { get; }

    /// <summary>The context that asked.</summary>
    public uint ContextId { get; }
}

/// <summary>A user-queue registration the kernel or the doorbell block refused.</summary>
public sealed class UserQueueRegistrationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public UserQueueRegistrationException(DoorbellStatus status, string what)
        : base(status == DoorbellStatus.Ok ? $"user-queue registration refused: {what}" : $"user-queue registration refused ({status}): {what}") =>
        Status = status;

    /// <summary>The doorbell block's status, or <see cref="DoorbellStatus.Ok"/> when the kernel refused before asking the device.</summary>
    public DoorbellStatus Status { get; }
}
