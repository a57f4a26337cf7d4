using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines;

/// <summary>Fences, traps, wait/signal and WAIT_FENCE (seed 001 §8).</summary>
public class SynchronizationTests
{
    [TestCase(FenceKind.Write)]
    [TestCase(FenceKind.Read)]
    [TestCase(FenceKind.TopOfPipe)]
    public void Fence_ValueIsVisibleOnlyAfterAllEarlierWritesAre(FenceKind kind)
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong src = space.Alloc(64 * 1024), dst = space.Alloc(64 * 1024), fence = space.Alloc(4096);
        var data = new byte[64 * 1024];
        new Random(3).NextBytes(data);
        space.WriteBytes(src, data);
        ctx.Submit((ref PacketWriter w) =>
        {
            w.Copy(dst, src, (ulong)data.Length);
            w.Fill(dst + 100, 0xCDCDCDCD, 4); // a later write to bytes the copy already wrote
            w.Fence(fence, 1, kind);
        });
        m.SwitchTo(EngineKind.Copy, ctx);
        var expected = (byte[])data.Clone();
        expected.AsSpan(100, 4).Fill(0xCD);
        bool sawFence = false;
        // Small steps: at every step boundary, a visible fence implies all earlier writes are visible.
        for (int i = 0; i < 400 && !sawFence; i++)
        {
            m.Device.Step(50);
            sawFence = space.Read64(fence) == 1;
            if (sawFence) Assert.That(space.ReadBytes(dst, data.Length), Is.EqualTo(expected));
            else Assert.That(m.Device.Engine(EngineKind.Copy).Context.Work.Scratch0, Is.LessThanOrEqualTo((ulong)data.Length));
        }
        Assert.That(sawFence, Is.True);
    }

    [Test]
    public void Trap_InterruptsOnlyAfterEarlierWorkRetired_InAnyBuffer()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 4);
        ulong dst = space.Alloc(8192), fence = space.Alloc(4096);
        var packets = PacketProgram.Build((ref PacketWriter w) =>
        {
            w.Fill(dst, 0x01020304, 8192);
            w.Fence(fence, 9);
            w.Trap(1234);
        });
        ulong dma = space.NewDmaBuffer(packets);
        ctx.Submit((ref PacketWriter w) => w.Indirect(dma, (uint)packets.Length, privileged: false));
        var line = new CheckingLine(() =>
        {
            // Only the trap source is enabled, so the line rises exactly when the trap is raised.
            Assert.That(m.Device.Interrupts.Status & (1u << (int)InterruptSource.Trap), Is.Not.Zero);
            Assert.That(space.Read64(fence), Is.EqualTo(9UL), "fence written before the trap");
            Assert.That(space.Read32(dst + 8188), Is.EqualTo(0x01020304u), "fill retired before the trap");
        });
        m.Device.Interrupts.Line = line;
        m.Device.Interrupts.Enable = 1u << (int)InterruptSource.Trap;
        m.SwitchTo(EngineKind.Copy, ctx);
        for (int i = 0; i < 100 && line.Rises == 0; i++) m.Device.Step(64);
        Assert.That(line.Rises, Is.EqualTo(1));
        var trap = m.DrainInterrupts().Single(i => i.Source == InterruptSource.Trap);
        Assert.That(trap.Data0, Is.EqualTo(1234UL));
        Assert.That(trap.Data1, Is.EqualTo((ulong)(packets.Length - 2) * 4), "byte offset of the TRAP in its DMA buffer");
        Assert.That(trap.ContextId, Is.EqualTo(4u));
    }

    [Test]
    public void WaitAndSignal_BetweenTwoContexts_TheWaiterYieldsAndLaterContinues()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var waiter = m.NewContext(space, 1);
        var signaller = m.NewContext(space, 2);
        ulong counter = space.Alloc(4096), log = space.Alloc(4096);
        waiter.Submit((ref PacketWriter w) => { w.WriteData(log, 1); w.Wait(counter); w.WriteData(log + 4, 3); });
        signaller.Submit((ref PacketWriter w) => { w.WriteData(log + 8, 2); w.Signal(counter); });
        m.SwitchTo(EngineKind.Render, waiter);
        m.SetNext(EngineKind.Render, signaller);
        m.Device.Step(2_000);
        var engine = m.Device.Engine(EngineKind.Render);
        Assert.That(m.ReadSaveArea(waiter).LastSwitchReason, Is.EqualTo(SwitchReason.Yielded));
        Assert.That(m.ReadSaveArea(waiter).Flags & ContextFlags.Waiting, Is.EqualTo(ContextFlags.Waiting));
        m.RunUntilIdle(slice: 2_000);
        Assert.That(space.Read32(log + 8), Is.EqualTo(2u), "the signaller ran while the waiter yielded");
        Assert.That(space.Read32(log + 4), Is.EqualTo(3u), "the waiter continued after the signal");
        Assert.That(space.Read32(counter), Is.Zero, "the wait consumed the signal");
        Assert.That(engine.CurrentContext, Is.EqualTo(waiter.SaveArea.Encoded));
        Assert.That(m.ReadSaveArea(signaller).LastSwitchReason, Is.EqualTo(SwitchReason.Empty));
    }

    [Test]
    public void Wait_WithNoOtherContext_StallsAndRetriesUntilSignalledFromAnotherEngine()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var waiter = m.NewContext(space, 1);
        var signaller = m.NewContext(space, 2);
        ulong counter = space.Alloc(4096), log = space.Alloc(4096);
        waiter.Submit((ref PacketWriter w) => { w.Wait(counter); w.WriteData(log, 5); });
        m.SwitchTo(EngineKind.Compute, waiter);
        m.Device.Step(10_000);
        Assert.That(space.Read32(log), Is.Zero);
        signaller.Submit((ref PacketWriter w) => w.Signal(counter));
        m.SwitchTo(EngineKind.Copy, signaller);
        m.Device.Step(10_000);
        m.Device.Step(10_000);
        Assert.That(space.Read32(log), Is.EqualTo(5u));
    }

    [Test]
    public void WaitFence_YieldsUntilTheFenceReachesTheValue_WrapSafe()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong fence = space.Alloc(4096), log = space.Alloc(4096);
        space.Write64(fence, ulong.MaxValue - 1);
        // Target 2 lies "after" 0xFFFF...FE in modular order: not yet satisfied.
        ctx.Submit((ref PacketWriter w) => { w.WaitFence(fence, 2); w.WriteData(log, 1); });
        m.SwitchTo(EngineKind.VideoDecode, ctx);
        m.Device.Step(5_000);
        Assert.That(space.Read32(log), Is.Zero);
        space.Write64(fence, 1);
        m.Device.Step(5_000);
        Assert.That(space.Read32(log), Is.Zero, "1 is still before 2");
        space.Write64(fence, 3);
        m.Device.Step(5_000);
        Assert.That(space.Read32(log), Is.EqualTo(1u), "3 is at or past 2");
        Assert.That(m.Device.Engine(EngineKind.VideoDecode).Context.Flags & ContextFlags.Waiting, Is.EqualTo(ContextFlags.None));
    }

    private sealed class CheckingLine(Action onRise) : IInterruptLine
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
