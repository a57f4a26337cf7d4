using Coproc.Fast.Driver;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// User queues executed by the real command processors: a device whose engines run the scheduling core's run lists,
/// processes with their own GPU address spaces, and queues registered with an execution context (DB_SAVE_AREA).
/// </summary>
internal sealed class EngineQueueRig : IDisposable
{
    public EngineQueueRig(int slotsPerEngine = 8)
    {
        Machine = new EngineTestMachine(new CoprocessorOptions
        {
            LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 0, HardwareSlotsPerEngine = slotsPerEngine,
        });
        Gate = new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None });
        Registrar = new UserQueueRegistrar(new DirectDeviceBus(Device), Gate);
    }

    public EngineTestMachine Machine { get; }
    public Coprocessor Device => Machine.Device;
    public Ring0Gate Gate { get; }
    public UserQueueRegistrar Registrar { get; }

    /// <summary>A queue of process <paramref name="process"/> in <paramref name="space"/>, with the kernel-side execution context.</summary>
    public UserQueueRegistration Register(uint process, uint context, TestAddressSpace space, EngineKind engine = EngineKind.Render,
        byte priority = 0, uint timeSlice = 10_000, uint ringBytes = 4096)
    {
        var desc = Machine.AllocLocal(RingDescriptor.SizeInBytes, 64);
        var ring = Machine.AllocLocal(ringBytes);
        var save = Machine.AllocLocal(256, 256);
        var request = new UserQueueRegistrationRequest
        {
            ContextId = context, Engine = engine, Priority = priority, TimeSliceCycles = timeSlice,
            DescriptorAddress = desc.Encoded, RingBase = ring.Encoded, RingBytes = ringBytes,
        };
        return Registrar.Register(process, request, new UserQueueExecution(save, space.Descriptor));
    }

    /// <summary>As <see cref="Register"/>, and maps the doorbell page into the process's CPU address space <paramref name="cpu"/>.</summary>
    public UserQueueRegistration RegisterMapped(uint process, uint context, TestAddressSpace space, Coproc.Fast.Driver.Cpu.CpuAddressSpace cpu,
        EngineKind engine = EngineKind.Render, uint ringBytes = 4096)
    {
        var desc = Machine.AllocLocal(RingDescriptor.SizeInBytes, 64);
        var ring = Machine.AllocLocal(ringBytes);
        var save = Machine.AllocLocal(256, 256);
        var request = new UserQueueRegistrationRequest
        {
            ContextId = context, Engine = engine, Priority = 0, TimeSliceCycles = 10_000,
            DescriptorAddress = desc.Encoded, RingBase = ring.Encoded, RingBytes = ringBytes,
        };
        return Registrar.Register(process, cpu, request, new UserQueueExecution(save, space.Descriptor));
    }

    public UserQueue Open(UserQueueRegistration reg) => reg.Open(Device.Memory);

    /// <summary>Writes every packet of <paramref name="build"/> into the queue (no publish).</summary>
    public static void Write(UserQueue q, PacketBuild build)
    {
        var packets = PacketProgram.Build(build);
        for (int off = 0; off < packets.Length;)
        {
            int len = new PacketHeader(packets[off]).LengthDwords;
            if (!q.TryWrite(packets.AsSpan(off, len))) throw new InvalidOperationException("queue full");
            off += len;
        }
    }

    public DoorbellState StateOf(int doorbell)
    {
        Device.Mmio.Write32(MmioMap.DoorbellBase + DoorbellRegisters.Index, (uint)doorbell);
        return (DoorbellState)Device.Mmio.Read32(MmioMap.DoorbellBase + DoorbellRegisters.State);
    }

    public ulong ScRegister(uint offset) => Device.Mmio.Read64(MmioMap.DoorbellBase + offset);

    public void Dispose() => Device.Dispose();
}
