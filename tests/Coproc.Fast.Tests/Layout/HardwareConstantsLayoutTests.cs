using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Tests.Layout;

/// <summary>
/// The hardware constants a driver takes from the documented constants types (native-layout.md §20.9) agree with
/// what the device reports through its registers and with the device's own parts.
/// </summary>
public class HardwareConstantsLayoutTests
{
    [Test]
    public void GivenADevice_WhenRlMaxEntriesIsRead_ThenItIsTheDocumentedConstant()
    {
        using var device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20 });
        Assert.That(device.Mmio.Read32(MmioMap.RunListBase + RunListRegisters.MaxEntries), Is.EqualTo((uint)RunListRegisters.MaxEntriesValue));
        Assert.That(RunListRegisters.MaxEntriesValue, Is.EqualTo(HardwareRunList.MaxEntries).And.EqualTo(16), "native-layout.md §10.5");
    }

    [Test]
    public void GivenTheDoorbellBar_WhenItsPagesAreCounted_ThenTheyAreTheDocumentedDoorbellCount()
    {
        Assert.That(DoorbellAperture.SizeInBytes / DoorbellAperture.PageSize, Is.EqualTo((ulong)DoorbellRegisters.DoorbellCount));
        Assert.That(DoorbellRegisters.DoorbellCount, Is.EqualTo(DoorbellVector.Count).And.EqualTo(256), "native-layout.md §13.1");
    }

    [Test]
    public void GivenEveryOpcode_WhenClassified_ThenThePublicRulesMatchTheDevicesOwn()
    {
        for (int v = 0; v < 256; v++)
        {
            var op = (Opcode)v;
            Assert.That(PacketFormat.IsPrivileged(op), Is.EqualTo(OpcodeInfo.IsPrivileged(op)).And.EqualTo(v >= 0x40), $"opcode 0x{v:X2} (§8.3)");
            bool work = PacketFormat.TryGetWorkEngine(op, out var engine);
            Assert.That(work, Is.EqualTo(Coproc.Fast.Device.Engines.Work.WorkExecutor.Handles(op)), $"opcode 0x{v:X2} (§8A)");
            if (work) Assert.That(Coproc.Fast.Device.Engines.Work.WorkExecutor.TryGetEngine(op, out var deviceEngine) && deviceEngine == engine, Is.True);
        }
        Assert.That(PacketFormat.TryGetWorkEngine(Opcode.DrawRects, out var render) && render == EngineKind.Render, Is.True);
        Assert.That(PacketFormat.TryGetWorkEngine(Opcode.VideoEncode, out var encode) && encode == EngineKind.VideoEncode, Is.True);
    }

    [Test]
    public void GivenEverySwitchReason_WhenClassified_ThenOnlyTheFourFaultReasonsAreFaults()
    {
        var faults = Enum.GetValues<SwitchReason>().Where(ContextSaveArea.IsFaultReason).ToArray();
        Assert.That(faults, Is.EquivalentTo(new[] { SwitchReason.Faulted, SwitchReason.PageFault, SwitchReason.ProtectionFault, SwitchReason.InvalidCommand }));
    }
}
