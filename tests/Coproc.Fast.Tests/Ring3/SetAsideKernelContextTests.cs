using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// native-layout.md §13.7: while a user queue holds the engine, a kernel context set aside for it counts as loaded for
/// the driver. When the engine hands the engine from the queue to a different kernel context (NEXT_CONTEXT), the
/// driver must hear of it: otherwise it charges the incoming context's engine time (a hung WAIT included) to the
/// set-aside one and resets it as hung.
/// </summary>
[TestFixture]
public sealed class SetAsideKernelContextTests
{
    [Test]
    public void GivenAKernelContextSetAsideForAUserQueue_WhenTheEngineTakesNextContextFromTheQueue_ThenTheSwitchIsReported()
    {
        using var rig = new EngineQueueRig();
        var kspace = rig.Machine.NewAddressSpace();
        var aside = rig.Machine.NewContext(kspace, 100);
        var next = rig.Machine.NewContext(kspace, 101);
        ulong log = kspace.Alloc(4096);
        rig.Machine.SwitchTo(EngineKind.Copy, aside);
        rig.Device.Step(5_000);
        var uspace = rig.Machine.NewAddressSpace();
        ulong ulog = uspace.Alloc(4096);
        var q = rig.Open(rig.Register(5, 5, uspace, EngineKind.Copy, timeSlice: 200));
        for (uint i = 1; i <= 64; i++) EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(ulog, i));
        q.Flush();
        rig.Device.Step(1_000);
        Assert.That(rig.Device.Engine(EngineKind.Copy).UserQueueDoorbell, Is.EqualTo(q.Doorbell), "the kernel context was set aside");
        rig.Machine.DrainInterrupts();

        next.Submit((ref PacketWriter w) => w.WriteData(log, 3));
        rig.Machine.SetNext(EngineKind.Copy, next);
        rig.Device.Step(20_000);

        Assert.That(kspace.Read32(log), Is.EqualTo(3u), "the engine ran NEXT_CONTEXT");
        var switches = rig.Machine.DrainInterrupts().Where(i => i.Source == InterruptSource.ContextSwitch)
            .Select(i => (i.ContextId, i.Data1)).ToList();
        Assert.That(switches, Does.Contain((5u, next.SaveArea.Encoded)),
            "the switch from the queue to NEXT_CONTEXT is reported (from = the queue's context)");
    }
}
