using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Tests.Layout;

/// <summary>Register offsets of native-layout.md §10.5 and DB_SAVE_AREA (§13.3).</summary>
public class RunListLayoutTests
{
    [Test]
    public void RunListRegisters_MatchNativeLayout()
    {
        Assert.That(MmioMap.RunListBase, Is.EqualTo(0x800u));
        Assert.That((RunListRegisters.Mode, RunListRegisters.MaxEntries, RunListRegisters.HistoryBase, RunListRegisters.HistorySize),
            Is.EqualTo((0x00u, 0x04u, 0x08u, 0x10u)));
        Assert.That((RunListRegisters.ConfigStatus, RunListRegisters.HistoryWritePtr, RunListRegisters.HistoryCapacity),
            Is.EqualTo((0x14u, 0x18u, 0x20u)));
        Assert.That((RunListRegisters.EngineBase, RunListRegisters.EngineStride), Is.EqualTo((0x40u, 0x20u)));
        Assert.That((RunListRegisters.ListBase, RunListRegisters.ListCount, RunListRegisters.Submit, RunListRegisters.State,
            RunListRegisters.Serial, RunListRegisters.CurrentBase), Is.EqualTo((0x00u, 0x08u, 0x0Cu, 0x10u, 0x14u, 0x18u)));
        Assert.That(RunListRegisters.EngineBase + 5 * RunListRegisters.EngineStride, Is.LessThanOrEqualTo(MmioMap.BlockSize));
        Assert.That(HardwareRunList.MaxEntries, Is.EqualTo(16));
        Assert.That(DoorbellRegisters.SaveArea, Is.EqualTo(0x70u));
    }

    [Test]
    public void RunListBlock_ReadsBackThroughMmio()
    {
        using var device = new Coproc.Fast.Device.Core.Coprocessor(new Coproc.Fast.Device.Core.CoprocessorOptions
        {
            LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20, ApertureBytes = 1UL << 20,
        });
        Assert.That(device.Mmio.Read32(MmioMap.RunListBase + RunListRegisters.MaxEntries), Is.EqualTo(16u));
        Assert.That(device.Mmio.Read32(MmioMap.RunListBase + RunListRegisters.Mode), Is.EqualTo((uint)RunListMode.TwoElement));
        uint engine2 = MmioMap.RunListBase + RunListRegisters.EngineBase + 2 * RunListRegisters.EngineStride;
        Assert.That(device.Mmio.Read32(engine2 + RunListRegisters.State), Is.EqualTo(RunListState.RunningIndexMask), "no list, no entry");
        device.Mmio.Write64(engine2 + RunListRegisters.ListBase, 0x1234_5000);
        Assert.That(device.Mmio.Read64(engine2 + RunListRegisters.ListBase), Is.EqualTo(0x1234_5000UL));
        Assert.That(device.Mmio.UnclaimedAccesses, Is.Zero);
    }
}
