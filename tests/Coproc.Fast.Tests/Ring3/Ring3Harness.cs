using Coproc.Fast.Driver;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Device.Scheduling;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// A small device + gate + registrar, and a stand-in command processor that walks a runnable queue's packet headers,
/// records NOP payload dword 1 (a sequence number) and writes ReadPtr back — what the real command processor will do.
/// </summary>
internal sealed unsafe class Ring3Harness : IDisposable
{
    // System-memory layout used by the tests: descriptors from 0x1000 (256 B apart), rings from 1 MiB.
    private const ulong DescriptorArea = 0x1000;
    private const ulong RingArea = 1UL << 20;
    private ulong _nextRing = RingArea;

    public Ring3Harness(int slotsPerEngine = 8, ulong systemBytes = 16UL << 20)
    {
        Device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = systemBytes, ApertureBytes = 1UL << 20, HardwareSlotsPerEngine = slotsPerEngine,
            UserQueuesOnEngines = false, // these tests drive the scheduling core alone with the stand-in consumer below
        });
        Gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None });
        Registrar = new UserQueueRegistrar(new DirectDeviceBus(Device), Gate);
    }

    public Coprocessor Device { get; }
    public Ring0Gate Gate { get; }
    public UserQueueRegistrar Registrar { get; }
    public SchedulingCore Core => Device.SchedulingCore;

    public static PhysicalAddress DescriptorSlot(int i) => PhysicalAddress.System(DescriptorArea + (ulong)i * 256);

    public UserQueueRegistrationRequest Request(int slot, uint context, uint ringBytes = 4096, EngineKind engine = EngineKind.Render,
        byte priority = 0, uint timeSlice = 1000)
    {
        var ring = PhysicalAddress.System(_nextRing);
        _nextRing += ringBytes;
        return new UserQueueRegistrationRequest
        {
            ContextId = context, Engine = engine, Priority = priority, TimeSliceCycles = timeSlice,
            DescriptorAddress = DescriptorSlot(slot).Encoded, RingBase = ring.Encoded, RingBytes = ringBytes,
        };
    }

    public (UserQueueRegistration Registration, UserQueue Queue) Open(uint process, int slot, uint context, uint ringBytes = 4096,
        EngineKind engine = EngineKind.Render, byte priority = 0, uint timeSlice = 1000)
    {
        var reg = Registrar.Register(process, Request(slot, context, ringBytes, engine, priority, timeSlice));
        return (reg, reg.Open(Device.Memory));
    }

    public ref RingDescriptor Descriptor(PhysicalAddress at) => ref Device.Memory.System.Ref<RingDescriptor>(at.Offset);

    /// <summary>Flags byte marking a test packet; the queue's end-of-ring padding NOPs carry 0.</summary>
    public const byte TestFlags = 0xA5;

    /// <summary>A NOP packet of <paramref name="dwords"/> dwords carrying <paramref name="sequence"/> in dword 1.</summary>
    public static uint[] Nop(int dwords, uint sequence)
    {
        var p = new uint[dwords];
        p[0] = PacketHeader.Make(Opcode.Nop, dwords, TestFlags);
        if (dwords > 1) p[1] = sequence;
        return p;
    }

    /// <summary>
    /// Stand-in command processor: runs the queue from ReadPtr to WritePtr (at most <paramref name="maxPackets"/>),
    /// calls <paramref name="onPacket"/> with the doorbell and dword 1 of every test packet (padding NOPs skipped), writes ReadPtr back and
    /// reports to the run list. A zero-length or straddling packet faults the queue. Returns packets consumed.
    /// </summary>
    public int RunQueue(in RunnableQueue q, Action<int, uint>? onPacket, int maxPackets = int.MaxValue)
    {
        var d = (RingDescriptor*)Device.Memory.TryPointer(q.Descriptor.Location, q.Descriptor.Offset, RingDescriptor.SizeInBytes);
        PhysicalAddress.TryDecode(d->Base, out var baseAddr);
        byte* ring = Device.Memory.TryPointer(baseAddr.Location, baseAddr.Offset, d->SizeBytes);
        uint mask = d->SizeBytes - 1;
        ulong read = Volatile.Read(ref d->ReadPtr), write = Volatile.Read(ref d->WritePtr);
        int n = 0;
        while (read != write && n < maxPackets)
        {
            uint index = (uint)read & mask;
            var h = new PacketHeader(*(uint*)(ring + index));
            ulong bytes = (ulong)h.LengthDwords * 4;
            if (bytes == 0 || index + bytes > d->SizeBytes || bytes > write - read)
            {
                Core.FaultQueue(q.Doorbell, QueueFaultReason.MalformedPacket, read);
                return n;
            }
            if (h.Opcode == Opcode.Nop && h.Flags == TestFlags)
            {
                onPacket?.Invoke(q.Doorbell, h.LengthDwords > 1 ? *(uint*)(ring + index + 4) : 0);
                n++;
            }
            read += bytes;
        }
        Volatile.Write(ref d->ReadPtr, read);
        Core.Report(q, (ulong)n * 10, drained: read == Volatile.Read(ref d->WritePtr));
        return n;
    }

    /// <summary>Services doorbells and runs every runnable queue of <paramref name="engine"/> until none is left.</summary>
    public int Drain(EngineKind engine, Action<int, uint>? onPacket)
    {
        int total = 0;
        Device.Step(1);
        for (int guard = 0; guard < 100_000 && Core.TryGetNext(engine, out var q); guard++) total += RunQueue(q, onPacket);
        return total;
    }

    public void Dispose() => Device.Dispose();
}
