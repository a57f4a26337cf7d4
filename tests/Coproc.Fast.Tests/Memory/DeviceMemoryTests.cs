using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Tests.Memory;

public class DeviceMemoryTests
{
    [Test]
    public void Device_AllocatesLocalAndSystemMemory_FromOptions_AlignedAndZeroed()
    {
        using var dev = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 4 << 20, SystemMemoryBytes = 1 << 20 });
        Assert.That(dev.Memory.Local.Length, Is.EqualTo(4UL << 20));
        Assert.That(dev.Memory.System.Length, Is.EqualTo(1UL << 20));
        unsafe
        {
            Assert.That((ulong)dev.Memory.Local.Base % NativeRegion.DefaultAlignment, Is.Zero);
        }
        Assert.That(dev.Memory.GetSpan(PhysicalAddress.Local(0), 4096).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        Assert.That(dev.Mmio.Read64(MmioMap.DeviceBase + 0x18), Is.EqualTo(4UL << 20));
    }

    [Test]
    public void OutOfBoundsPhysicalAccess_IsATypedFault_NotAHostCrash()
    {
        using var dev = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2 << 20, SystemMemoryBytes = 1 << 20 });
        var ex = Assert.Throws<PhysicalAccessFaultException>(() => dev.Memory.Read64(PhysicalAddress.Local((2 << 20) - 4)));
        Assert.That(ex!.Address, Is.EqualTo(PhysicalAddress.Local((2 << 20) - 4)));
        Assert.That(dev.Memory.TryGetSpan(PhysicalAddress.System(1 << 20), 1, out _), Is.False);
        Assert.That(dev.Memory.TryGetSpan(PhysicalAddress.System((1 << 20) - 1), 1, out _), Is.True);
    }

    [Test]
    public unsafe void HostSuppliedSystemMemory_IsSeenByTheDevice_ByteForByte()
    {
        var host = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(1 << 20, 4096);
        try
        {
            host[0x123] = 0xAB;
            using var dev = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2 << 20, SystemMemoryBytes = 1 << 20 }, NativeRegion.Wrap(host, 1 << 20));
            Assert.That(dev.Memory.GetSpan(PhysicalAddress.System(0x123), 1)[0], Is.EqualTo(0xAB));
            dev.Memory.Write32(PhysicalAddress.System(0x200), 0xDEADBEEF);
            Assert.That(*(uint*)(host + 0x200), Is.EqualTo(0xDEADBEEF));
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(host);
        }
    }

    [Test]
    public void UnimplementedRegisters_ReadAllOnes_AndMisalignedAccessesAreUnclaimedNotThrown()
    {
        using var dev = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2 << 20, SystemMemoryBytes = 1 << 20 });
        Assert.That(dev.Mmio.Read32(0xFF0), Is.EqualTo(uint.MaxValue));
        Assert.That(dev.Mmio.UnclaimedAccesses, Is.EqualTo(1));
        // Misaligned or outside the BAR: unclaimed like any other hole (all ones, counted), never an exception.
        Assert.That(dev.Mmio.Read32(0x2), Is.EqualTo(uint.MaxValue));
        Assert.That(dev.Mmio.Read64(MmioMap.RegisterBarSize), Is.EqualTo(ulong.MaxValue));
        Assert.DoesNotThrow(() => dev.Mmio.Write64(0xFFC, 1));
        Assert.That(dev.Mmio.UnclaimedAccesses, Is.EqualTo(4));
    }
}
