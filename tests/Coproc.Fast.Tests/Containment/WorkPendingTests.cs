using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.Containment;

/// <summary>WORK_PENDING (native-layout.md §6.1): the device says whether any context it holds has work.</summary>
public class WorkPendingTests
{
    private static uint WorkPending(Coprocessor d) => d.Mmio.Read32(MmioMap.DeviceBase + DeviceRegisters.WorkPending);

    [Test]
    public void GivenAKernelContextSetAsideForAUserQueue_WhenItsRingGetsWorkAfterTheQueueDrained_ThenWorkPendingNamesItsEngine()
    {
        // Given a kernel context that ran empty, so a user queue took the copy engine and drained.
        using var rig = new EngineQueueRig();
        var kspace = rig.Machine.NewAddressSpace();
        var kernel = rig.Machine.NewContext(kspace, 100);
        ulong klog = kspace.Alloc(4096);
        rig.Machine.SwitchTo(EngineKind.Copy, kernel);
        var uspace = rig.Machine.NewAddressSpace();
        ulong ulog = uspace.Alloc(4096);
        var q = rig.Open(rig.Register(5, 5, uspace, EngineKind.Copy, timeSlice: 200));
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(ulog, 1));
        q.Flush();
        rig.Device.Step(20_000);
        Assert.That(uspace.Read32(ulog), Is.EqualTo(1u));
        Assert.That(rig.Device.Engine(EngineKind.Copy).RunningUserQueue, Is.True, "the drained queue stays loaded");
        Assert.That(WorkPending(rig.Device), Is.Zero, "nothing left anywhere");

        // When ring 0 appends to the set-aside kernel context's ring (a memory write only: no register is touched).
        kernel.Submit((ref PacketWriter w) => w.WriteData(klog, 0xC0));

        // Then the device reports the engine as holding work, though the engine's STATUS shows only the loaded, drained
        // user queue (empty) — a device loop watching the loaded context alone would park here — and stepping runs it.
        uint status = rig.Device.Mmio.Read32(MmioMap.EngineBase + (uint)EngineKind.Copy * 0x80 + 0x20);
        Assert.That(status & 0b111, Is.EqualTo(0b101u), "STATUS: loaded, empty, not runnable");
        Assert.That(WorkPending(rig.Device), Is.EqualTo(1u << (int)EngineKind.Copy));
        rig.Device.Step(5_000);
        Assert.That(kspace.Read32(klog), Is.EqualTo(0xC0u));
    }

    [Test]
    public void GivenNextContextOrARunListEntryHasWork_ThenWorkPendingIsSet_AndAnIdleDeviceReadsZero()
    {
        using var m = new EngineTestMachine();
        Assert.That(WorkPending(m.Device), Is.Zero);
        var space = m.NewAddressSpace();
        var a = m.NewContext(space, 1);
        var b = m.NewContext(space, 2);
        m.SwitchTo(EngineKind.Render, a);
        m.RunUntilIdle();
        m.SetNext(EngineKind.Render, b);
        Assert.That(WorkPending(m.Device), Is.Zero, "A empty, NEXT_CONTEXT B empty");
        b.Submit((ref PacketWriter w) => w.Nop());
        Assert.That(WorkPending(m.Device), Is.EqualTo(1u << (int)EngineKind.Render), "B, held as NEXT_CONTEXT, has work");
        m.RunUntilIdle();
        Assert.That(WorkPending(m.Device), Is.Zero);
        Assert.That(m.Device.Engine(EngineKind.Render).CurrentContext, Is.EqualTo(b.SaveArea.Encoded), "B ran and stays loaded, empty");
        a.Submit((ref PacketWriter w) => w.Nop());
        Assert.That(WorkPending(m.Device), Is.Zero, "A is held nowhere any more");
        b.Submit((ref PacketWriter w) => w.Nop());
        Assert.That(WorkPending(m.Device), Is.EqualTo(1u << (int)EngineKind.Render), "the loaded-but-empty context's WritePtr moved");
    }
}
