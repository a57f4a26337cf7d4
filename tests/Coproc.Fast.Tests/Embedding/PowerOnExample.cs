// A host emulator and a guest driver that reach the device only through what a guest has on its bus (native-layout.md
// §20): the register BAR, the local-memory BAR, the doorbell BAR and guest RAM. docs/embedding.md walks through it.
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>What the guest driver saw.</summary>
public readonly record struct PowerOnResult(ulong FenceInterruptValue, ulong FenceInGuestRam, uint LocalWordThroughBar, uint Id, ulong InternalErrors);

/// <summary>A host's bus: physical windows for the device's BARs, guest RAM as the device's system memory.</summary>
public sealed class PowerOnHost : IDisposable
{
    public const ulong RegisterBar = 0xFE00_0000;   // BAR0: registers, 4 KiB
    public const ulong LocalBar = 0xC000_0000;      // BAR2: local memory, LOCAL_SIZE

    public PowerOnHost()
    {
        GuestRam = NativeRegion.Allocate(16UL << 20);
        Device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = GuestRam.Length, VsyncPeriodCycles = 0,
        }, GuestRam);
    }

    public NativeRegion GuestRam { get; }
    public Coprocessor Device { get; }

    // Bus decode: a guest load/store at a physical address goes to the BAR that contains it.
    public ulong Load(ulong address, int width)
    {
        if (address - RegisterBar < MmioMap.RegisterBarSize)
            return width == 8 ? Device.Mmio.Read64((uint)(address - RegisterBar)) : Device.Mmio.Read32((uint)(address - RegisterBar));
        if (address - LocalBar < Device.LocalMemoryBar.Size)
            return width == 8 ? Device.LocalMemoryBar.Read64(address - LocalBar) : Device.LocalMemoryBar.Read32(address - LocalBar);
        return width == 8 ? GuestRam.Ref<ulong>(address) : GuestRam.Ref<uint>(address);
    }

    public void Store(ulong address, int width, ulong value)
    {
        if (address - RegisterBar < MmioMap.RegisterBarSize)
        {
            if (width == 8) Device.Mmio.Write64((uint)(address - RegisterBar), value);
            else Device.Mmio.Write32((uint)(address - RegisterBar), (uint)value);
        }
        else if (address - LocalBar < Device.LocalMemoryBar.Size)
        {
            if (width == 8) Device.LocalMemoryBar.Write64(address - LocalBar, value);
            else Device.LocalMemoryBar.Write32(address - LocalBar, (uint)value);
        }
        else if (width == 8) GuestRam.Ref<ulong>(address) = value;
        else GuestRam.Ref<uint>(address) = (uint)value;
    }

    public void Dispose()
    {
        Device.Dispose();
        GuestRam.Dispose();
    }
}

/// <summary>A guest driver written only against native-layout.md and the register constants.</summary>
public static class PowerOnGuestDriver
{
    private const ulong RingRam = 0x10_0000, DescriptorRam = 0x0F_F000, FenceRam = 0x0F_E000;  // guest RAM offsets
    private const ulong Root = 0x1000, Level2 = 0x2000, Level1 = 0x3000, Level0 = 0x4000;      // local memory offsets
    private const ulong SaveArea = 0x8000, DataPage = 0x10_000;
    private const ulong DataVa = 0x4000_0000;

    public static PowerOnResult Run(PowerOnHost host)
    {
        // 1. Identify the device (register BAR, device block, native-layout.md §6.1).
        uint id = (uint)host.Load(PowerOnHost.RegisterBar + MmioMap.DeviceBase + DeviceRegisters.Id, 4);

        // 2. Through the local-memory BAR (identity-mapped from reset, §1.1): a four-level page table mapping one VA page
        //    to local page DataPage (§3–§4), and a context save area (§11) naming a ring descriptor in guest RAM.
        void LocalStore64(ulong offset, ulong value) => host.Store(PowerOnHost.LocalBar + offset, 8, value);
        LocalStore64(Root + (ulong)PageTableLayout.IndexAt(DataVa, 3) * 8, PageTableEntry.Create(MemoryLocation.Local, Level2).Raw);
        LocalStore64(Level2 + (ulong)PageTableLayout.IndexAt(DataVa, 2) * 8, PageTableEntry.Create(MemoryLocation.Local, Level1).Raw);
        LocalStore64(Level1 + (ulong)PageTableLayout.IndexAt(DataVa, 1) * 8, PageTableEntry.Create(MemoryLocation.Local, Level0).Raw);
        LocalStore64(Level0 + (ulong)PageTableLayout.IndexAt(DataVa, 0) * 8, PageTableEntry.Create(MemoryLocation.Local, DataPage, writable: true).Raw);
        host.Device.LocalMemoryBar.WriteStruct(SaveArea, new ContextSaveArea
        {
            RingDescriptor = PhysicalAddress.System(DescriptorRam).Encoded, ContextId = 1,
            AddressSpace = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(Root), asid: 1, faultOnInvalid: true),
        });

        // 3. In guest RAM: the ring (a WRITE_DATA into local memory by VA, then a privileged FENCE into guest RAM with an
        //    interrupt) and its descriptor (§10.2).
        var ring = host.GuestRam.Slice(RingRam, 4096);
        var w = new PacketWriter(MemoryMarshal.Cast<byte, uint>(ring));
        w.WriteData(DataVa + 0x40, [0xC0FFEEu]);
        w.PrivilegedFence(PhysicalAddress.System(FenceRam).Encoded, 0x5151, interrupt: true);
        host.GuestRam.Ref<RingDescriptor>(DescriptorRam) = new RingDescriptor
        {
            Base = PhysicalAddress.System(RingRam).Encoded, SizeBytes = 4096, ContextId = 1, WritePtr = (ulong)w.Written * 4,
        };

        // 4. CONTEXT_SWITCH on the render engine (§10.1), then the host clocks the device and the guest's interrupt
        //    handler drains the information queue (§9).
        host.Store(PowerOnHost.RegisterBar + MmioMap.EngineBase + 0 * 0x80 + 0x00, 8, PhysicalAddress.Local(SaveArea).Encoded);
        ulong fence = 0;
        for (int slice = 0; slice < 100 && fence == 0; slice++)
        {
            host.Device.Step(1_000);
            if (!host.Device.Interrupts.IsAsserted) continue;
            ulong ic = PowerOnHost.RegisterBar + MmioMap.InterruptBase;
            uint status = (uint)host.Load(ic + 0x00, 4);
            while (host.Load(ic + 0x10, 4) != 0)
            {
                var source = (InterruptSource)(host.Load(ic + 0x18, 4) & 0xFF);
                if (source == InterruptSource.Fence) fence = host.Load(ic + 0x20, 8);
                host.Store(ic + 0x38, 4, 1);
            }
            host.Store(ic + 0x08, 4, status);
        }
        return new PowerOnResult(fence, host.GuestRam.Ref<ulong>(FenceRam), (uint)host.Load(PowerOnHost.LocalBar + DataPage + 0x40, 4), id,
            host.Load(PowerOnHost.RegisterBar + MmioMap.DeviceBase + DeviceRegisters.InternalErrors, 8));
    }
}
