using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>Reset (native-layout.md §20.3), NEXT_EVENT (§20.5) and the re-entrancy rule (§20.4).</summary>
public class ResetAndClockTests
{
    /// <summary>Every 32-bit register at every 4-byte offset and every 64-bit one at every 8-byte offset.</summary>
    private static (uint[] Narrow, ulong[] Wide) Registers(Coprocessor d)
    {
        var narrow = new uint[MmioMap.RegisterBarSize / 4];
        var wide = new ulong[MmioMap.RegisterBarSize / 8];
        for (uint o = 0; o < MmioMap.RegisterBarSize; o += 4) narrow[o / 4] = d.Mmio.Read32(o);
        for (uint o = 0; o < MmioMap.RegisterBarSize; o += 8) wide[o / 8] = o == DeviceRegisters.ResetCount ? 0 : d.Mmio.Read64(o);
        narrow[DeviceRegisters.ResetCount / 4] = narrow[DeviceRegisters.ResetCount / 4 + 1] = 0;
        return (narrow, wide);
    }

    /// <summary>A job that touches every block: context + fault, run list, doorbell queue, display mode, aperture, interrupts.</summary>
    private static (ulong Log, TestAddressSpace Space) Workload(EngineQueueRig rig)
    {
        var m = rig.Machine;
        var space = m.NewAddressSpace(faultOnInvalid: true);
        ulong log = space.Alloc(4096);
        var a = m.NewContext(space, 1);
        a.Submit((ref PacketWriter w) => { w.WriteData(log, [7u]); w.Fence(log + 8, 9, interrupt: true); w.WriteData(0x7000_0000, [1u]); });
        m.SwitchTo(EngineKind.Render, a);
        var b = m.NewContext(space, 2);
        b.Submit((ref PacketWriter w) => w.Timestamp(log + 16));
        var list = m.AllocLocal(4096);
        m.Memory.Write64(list, b.SaveArea.Encoded);
        uint rl = MmioMap.RunListBase + 0x40 + (uint)EngineKind.Compute * 0x20;
        rig.Device.Mmio.Write64(rl + 0x00, list.Encoded);
        rig.Device.Mmio.Write32(rl + 0x08, 1);
        rig.Device.Mmio.Write32(rl + 0x0C, 1);
        var q = rig.Open(rig.Register(5, 5, space, EngineKind.Copy));
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log + 32, [5u]));
        q.Flush();
        rig.Device.Mmio.Write32(MmioMap.DisplayBase + 0x28, 64);
        rig.Device.Mmio.Write64(MmioMap.MmuBase + MmuRegisters.ApertureTable, m.AllocLocal(4096).Encoded);
        rig.Device.Mmio.Write32(MmioMap.MmuBase + MmuRegisters.ApertureEntries, 4);
        rig.Device.Aperture.Write32(0x10_0000, 1);
        rig.Device.Mmio.Write32(MmioMap.MmuBase + MmuRegisters.TlbInvAsid, 3);
        rig.Device.Mmio.Write64(MmioMap.MmuBase + MmuRegisters.TlbInvVa, 0x5000);
        rig.Device.Mmio.Write64(MmioMap.MmuBase + MmuRegisters.TlbInvPages, 2);
        rig.Device.Mmio.Write64(MmioMap.RunListBase + 0x08, PhysicalAddress.System(0x1000).Encoded); // HB_BASE, HB_SIZE staged
        rig.Device.Mmio.Write32(MmioMap.RunListBase + 0x10, 128);
        rig.Device.Mmio.Write32(MmioMap.DisplayBase + 0x10, 5000); // VSYNC_PERIOD
        rig.Device.Step(120_000);
        return (log, space);
    }

    [Test]
    public void GivenADeviceThatRanAWorkload_WhenResetThroughTheResetRegister_ThenEveryRegisterReadsAsAtPowerOn_AndMemoryIsUntouched()
    {
        using var pristine = new EngineQueueRig();
        var powerOn = Registers(pristine.Device);
        using var rig = new EngineQueueRig();
        var (log, space) = Workload(rig);
        Assert.That(space.Read32(log), Is.EqualTo(7u), "the workload ran");
        Assert.That(Registers(rig.Device).Narrow, Is.Not.EqualTo(powerOn.Narrow), "it changed registers");
        var pin = new Pin();
        rig.Device.Interrupts.Line = pin;
        var memory = rig.Device.Memory;
        byte[] before = memory.GetSpan(PhysicalAddress.Local(0), (int)memory.Local.Length).ToArray();

        rig.Device.Mmio.Write32(MmioMap.DeviceBase + DeviceRegisters.Reset, 0x1234); // wrong key: ignored
        Assert.That(rig.Device.Mmio.Read64(MmioMap.DeviceBase + DeviceRegisters.ResetCount), Is.Zero);
        rig.Device.Mmio.Write32(MmioMap.DeviceBase + DeviceRegisters.Reset, DeviceRegisters.ResetKey);

        var after = Registers(rig.Device);
        Assert.That(after.Narrow, Is.EqualTo(powerOn.Narrow));
        Assert.That(after.Wide, Is.EqualTo(powerOn.Wide));
        Assert.That(rig.Device.Mmio.Read64(MmioMap.DeviceBase + DeviceRegisters.ResetCount), Is.EqualTo(1UL));
        Assert.That(pin.Level, Is.False, "the interrupt line went down");
        Assert.That(memory.GetSpan(PhysicalAddress.Local(0), (int)memory.Local.Length).ToArray(), Is.EqualTo(before), "memory is not touched");
    }

    [Test]
    public void GivenAResetDevice_WhenTheSameJobRuns_ThenCyclesBytesAndInterruptsEqualThoseOfAFreshDevice()
    {
        static (ulong Cycle, uint Value, ulong Stamp, List<InterruptInfo> Interrupts) Job(EngineTestMachine m)
        {
            var space = m.NewAddressSpace();
            ulong log = space.Alloc(4096);
            var c = m.NewContext(space, 3);
            c.Submit((ref PacketWriter w) => { w.Fill(log + 64, 0xAB, 2048); w.Timestamp(log + 8); w.Fence(log, 42, interrupt: true); });
            m.SwitchTo(EngineKind.Copy, c);
            m.RunUntilIdle(slice: 777);
            return (m.Device.Cycle, space.Read32(log), space.Read64(log + 8), m.DrainInterrupts());
        }
        using var fresh = new EngineTestMachine();
        var reference = Job(fresh);

        using var used = new EngineTestMachine();
        Job(used);
        used.Device.Step(12_345);
        used.Device.Reset();
        var again = Job(used);

        Assert.That((again.Cycle, again.Value, again.Stamp), Is.EqualTo((reference.Cycle, reference.Value, reference.Stamp)));
        // Save areas are new allocations on the used machine, so switch targets (data1) differ; everything else is equal.
        Assert.That(again.Interrupts.Select(i => (i.Source, i.Engine, i.ContextId, i.Data0, i.Cycle)),
            Is.EqualTo(reference.Interrupts.Select(i => (i.Source, i.Engine, i.ContextId, i.Data0, i.Cycle))));
    }

    [Test]
    public void NextEventCycle_IsNowWithWork_TheNextVsyncWhenIdle_AndNeverWithoutVsync_AndSkippingToItMatchesSmallSteps()
    {
        using var quiet = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20, VsyncPeriodCycles = 0 });
        Assert.That(quiet.NextEventCycle, Is.EqualTo(ulong.MaxValue));
        Assert.That(quiet.Mmio.Read64(MmioMap.DeviceBase + DeviceRegisters.NextEvent), Is.EqualTo(ulong.MaxValue));

        using var skipping = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20, VsyncPeriodCycles = 1000 });
        using var slicing = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20, VsyncPeriodCycles = 1000 });
        skipping.Step(250);
        Assert.That(skipping.NextEventCycle, Is.EqualTo(1000UL));
        for (int i = 0; i < 5; i++) skipping.Step(skipping.NextEventCycle - skipping.Cycle);
        for (int i = 0; i < 5000 / 50; i++) slicing.Step(50);
        Assert.That((skipping.Cycle, skipping.Display.VsyncCount), Is.EqualTo((slicing.Cycle, slicing.Display.VsyncCount)));
        Assert.That(skipping.Interrupts.RaisedCount, Is.EqualTo(slicing.Interrupts.RaisedCount));

        using var m = new EngineTestMachine();
        var c = m.NewContext(m.NewAddressSpace(), 1);
        c.Submit((ref PacketWriter w) => w.Nop());
        m.SwitchTo(EngineKind.Render, c);
        Assert.That(m.Device.NextEventCycle, Is.EqualTo(m.Device.Cycle), "a context with work: step now");
    }

    [Test]
    public void FromInsideSetLevel_TheHandlerMayAcknowledge_ButAnyOtherRegisterWriteIsRefused()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var a = m.NewContext(space, 1);
        var other = m.NewContext(space, 2);
        a.Submit((ref PacketWriter w) => w.Trap(9));
        m.Device.Interrupts.Enable = 1u << (int)InterruptSource.Trap;
        var mmio = m.Device.Mmio;
        var line = new Reentrant(() =>
        {
            mmio.Write64(MmioMap.EngineBase + 0x00, other.SaveArea.Encoded); // CONTEXT_SWITCH from inside the callback
            mmio.Write32(MmioMap.InterruptBase + 0x08, mmio.Read32(MmioMap.InterruptBase)); // ACK
        });
        m.Device.Interrupts.Line = line;
        m.SwitchTo(EngineKind.Render, a);
        m.Device.Step(10_000);
        Assert.That(line.Rises, Is.EqualTo(1));
        Assert.That(mmio.RefusedReentrantWrites, Is.EqualTo(1));
        Assert.That(m.Device.Engine(EngineKind.Render).CurrentContext, Is.EqualTo(a.SaveArea.Encoded), "the switch was refused");
        Assert.That(m.Device.Interrupts.Status & (1u << (int)InterruptSource.Trap), Is.Zero, "the acknowledge was accepted");
        Assert.That(m.Device.Interrupts.IsAsserted, Is.False);
    }

    private sealed class Pin : IInterruptLine
    {
        public bool Level { get; private set; } = true;
        public void SetLevel(bool asserted) => Level = asserted;
    }

    private sealed class Reentrant(Action onRise) : IInterruptLine
    {
        public int Rises { get; private set; }
        public void SetLevel(bool asserted)
        {
            if (!asserted) return;
            Rises++;
            onRise();
        }
    }
}
