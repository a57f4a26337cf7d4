using Coproc.Fast.Device.Bus;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>The PCI façade (native-layout.md §20.7): identity, BAR sizing and programming, per-BAR accesses.</summary>
public class PciBusDeviceTests
{
    private static Coprocessor NewDevice() => new(new CoprocessorOptions
    {
        LocalMemoryBytes = 6UL << 20, SystemMemoryBytes = 1UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0,
    });

    [Test]
    public void ConfigSpace_HasTheDocumentedIdentity_AndBarsSizeByThePciProtocol()
    {
        using var device = NewDevice();
        var bus = new CoprocBusDevice(device);
        var c = bus.Config;
        Assert.That(c.Read(0x00, 4), Is.EqualTo(((uint)PciConfigSpace.DeviceId << 16) | PciConfigSpace.VendorId));
        Assert.That(c.Read(0x08, 4) >> 8, Is.EqualTo(PciConfigSpace.ClassCode));
        Assert.That(c.Read(0x3D, 1), Is.EqualTo(1u), "INTA");
        Assert.That(c.Read(0x04, 2), Is.Zero, "memory space off at reset");

        // Sizing: write all ones, read the mask back.
        uint Size32(int offset)
        {
            c.Write(offset, 4, uint.MaxValue);
            return ~(c.Read(offset, 4) & ~0xFu) + 1;
        }
        Assert.That(Size32(0x10), Is.EqualTo(MmioMap.RegisterBarSize));
        Assert.That(c.Read(0x14, 4) & 0xF, Is.EqualTo(0xCu), "aperture: 64-bit prefetchable memory");
        Assert.That(Size32(0x14), Is.EqualTo(1u << 20));
        Assert.That(Size32(0x1C), Is.EqualTo(8u << 20), "6 MiB of local memory decodes as the next power of two");
        Assert.That(Size32(0x24), Is.EqualTo((uint)DoorbellAperture.SizeInBytes));
        Assert.That(c.Read(0x100, 4), Is.EqualTo(uint.MaxValue), "outside config space: all ones");
        Assert.DoesNotThrow(() => c.Write(0x03, 4, 1));
    }

    [Test]
    public void ProgrammedBars_DecodeHostAddresses_AndForwardAccessesOfAnyWidth_OnlyWithMemorySpaceEnabled()
    {
        using var device = NewDevice();
        var bus = new CoprocBusDevice(device);
        var c = bus.Config;
        Assert.That(bus.ReadBar(CoprocBusDevice.RegistersBar, DeviceRegisters.Id, 4), Is.EqualTo(uint.MaxValue), "decode off");
        c.Write(0x10, 4, 0xFE00_0000);
        c.Write(0x1C, 4, 0x0000_0000);
        c.Write(0x20, 4, 0x1);          // local memory at 0x1_0000_0000
        c.Write(0x24, 4, 0xFD00_0000);
        c.Write(0x04, 2, PciConfigSpace.CommandMemorySpace);

        Assert.That(c.TryDecode(0xFE00_0004, out int bar, out ulong off), Is.True);
        Assert.That((bar, off), Is.EqualTo((CoprocBusDevice.RegistersBar, 4UL)));
        Assert.That(c.TryDecode(0x1_0000_1234, out bar, out off), Is.True);
        Assert.That((bar, off), Is.EqualTo((CoprocBusDevice.LocalMemoryBar, 0x1234UL)));
        Assert.That(c.TryDecode(0x2000, out _, out _), Is.False);

        Assert.That(bus.ReadBar(CoprocBusDevice.RegistersBar, DeviceRegisters.Id, 4), Is.EqualTo(DeviceRegisters.IdValue));
        Assert.That(bus.ReadBar(CoprocBusDevice.RegistersBar, DeviceRegisters.Id + 2, 2), Is.EqualTo(DeviceRegisters.IdValue >> 16));
        bus.WriteBar(CoprocBusDevice.LocalMemoryBar, 0x2001, 2, 0xBEEF);
        Assert.That(device.Memory.Read32(PhysicalAddress.Local(0x2000)), Is.EqualTo(0x00BEEF00u));
        Assert.That(bus.ReadBar(CoprocBusDevice.LocalMemoryBar, 0x2000, 8), Is.EqualTo(0xBEEF00UL));
        Assert.That(bus.ReadBar(CoprocBusDevice.DoorbellBar, 0, 4), Is.Zero);
        Assert.DoesNotThrow(() => bus.WriteBar(7, 0, 4, 0));
        Assert.DoesNotThrow(() => bus.WriteBar(CoprocBusDevice.RegistersBar, 0x2, 4, 0));
        Assert.That(bus.ReadBar(CoprocBusDevice.RegistersBar, 0, 3), Is.EqualTo(0xFFFFFFUL), "unsupported width: all ones");
    }
}
