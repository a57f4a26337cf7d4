using Coproc.Fast.Driver;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Workloads;

/// <summary>
/// docs/performance.md goal 1's ring-3 side: a device with one user queue of 4,096 × 64-byte slots registered once
/// through ring 0 (gate policy None: registration cost is not what is measured) with its execution context, a
/// 16-dword NOP packet, and the device thread (<c>Coprocessor.Step</c>: scheduling core + the render engine's command
/// processor executing each packet) that drains it.
/// </summary>
internal sealed class Ring3QueueWorkload : IDisposable
{
    public const int Capacity = 4096;
    private readonly Coprocessor _device;
    private readonly Ring3DeviceThread? _deviceThread;

    /// <param name="startDeviceThread">False: no device thread; the caller steps <see cref="Device"/> itself (single-threaded probes).</param>
    public Ring3QueueWorkload(bool startDeviceThread = true)
    {
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 4UL << 20, ApertureBytes = 1UL << 20 });
        var registrar = new UserQueueRegistrar(new DirectDeviceBus(_device), new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None }));
        // The queue's execution context: a save area and an (empty) address space in local memory; NOPs touch no VA.
        var execution = new UserQueueExecution(PhysicalAddress.Local(0x2000),
            AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(0x1000), asid: 1, faultOnInvalid: true));
        Queue = registrar.Register(1, new UserQueueRegistrationRequest
        {
            ContextId = 1, Engine = EngineKind.Render, Priority = 0, TimeSliceCycles = 1_000_000,
            DescriptorAddress = PhysicalAddress.System(0x1000).Encoded, RingBase = PhysicalAddress.System(1UL << 20).Encoded,
            RingBytes = Capacity * 64,
        }, execution).Open(_device.Memory);
        Packet[0] = PacketHeader.Make(Opcode.Nop, 16);
        for (int i = 1; i < 16; i++) Packet[i] = (uint)i;
        if (startDeviceThread) _deviceThread = new Ring3DeviceThread(_device);
    }

    /// <summary>The device; step it only when the workload runs without its device thread.</summary>
    public Coprocessor Device => _device;

    public UserQueue Queue { get; }

    /// <summary>The 64-byte packet every submission writes.</summary>
    public uint[] Packet { get; } = new uint[16];

    /// <summary>True once the device has consumed everything written so far.</summary>
    public bool Drained => Queue.DeviceReadPtr == Queue.WritePosition;

    public void Dispose()
    {
        _deviceThread?.Dispose();
        _device.Dispose();
    }
}
