using Coproc.Fast.Device.Bus;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Interrupts;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>
/// The MSI capability of the PCI façade (native-layout.md §20.7.1): its layout in configuration space, and the device's
/// interrupt signalled as one message per rising edge of its level instead of the INTA line while MSI is enabled.
/// </summary>
public class MsiTests
{
    private const uint Period = 1000;
    private const ulong MessageAddress = 0xFEE0_0000;
    private const ushort MessageData = 0x4041;

    private sealed class Pin : IInterruptLine
    {
        public readonly List<bool> Levels = [];
        public void SetLevel(bool asserted) => Levels.Add(asserted);
    }

    private sealed class Apic : IMsiTarget
    {
        public readonly List<(ulong Address, uint Data)> Messages = [];
        public void WriteMessage(ulong address, uint data) => Messages.Add((address, data));
    }

    private Coprocessor _device = null!;
    private CoprocBusDevice _bus = null!;
    private Pin _pin = null!;
    private Apic _apic = null!;

    [SetUp]
    public void SetUp()
    {
        _device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = Period,
        });
        _bus = new CoprocBusDevice(_device) { InterruptLine = _pin = new Pin(), MsiTarget = _apic = new Apic() };
    }

    [TearDown]
    public void TearDown() => _device.Dispose();

    private void ProgramMsi(bool enable, bool busMaster = true)
    {
        var c = _bus.Config;
        c.Write(PciConfigSpace.MsiAddressOffset, 4, (uint)MessageAddress);
        c.Write(PciConfigSpace.MsiUpperAddressOffset, 4, 0);
        c.Write(PciConfigSpace.MsiDataOffset, 2, MessageData);
        c.Write(PciConfigSpace.CommandOffset, 2, busMaster ? PciConfigSpace.CommandBusMaster : 0u);
        c.Write(PciConfigSpace.MsiControlOffset, 2, enable ? PciConfigSpace.MsiControlEnable : 0u);
    }

    private void Ack() => _device.Mmio.Write32(Device.Mmio.MmioMap.InterruptBase + InterruptRegisters.Ack, uint.MaxValue);

    [Test]
    public void GivenConfigSpace_WhenTheCapabilityListIsWalked_ThenItHoldsOneMsiCapabilityWithTheDocumentedFields()
    {
        var c = _bus.Config;
        Assert.That(c.Read(PciConfigSpace.StatusOffset, 2) & PciConfigSpace.StatusCapabilitiesList, Is.Not.Zero);
        int cap = (int)c.Read(PciConfigSpace.CapabilitiesPointerOffset, 1);
        Assert.That(cap, Is.EqualTo(0x50));
        Assert.That(c.Read(cap, 1), Is.EqualTo(0x05u), "capability id: MSI");
        Assert.That(c.Read(cap + 1, 1), Is.Zero, "last capability");
        Assert.That(c.Read(cap + 2, 2), Is.EqualTo(0x80u), "64-bit capable, one vector, disabled");

        c.Write(cap + 2, 2, 0xFFFF);
        Assert.That(c.Read(cap + 2, 2), Is.EqualTo(0xF1u), "enable and multiple-message-enable are writable, bit 7 stays");
        c.Write(cap + 4, 4, 0xFEE0_1003);
        c.Write(cap + 8, 4, 0x1);
        c.Write(cap + 12, 2, 0xBEEF);
        Assert.That(c.Read(cap + 4, 4), Is.EqualTo(0xFEE0_1000u), "address bits 0-1 read 0");
        Assert.That(c.MsiAddress, Is.EqualTo(0x1_FEE0_1000UL));
        Assert.That(c.MsiData, Is.EqualTo((ushort)0xBEEF));
        Assert.That(c.MsiEnabled, Is.True);
    }

    [Test]
    public void GivenMsiEnabled_WhenInterruptsAreRaised_ThenOneMessagePerRisingEdgeIsSent_AndIntaStaysLow()
    {
        ProgramMsi(enable: true);
        _device.Step(Period);             // vsync: the level rises
        Assert.That(_apic.Messages, Is.EqualTo(new[] { (MessageAddress, (uint)MessageData) }));
        _device.Step(Period);             // still pending: no edge, no message
        Assert.That(_apic.Messages, Has.Count.EqualTo(1));
        Ack();                            // the handler clears every source: the level falls
        _device.Step(Period);             // a new interrupt: a new message
        Assert.That(_apic.Messages, Has.Count.EqualTo(2));
        Assert.That(_pin.Levels, Is.Empty, "INTA is not used while MSI is enabled");
        Assert.That(_bus.InterruptLineLevel, Is.False);
        Assert.That(_bus.MessagesSent, Is.EqualTo(2));
    }

    [Test]
    public void GivenMsiDisabled_WhenAnInterruptIsRaised_ThenIntaFollowsTheLevel_AndNoMessageIsSent()
    {
        ProgramMsi(enable: false);
        _device.Step(Period);
        Ack();
        Assert.That(_pin.Levels, Is.EqualTo(new[] { true, false }));
        Assert.That(_apic.Messages, Is.Empty);
    }

    [Test]
    public void GivenBusMasteringOff_WhenMsiWouldBeSent_ThenItIsSuppressedAndCounted()
    {
        ProgramMsi(enable: true, busMaster: false);
        _device.Step(Period);
        Assert.That(_apic.Messages, Is.Empty);
        Assert.That(_bus.SuppressedMessages, Is.EqualTo(1));
        Assert.That(_pin.Levels, Is.Empty);
    }

    [Test]
    public void GivenAPendingInterrupt_WhenMsiIsEnabledThenDisabled_ThenIntaIsHandedOverWithoutLosingIt()
    {
        ProgramMsi(enable: false);
        _device.Step(Period);                                    // INTA high
        _bus.Config.Write(PciConfigSpace.MsiControlOffset, 2, PciConfigSpace.MsiControlEnable);
        Assert.That(_pin.Levels, Is.EqualTo(new[] { true, false }), "INTA released when MSI takes over");
        Assert.That(_apic.Messages, Has.Count.EqualTo(1), "the pending interrupt is sent as a message");
        _bus.Config.Write(PciConfigSpace.MsiControlOffset, 2, 0);
        Assert.That(_pin.Levels, Is.EqualTo(new[] { true, false, true }), "still pending: INTA raised again");
    }

    [Test]
    public void GivenMsiProgrammed_WhenTheFacadeIsSavedAndRestored_ThenTheCapabilityComesBack()
    {
        ProgramMsi(enable: true);
        using var state = new MemoryStream();
        _bus.SaveState(state);
        _bus.Config.Write(PciConfigSpace.MsiControlOffset, 2, 0);
        _bus.Config.Write(PciConfigSpace.MsiDataOffset, 2, 0);
        state.Position = 0;
        _bus.RestoreState(state);
        Assert.That(_bus.Config.MsiEnabled, Is.True);
        Assert.That(_bus.Config.MsiData, Is.EqualTo(MessageData));
        _device.Step(Period);
        Assert.That(_apic.Messages, Has.Count.EqualTo(1), "the restored façade keeps the host's target");
    }

    [Test]
    public void GivenIntaHigh_WhenASnapshotTakenWithMsiEnabledIsRestored_ThenIntaIsLowered_AndNoMessageIsRepeated()
    {
        ProgramMsi(enable: true);
        _device.Step(Period);                                             // level high, message 1
        using var state = new MemoryStream();
        _bus.SaveState(state);
        _bus.Config.Write(PciConfigSpace.MsiControlOffset, 2, 0);         // INTA takes over: high
        Assert.That(_pin.Levels, Is.EqualTo(new[] { true }));
        state.Position = 0;
        _bus.RestoreState(state);
        Assert.That(_pin.Levels, Is.EqualTo(new[] { true, false }), "MSI is enabled again: INTA released");
        Assert.That(_apic.Messages, Has.Count.EqualTo(1), "the snapshot's interrupt was already signalled");
    }

    [Test]
    public void GivenAnIdleDevice_WhenASnapshotWithAPendingInterruptAndMsiIsRestored_ThenOneMessageIsSent()
    {
        ProgramMsi(enable: true);
        _device.Step(Period);
        using var state = new MemoryStream();
        _bus.SaveState(state);
        Ack();
        state.Position = 0;
        _bus.RestoreState(state);
        Assert.That(_apic.Messages, Has.Count.EqualTo(2), "the restored level rose: one message");
        Assert.That(_pin.Levels, Is.Empty);
    }
}
