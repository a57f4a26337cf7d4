using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// Ring 3 sharing engines with ring 0 on one deterministic machine: an attacker process with its own GPU address
/// space and a user queue (descriptor, ring and doorbell page are its to write, seed 003), a ring-3 victim with a
/// queue of its own on the same engine, and a ring-0 victim with a kernel context there too. Queues are registered
/// the way the CLI's ring-3 contexts are (tools/Coproc.Cli/Running/Ring3ContextDriver.cs).
/// </summary>
internal sealed class Ring3World : IDisposable
{
    public const uint Attacker = 6, Ring3Victim = 5, Ring0Victim = 2;
    public const uint RingBytes = 4096;

    public sealed class Queue
    {
        public required uint Process;
        public required uint ContextId;
        public required EngineKind Engine;
        public required GpuAddressSpace Space;
        public required PhysicalAddress Descriptor, RingBase, SaveArea;
        public required ulong DataVa;
        public required AllocationHandle Data;
        public UserQueueRegistration? Registration;
        public UserQueue? Umd;
    }

    private readonly UserQueueRegistrar _registrar;
    private ulong _victimSerial;

    public Ring3World()
    {
        Machine = new Machine(new MachineOptions
        {
            Device = new CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 16UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 5_000_000 },
            ScheduledEngines = [EngineKind.Render, EngineKind.Copy],
            Gate = new Ring0GateOptions { Policy = Ring0GatePolicy.None },
        });
        _registrar = new UserQueueRegistrar(Machine.Bus, Machine.Gate);
        Ledger = new VictimLedger(Machine);
        AttackerQueue = NewQueue(Attacker, 0x10, EngineKind.Render);
        VictimQueue = NewQueue(Ring3Victim, 0x11, EngineKind.Render);
        Ring0Context = Machine.CreateContext(Ring0Victim, 0, EngineKind.Render);
        Ring0Data = Machine.Kmd.Allocate(Ring0Victim, 16384);
        Ledger.Add("ring3-victim.data", VictimQueue.Data);
        Ledger.Add("ring0-victim.data", Ring0Data);
        Ledger.Add("ring0-victim.render", Ring0Context);
        Register(AttackerQueue);
        Register(VictimQueue);
    }

    public Machine Machine { get; }
    public VictimLedger Ledger { get; }
    public Queue AttackerQueue { get; }
    public Queue VictimQueue { get; }
    public VidSchContext Ring0Context { get; }
    public AllocationHandle Ring0Data { get; }
    public DeviceMemory Memory => Machine.Device.Memory;

    public ref RingDescriptor DescriptorOf(Queue q) => ref Memory.System.Ref<RingDescriptor>(q.Descriptor.Offset);

    private Queue NewQueue(uint process, uint contextId, EngineKind engine)
    {
        var vidmm = Machine.VidMm;
        lock (Machine.Scheduler.KernelLock)
        {
            var space = vidmm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
            var data = vidmm.Allocate(16384, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            ulong va = space.MapAllocation(data);
            var descriptor = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            var ring = vidmm.Allocate(RingBytes, RingBytes, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
            var save = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
            return new Queue
            {
                Process = process, ContextId = contextId, Engine = engine, Space = space, Data = data, DataVa = va,
                Descriptor = vidmm.PhysicalAddressOf(descriptor, 0), RingBase = vidmm.PhysicalAddressOf(ring, 0), SaveArea = vidmm.PhysicalAddressOf(save, 0),
            };
        }
    }

    /// <summary>(Re-)registers a queue on clean descriptor, ring and save area (a faulted queue gets a new life).</summary>
    public void Register(Queue q)
    {
        if (q.Registration is { } old) _registrar.Unregister(old);
        Memory.GetSpan(q.Descriptor, 4096).Clear();
        Memory.GetSpan(q.RingBase, (int)RingBytes).Clear();
        Memory.GetSpan(q.SaveArea, 4096).Clear();
        q.Registration = _registrar.Register(q.Process, new UserQueueRegistrationRequest
        {
            ContextId = q.ContextId, Engine = q.Engine, Priority = 1, TimeSliceCycles = 100_000,
            DescriptorAddress = q.Descriptor.Encoded, RingBase = q.RingBase.Encoded, RingBytes = RingBytes,
        }, new UserQueueExecution(q.SaveArea, q.Space.Descriptor));
        q.Umd = q.Registration.Open(Memory);
    }

    /// <summary>Rings a doorbell page as <paramref name="writer"/> (any process may try any page).</summary>
    public void Ring(int doorbell, uint value, uint writer) =>
        Machine.Device.DoorbellAperture.Write32(DoorbellAperture.PageOffset(doorbell), value, writer);

    /// <summary>
    /// Fresh valid jobs of both victims on the shared engine: the ring-3 victim's WRITE_DATA + FENCE through its queue
    /// and the ring-0 victim's FILL through the KMD. Null when both finished with their bytes right and nothing of
    /// theirs changed otherwise.
    /// </summary>
    public string? FreshJobs()
    {
        string? before = Ledger.FindChange();
        if (before is not null) return before;
        ulong serial = ++_victimSerial;
        uint pattern = 0x3A3A0000u | (uint)serial;
        var q = VictimQueue.Umd!;
        Span<uint> p = stackalloc uint[16];
        var w = new PacketWriter(p);
        w.WriteData(VictimQueue.DataVa + 64, pattern);
        w.Fence(VictimQueue.DataVa + 8, serial);
        int at = 0;
        while (at < w.Written)
        {
            int len = new PacketHeader(p[at]).LengthDwords;
            if (!q.TryWrite(p.Slice(at, len))) return "the ring-3 victim's queue is full although the device drained it before";
            at += len;
        }
        q.Flush();
        var sink = new CapturingSink();
        var b = new CommandBufferBuilder(sink, 256, 16);
        b.Fill(Ring0Data, 0, pattern, 16384);
        b.Flush();
        long id;
        try { id = Machine.Kmd.Submit(Ring0Victim, Ring0Context, sink.Commands, sink.References); }
        catch (Exception e) { return $"the ring-0 victim's valid submission was refused: {e.GetType().Name}: {e.Message}"; }
        var fence = Machine.VidMm.PhysicalAddressOf(VictimQueue.Data, 8);
        bool done;
        try
        {
            done = Machine.RunUntil(() => Memory.Read64(fence) == serial && Ring0Context.StatusOf(id) != SubmissionStatus.Pending, 200_000_000);
        }
        catch (Exception e) { return $"host exception while the fresh jobs ran: {e.GetType().FullName}: {e.Message}"; }
        if (!done)
            return $"fresh jobs did not finish in 200 M cycles: ring-3 fence {Memory.Read64(fence)} (want {serial}), ring-0 FILL {Ring0Context.StatusOf(id)}";
        if (Ring0Context.StatusOf(id) != SubmissionStatus.Completed) return $"the ring-0 victim's FILL ended {Ring0Context.StatusOf(id)}";
        if (Memory.Read32(Machine.VidMm.PhysicalAddressOf(VictimQueue.Data, 64)) != pattern) return "the ring-3 victim's WRITE_DATA did not land";
        var bytes = Ledger.ReadAllocation(Ring0Data);
        for (int i = 0; i < bytes.Length; i += 4)
            if (BitConverter.ToUInt32(bytes, i) != pattern) return $"the ring-0 victim's FILL left byte 0x{i:X} unwritten";
        Ledger.Refresh();
        return null;
    }

    public void Dispose() => Machine.Dispose();
}
