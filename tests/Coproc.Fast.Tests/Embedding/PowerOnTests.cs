using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>The power-on path (native-layout.md §1.1): a guest reaches local memory with bus accesses only.</summary>
public class PowerOnTests
{
    [Test]
    public void GivenAFreshDevice_WhenAGuestDriverUsesOnlyItsBars_ThenItsContextRunsAndWritesLocalMemoryAndGuestRam()
    {
        using var host = new PowerOnHost();
        var r = PowerOnGuestDriver.Run(host);
        Assert.That(r.Id, Is.EqualTo(DeviceRegisters.IdValue));
        Assert.That((r.FenceInterruptValue, r.FenceInGuestRam), Is.EqualTo((0x5151UL, 0x5151UL)));
        Assert.That(r.LocalWordThroughBar, Is.EqualTo(0xC0FFEEu), "the engine's write through the guest's page table, read back through the BAR");
        Assert.That(r.InternalErrors, Is.Zero);
    }

    [Test]
    public void LocalMemoryBar_IsIdentityMappedFromReset_AndAccessesPastItsEndReadAllOnesAndAreDropped()
    {
        using var device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20 });
        var bar = device.LocalMemoryBar;
        Assert.That(bar.Size, Is.EqualTo(device.Mmio.Read64(DeviceRegisters.LocalSize)));
        bar.Write64(0x1238, 0x1122334455667788);
        Assert.That(device.Memory.Read64(PhysicalAddress.Local(0x1238)), Is.EqualTo(0x1122334455667788UL));
        Assert.That(bar.Read32(0x123C), Is.EqualTo(0x11223344u));

        Assert.That(bar.Read64(bar.Size - 4), Is.EqualTo(0xFFFF_FFFF_0000_0000UL), "the half past the end reads all ones");
        bar.Write32(bar.Size, 5);
        Assert.That(bar.Read32(ulong.MaxValue - 1), Is.EqualTo(uint.MaxValue));
        Assert.That(bar.FailedAccesses, Is.EqualTo(3));
    }
}
