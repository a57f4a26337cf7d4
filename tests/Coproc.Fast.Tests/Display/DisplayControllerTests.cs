using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Display;

public class DisplayControllerTests
{
    private static EngineTestMachine NewMachine() => new(new CoprocessorOptions
    {
        LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 10_000,
    });

    [Test]
    public void ImmediateFlip_IsVisibleAtOnce()
    {
        using var m = NewMachine();
        var ctx = m.NewContext(m.NewAddressSpace(), 1);
        var surface = m.AllocLocal(4096);
        ctx.Submit((ref PacketWriter w) => w.Flip(surface.Encoded, vsync: false));
        m.SwitchTo(EngineKind.Render, ctx);
        m.Device.Step(2_000);
        Assert.That(m.Device.Mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(surface.Encoded));
        Assert.That(m.Device.Display.FlipCount, Is.EqualTo(1UL));
    }

    [Test]
    public void VsyncFlip_LatchesOnlyTheLastFlipBeforeVsync()
    {
        using var m = NewMachine();
        var ctx = m.NewContext(m.NewAddressSpace(), 1);
        var a = m.AllocLocal(4096);
        var b = m.AllocLocal(4096);
        ctx.Submit((ref PacketWriter w) => { w.Flip(a.Encoded, vsync: true); w.Flip(b.Encoded, vsync: true); });
        m.SwitchTo(EngineKind.Render, ctx);
        m.Device.Step(2_000);
        var mmio = m.Device.Mmio;
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x00), Is.Zero, "CURRENT_SURFACE reports what is displayed, not what is latched");
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x08), Is.EqualTo(b.Encoded));
        Assert.That(mmio.Read32(MmioMap.DisplayBase + 0x14), Is.EqualTo(1u));
        m.Device.Step(8_000); // reaches cycle 10,000: vsync
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(b.Encoded));
        Assert.That(m.Device.Display.FlipCount, Is.EqualTo(1UL), "the first flip was ignored");
        var vsync = m.DrainInterrupts().Single(i => i.Source == InterruptSource.Vsync);
        Assert.That(vsync.Cycle, Is.EqualTo(10_000UL));
        Assert.That(vsync.Data1, Is.EqualTo(b.Encoded));
    }

    [Test]
    public void WaitForFlip_StallsTheEngineUntilTheLatchedFlipIsVisible()
    {
        using var m = NewMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong log = space.Alloc(4096);
        var surface = m.AllocLocal(4096);
        ctx.Submit((ref PacketWriter w) => { w.Flip(surface.Encoded, vsync: true); w.WaitForFlip(); w.Timestamp(log); });
        m.SwitchTo(EngineKind.Render, ctx);
        m.Device.Step(5_000);
        Assert.That(space.Read64(log), Is.Zero, "still waiting for vsync");
        m.Device.Step(10_000);
        ulong t = space.Read64(log);
        Assert.That(t, Is.GreaterThanOrEqualTo(10_000UL).And.LessThan(10_100UL), "released right after the vsync at cycle 10,000");
    }

    [Test]
    public void Flip_ToASurfaceOutsideMemory_FaultsTheContext()
    {
        using var m = NewMachine();
        var ctx = m.NewContext(m.NewAddressSpace(), 1);
        m.Device.Mmio.Write32(MmioMap.DisplayBase + 0x30, 4096); // pitch
        m.Device.Mmio.Write32(MmioMap.DisplayBase + 0x2C, 1024); // height: 4 MiB surface
        ctx.Submit((ref PacketWriter w) => w.Flip(PhysicalAddress.Local(6UL << 20).Encoded, vsync: false));
        m.SwitchTo(EngineKind.Render, ctx);
        m.Device.Step(2_000);
        Assert.That(m.ReadSaveArea(ctx).Fault.Reason, Is.EqualTo(Coproc.Fast.Device.Contexts.FaultReason.PhysicalOutOfRange));
        Assert.That(m.Device.Display.CurrentSurface, Is.Zero);
    }
}
