// A host-side example: it writes local memory directly from the host (docs/embedding.md points guest authors at Embedding/PowerOnExample.cs instead); EmbeddingExampleTests runs it.
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Tests.Cli;

/// <summary>A host emulator's interrupt pin: the device calls SetLevel when its line changes.</summary>
public sealed class HostInterruptPin : IInterruptLine
{
    public bool Level { get; private set; }
    public int Edges { get; private set; }

    public void SetLevel(bool asserted)
    {
        if (asserted && !Level) Edges++;
        Level = asserted;
    }
}

/// <summary>A host emulator that plugs the coprocessor into its own bus, memory, interrupt pin and clock.</summary>
public static class EmbeddingExample
{
    public const ulong MmioWindow = 0xFE00_0000;      // where the host maps the device's register BAR
    private const ulong RingOffset = 0x10_0000;       // guest RAM offsets used by the "guest driver"
    private const ulong DescriptorOffset = 0x0F_F000;
    private const ulong FenceOffset = 0x0F_E000;

    /// <summary>Runs one fence through the device; returns (fence value seen in guest RAM, interrupt edges, device cycles).</summary>
    public static (ulong Fence, int InterruptEdges, ulong Cycles) Run()
    {
        // 1. The host's guest RAM is the device's system memory: no copy, the device reads and writes it in place.
        using var guestRam = NativeRegion.Allocate(16UL << 20);
        using var device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = guestRam.Length, VsyncPeriodCycles = 0,
        }, guestRam);

        // 2. Connect the interrupt line to the host's interrupt pin.
        var pin = new HostInterruptPin();
        device.Interrupts.Line = pin;

        // 3. Map the MMIO BAR into the host's physical address space: the host bus forwards accesses.
        ulong BusRead(ulong address, int width) => width == 8
            ? device.Mmio.Read64((uint)(address - MmioWindow)) : device.Mmio.Read32((uint)(address - MmioWindow));
        void BusWrite(ulong address, int width, ulong value)
        {
            if (width == 8) device.Mmio.Write64((uint)(address - MmioWindow), value);
            else device.Mmio.Write32((uint)(address - MmioWindow), (uint)value);
        }

        // 4. What a guest driver would do: a ring and its descriptor in guest RAM, a context save area and an
        //    (empty) page-table root in device-local memory (native-layout.md §10–§11), then CONTEXT_SWITCH.
        var ring = guestRam.Slice(RingOffset, 4096);
        var w = new PacketWriter(MemoryMarshal.Cast<byte, uint>(ring));
        w.PrivilegedFence(PhysicalAddress.System(FenceOffset).Encoded, 0x1234, interrupt: true); // the ring is privileged
        guestRam.Ref<RingDescriptor>(DescriptorOffset) = new RingDescriptor
        {
            Base = PhysicalAddress.System(RingOffset).Encoded, SizeBytes = 4096, ContextId = 1, WritePtr = (ulong)w.Written * 4,
        };
        var root = PhysicalAddress.Local(0x1000);
        var saveArea = PhysicalAddress.Local(0x2000);
        device.Memory.Local.Ref<ContextSaveArea>(saveArea.Offset) = new ContextSaveArea
        {
            RingDescriptor = PhysicalAddress.System(DescriptorOffset).Encoded, ContextId = 1,
            AddressSpace = AddressSpaceDescriptor.MultiLevel(root, asid: 1, faultOnInvalid: true),
        };
        BusWrite(MmioWindow + MmioMap.EngineBase + 0 * 0x80, 8, saveArea.Encoded); // render engine: CONTEXT_SWITCH

        // 5. The host's scheduler drives the device clock in slices, and services the pin like an interrupt handler.
        ulong fence = 0;
        for (int slice = 0; slice < 100 && fence == 0; slice++)
        {
            device.Step(1_000);
            if (!pin.Level) continue;
            uint status = (uint)BusRead(MmioWindow + MmioMap.InterruptBase + 0x00, 4);
            while (BusRead(MmioWindow + MmioMap.InterruptBase + 0x10, 4) != 0)        // INFO_COUNT
            {
                var source = (InterruptSource)(BusRead(MmioWindow + MmioMap.InterruptBase + 0x18, 4) & 0xFF);
                ulong data0 = BusRead(MmioWindow + MmioMap.InterruptBase + 0x20, 8);
                if (source == InterruptSource.Fence) fence = data0;
                BusWrite(MmioWindow + MmioMap.InterruptBase + 0x38, 4, 1);           // INFO_POP
            }
            BusWrite(MmioWindow + MmioMap.InterruptBase + 0x08, 4, status);          // ACK
        }
        ulong inGuestRam = guestRam.Ref<ulong>(FenceOffset);
        return (fence == inGuestRam ? inGuestRam : 0, pin.Edges, device.Cycle);
    }
}
