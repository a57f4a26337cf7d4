using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines;

public class RingAndIndirectTests
{
    [Test]
    public void Ring_WrapsAround_WithNopPaddingAtTheEnd_AndRetiresEveryPacket()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1, ringBytes: 4096);
        ulong va = space.Alloc(4096);
        m.SwitchTo(EngineKind.Copy, ctx);
        // 300 batches of 5 WRITE_DATA (20 dwords each... 80 bytes) wrap the 4 KiB ring several times; each batch
        // is consumed before the next is submitted so the ring never overflows.
        for (uint batch = 0; batch < 300; batch++)
        {
            uint b = batch;
            ctx.Submit((ref PacketWriter w) =>
            {
                for (uint i = 0; i < 5; i++) w.WriteData(va + i * 4, b * 10 + i);
                w.Nop(3);
            });
            m.Device.Step(10_000);
            Assert.That(ctx.ReadPtr, Is.EqualTo(ctx.WritePtr), $"batch {batch} retired");
        }
        Assert.That(ctx.WritePtr, Is.GreaterThan(5UL * 4096), "the ring wrapped several times");
        for (uint i = 0; i < 5; i++) Assert.That(space.Read32(va + i * 4), Is.EqualTo(299 * 10 + i));
        Assert.That(m.ReadSaveArea(ctx).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.None));
    }

    [Test]
    public void Indirect_RunsTheDmaBufferThenReturnsToTheRing()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong va = space.Alloc(4096);
        // A DMA buffer spanning scattered pages, with a packet straddling a page boundary.
        var dmaPackets = PacketProgram.Build((ref PacketWriter w) =>
        {
            w.Nop(1020);
            w.WriteData(va, [1u, 2u, 3u, 4u, 5u, 6u]);
            w.Fence(va + 64, 77);
        });
        ulong dma = space.NewDmaBuffer(dmaPackets, scattered: true);
        ctx.Submit((ref PacketWriter w) =>
        {
            w.WriteData(va + 32, 10);
            w.Indirect(dma, (uint)dmaPackets.Length, privileged: false);
            w.WriteData(va + 36, 11);
        });
        m.SwitchTo(EngineKind.Render, ctx);
        m.RunUntilIdle();
        Assert.That(space.Read32(va + 20), Is.EqualTo(6u));
        Assert.That(space.Read64(va + 64), Is.EqualTo(77UL));
        Assert.That(space.Read32(va + 32), Is.EqualTo(10u));
        Assert.That(space.Read32(va + 36), Is.EqualTo(11u), "execution returned to the ring");
        Assert.That(ctx.ReadPtr, Is.EqualTo(ctx.WritePtr));
        Assert.That(m.ReadSaveArea(ctx).Flags & (ContextFlags.InIndirect | ContextFlags.Faulted), Is.EqualTo(ContextFlags.None));
    }

    [Test]
    public void Indirect_WithThePrivilegeBit_MayRunPrivilegedPacketsAndTouchPrivilegedPages()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong kernelVa = space.Alloc(4096, privileged: true);
        var pa = m.AllocLocal(4096);
        var packets = PacketProgram.Build((ref PacketWriter w) =>
        {
            w.DisableContextSwitch();
            w.WriteData(kernelVa, 5);
            w.PrivilegedFence(pa.Encoded, 6);
            w.EnableContextSwitch();
        });
        ulong dma = space.NewDmaBuffer(packets, privilegedPages: true);
        ctx.Submit((ref PacketWriter w) => w.Indirect(dma, (uint)packets.Length, privileged: true));
        m.SwitchTo(EngineKind.Copy, ctx);
        m.RunUntilIdle();
        Assert.That(space.Read32(kernelVa), Is.EqualTo(5u));
        Assert.That(m.Memory.Read64(pa), Is.EqualTo(6UL));
        Assert.That(m.ReadSaveArea(ctx).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.None));
    }

    [Test]
    public void Indirect_WithoutThePrivilegeBit_CannotFetchFromPrivilegedPages()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong dma = space.NewDmaBuffer(PacketProgram.Build((ref PacketWriter w) => w.Nop()), privilegedPages: true);
        ctx.Submit((ref PacketWriter w) => w.Indirect(dma, 1, privileged: false));
        m.SwitchTo(EngineKind.Copy, ctx);
        m.RunUntilIdle();
        var save = m.ReadSaveArea(ctx);
        Assert.That(save.Fault.Reason, Is.EqualTo(FaultReason.MemoryFault));
        Assert.That(save.Fault.Detail, Is.EqualTo((ushort)TranslationStatus.PrivilegeViolation));
        Assert.That(save.Fault.Address, Is.EqualTo(dma));
        Assert.That(m.DrainInterrupts().Any(i => i.Source == InterruptSource.ProtectionFault), Is.True);
    }

    [Test]
    public void Indirect_InsideADmaBuffer_IsAnInvalidCommand_SoBuffersCannotLoop()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong va = space.Alloc(4096);
        ulong dma = space.Alloc(4096);
        // The buffer redirects to itself: a loop if INDIRECT were allowed outside the ring.
        space.WriteDwords(dma, PacketProgram.Build((ref PacketWriter w) => { w.WriteData(va, 1); w.Indirect(dma, 8, privileged: true); }));
        ctx.Submit((ref PacketWriter w) => { w.Indirect(dma, 8, privileged: true); w.WriteData(va + 4, 2); });
        m.SwitchTo(EngineKind.Copy, ctx);
        m.RunUntilIdle();
        var save = m.ReadSaveArea(ctx);
        Assert.That(save.Fault.Reason, Is.EqualTo(FaultReason.IndirectOutsideRing));
        Assert.That(save.Fault.Where, Is.EqualTo(FaultLocation.DmaBuffer));
        Assert.That(save.Fault.Offset, Is.EqualTo(16UL), "byte offset of the nested INDIRECT inside the DMA buffer");
        Assert.That(space.Read32(va), Is.EqualTo(1u), "work before the fault ran");
        Assert.That(space.Read32(va + 4), Is.Zero, "nothing past the fault ran");
    }

    [Test]
    public void ManyIndirectsToOneBuffer_AllRun()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong counter = space.Alloc(4096);
        var packets = PacketProgram.Build((ref PacketWriter w) => w.Signal(counter));
        ulong dma = space.NewDmaBuffer(packets);
        ctx.Submit((ref PacketWriter w) => { for (int i = 0; i < 50; i++) w.Indirect(dma, (uint)packets.Length, false); });
        m.SwitchTo(EngineKind.Compute, ctx);
        m.RunUntilIdle();
        Assert.That(space.Read32(counter), Is.EqualTo(50u));
        Assert.That(ctx.ReadPtr, Is.EqualTo(ctx.WritePtr));
    }

    [Test]
    public void EmptyRing_IsReportedOnceAfterReReadingTheWritePointer_AndLaterSubmissionsResume()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 3);
        ulong va = space.Alloc(4096);
        ctx.Submit((ref PacketWriter w) => w.WriteData(va, 1));
        m.SwitchTo(EngineKind.Copy, ctx);
        m.Device.Step(10_000);
        m.Device.Step(10_000);
        var empties = m.DrainInterrupts().Where(i => i.Source == InterruptSource.ContextSwitch && i.Data0 == (ulong)SwitchReason.Empty).ToList();
        Assert.That(empties, Has.Count.EqualTo(1));
        Assert.That(empties[0].ContextId, Is.EqualTo(3u));
        ctx.Submit((ref PacketWriter w) => w.WriteData(va, 2));
        m.Device.Step(10_000);
        Assert.That(space.Read32(va), Is.EqualTo(2u), "the still-loaded context picked up the new write pointer");
    }

    [Test]
    public void EmptyRing_WithANextContext_SwitchesToIt()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var a = m.NewContext(space, 1);
        var b = m.NewContext(space, 2);
        ulong va = space.Alloc(4096);
        a.Submit((ref PacketWriter w) => w.WriteData(va, 1));
        b.Submit((ref PacketWriter w) => w.WriteData(va + 4, 2));
        m.SwitchTo(EngineKind.Copy, a);
        m.SetNext(EngineKind.Copy, b);
        m.RunUntilIdle();
        Assert.That(space.Read32(va + 4), Is.EqualTo(2u));
        Assert.That(m.Device.Engine(EngineKind.Copy).CurrentContext, Is.EqualTo(b.SaveArea.Encoded));
        Assert.That(m.ReadSaveArea(a).LastSwitchReason, Is.EqualTo(SwitchReason.Empty));
    }
}
