using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Tests.Layout;

/// <summary>The register BAR's block map checked against the table of native-layout.md §6.</summary>
public class MmioMapLayoutTests
{
    [Test]
    public void MmioMap_BlockBases_MatchTheSection6Table()
    {
        Assert.That(MmioMap.RegisterBarSize, Is.EqualTo(0x1000u));
        Assert.That(MmioMap.BlockSize, Is.EqualTo(0x100u));
        Assert.That(new[]
            {
                MmioMap.DeviceBase, MmioMap.InterruptBase, MmioMap.MmuBase, MmioMap.EngineBase, MmioMap.RunListBase,
                MmioMap.DisplayBase, MmioMap.DoorbellBase, MmioMap.ClockPowerBase,
            },
            Is.EqualTo(new uint[] { 0x000, 0x100, 0x200, 0x400, 0x800, 0x900, 0xA00, 0xB00 }));
    }

    [Test]
    public void ReservedAndUnassignedRanges_GivenAnAccess_WhenRead_ThenAllOnesAndCountedAsUnclaimed()
    {
        using var device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20, ApertureBytes = 1UL << 20,
        });
        Assert.That(device.Mmio.Read32(MmioMap.DeviceBase), Is.EqualTo(0x4346_0001u), "ID of the device block (§6.1)");
        Assert.That(device.Mmio.UnclaimedAccesses, Is.Zero);

        // §6: clock/power (0xB00) is reserved — no register is implemented — and 0xC00..0xFFF is unassigned.
        Assert.That(device.Mmio.Read32(MmioMap.ClockPowerBase), Is.EqualTo(uint.MaxValue));
        Assert.That(device.Mmio.Read64(0xC00), Is.EqualTo(ulong.MaxValue));
        device.Mmio.Write32(0xFFC, 0x1234);
        Assert.That(device.Mmio.UnclaimedAccesses, Is.EqualTo(3));
    }
}
