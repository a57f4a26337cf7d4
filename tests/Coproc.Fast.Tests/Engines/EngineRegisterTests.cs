using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Engines;

/// <summary>Review fixes in the engine registers (native-layout.md §10.3).</summary>
public class EngineRegisterTests
{
    [Test]
    public void NextContextWrite_WithAnAddressOutsideMemory_IsRejectedLikeContextSwitch_AndTheEngineKeepsRunning()
    {
        // Given a context running on the render engine.
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        ulong log = space.Alloc(4096);
        var ctx = m.NewContext(space, 1);
        m.SwitchTo(EngineKind.Render, ctx);
        m.DrainInterrupts();

        // When the driver writes NEXT_CONTEXT with a save-area address beyond local memory, and the context then runs empty.
        ulong bad = PhysicalAddress.Local(m.Device.Memory.Local.Length + 0x1000).Encoded;
        m.Device.Mmio.Write64(MmioMap.EngineBase + 0x10, bad);
        ctx.Submit((ref PacketWriter w) => w.WriteData(log, 7));
        m.Device.Step(10_000);

        // Then the write is rejected (REJECTED_REQUEST, ERROR interrupt), NEXT stays 0, and the engine ran its work.
        var e = m.Device.Engine(EngineKind.Render);
        Assert.That(e.NextContext, Is.Zero);
        Assert.That(e.RejectedRequest, Is.EqualTo(bad));
        Assert.That(m.DrainInterrupts().Any(i => i.Source == InterruptSource.Error && i.Data0 == bad), Is.True);
        Assert.That(space.Read32(log), Is.EqualTo(7u));
    }
}
