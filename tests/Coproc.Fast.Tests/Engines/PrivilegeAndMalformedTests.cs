using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Engines;

/// <summary>Limited buffers with privileged content, and malformed streams, fault only their own context.</summary>
public class PrivilegeAndMalformedTests
{
    public static IEnumerable<TestCaseData> PrivilegedInLimited()
    {
        yield return Case("EnableContextSwitch", (ref PacketWriter w) => w.EnableContextSwitch(), FaultReason.PrivilegedPacketInLimitedBuffer, Opcode.EnableContextSwitch);
        yield return Case("DisableContextSwitch", (ref PacketWriter w) => w.DisableContextSwitch(), FaultReason.PrivilegedPacketInLimitedBuffer, Opcode.DisableContextSwitch);
        yield return Case("Flip", (ref PacketWriter w) => w.Flip(PhysicalAddress.Local(0x20000).Encoded, false), FaultReason.PrivilegedPacketInLimitedBuffer, Opcode.Flip);
        yield return Case("WaitForFlip", (ref PacketWriter w) => w.WaitForFlip(), FaultReason.PrivilegedPacketInLimitedBuffer, Opcode.WaitForFlip);
        yield return Case("RegWrite", (ref PacketWriter w) => w.RegWrite(0x930, 1), FaultReason.PrivilegedPacketInLimitedBuffer, Opcode.RegWrite);
        yield return Case("UpdatePageTable", (ref PacketWriter w) => w.UpdatePageTable(PhysicalAddress.Local(0x10000).Encoded, [0UL]), FaultReason.PrivilegedPacketInLimitedBuffer, Opcode.UpdatePageTable);
        yield return Case("TlbFlush", (ref PacketWriter w) => w.TlbFlushAll(), FaultReason.PrivilegedPacketInLimitedBuffer, Opcode.TlbFlush);
        yield return Case("PrivilegedFence", (ref PacketWriter w) => w.PrivilegedFence(PhysicalAddress.Local(0x10000).Encoded, 1), FaultReason.PhysicalAddressInLimitedBuffer, Opcode.Fence);
    }

    private static TestCaseData Case(string name, PacketBuild build, FaultReason reason, Opcode op) =>
        new TestCaseData(build, reason, op).SetName($"PrivilegedContentInLimitedBuffer_FaultsOnlyItsContext_{name}");

    [TestCaseSource(nameof(PrivilegedInLimited))]
    public void PrivilegedContentInLimitedBuffer_FaultsOnlyItsContext(PacketBuild bad, FaultReason reason, Opcode op)
    {
        using var m = new EngineTestMachine();
        var spaceA = m.NewAddressSpace();
        var spaceB = m.NewAddressSpace();
        var a = m.NewContext(spaceA, 10);
        var b = m.NewContext(spaceB, 20);
        ulong logA = spaceA.Alloc(4096), logB = spaceB.Alloc(4096);
        var before = m.Memory.GetSpan(PhysicalAddress.Local(0x10000), 64).ToArray();
        var packets = PacketProgram.Build((ref PacketWriter w) => { w.WriteData(logA, 1); bad(ref w); w.WriteData(logA + 4, 2); });
        ulong dma = spaceA.NewDmaBuffer(packets);
        a.Submit((ref PacketWriter w) => { w.Indirect(dma, (uint)packets.Length, privileged: false); w.WriteData(logA + 8, 3); });
        b.Submit((ref PacketWriter w) => { w.WriteData(logB, 7); w.Signal(logB + 4); });
        m.SwitchTo(EngineKind.Copy, a);
        m.SetNext(EngineKind.Copy, b);
        m.RunUntilIdle();

        var save = m.ReadSaveArea(a);
        Assert.That(save.Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(save.Fault.Reason, Is.EqualTo(reason));
        Assert.That(save.Fault.OpcodeValue, Is.EqualTo(op));
        Assert.That(save.Fault.Engine, Is.EqualTo((byte)EngineKind.Copy));
        Assert.That(save.Fault.Where, Is.EqualTo(FaultLocation.DmaBuffer));
        Assert.That(save.Fault.Offset, Is.EqualTo(16UL), "the bad packet follows one 4-dword WRITE_DATA");
        Assert.That(save.Fault.BufferAddress, Is.EqualTo(dma));
        Assert.That(save.LastSwitchReason, Is.EqualTo(SwitchReason.ProtectionFault), "the saved context says why it was switched away");
        Assert.That(spaceA.Read32(logA), Is.EqualTo(1u));
        Assert.That(spaceA.Read32(logA + 4), Is.Zero, "nothing past the fault");
        Assert.That(spaceA.Read32(logA + 8), Is.Zero, "not even the ring after the DMA buffer");
        Assert.That(m.Memory.GetSpan(PhysicalAddress.Local(0x10000), 64).ToArray(), Is.EqualTo(before), "no physical write happened");
        Assert.That(m.Device.Display.FlipCount, Is.Zero);
        Assert.That(m.Device.Display.Pitch, Is.Zero);

        Assert.That(spaceB.Read32(logB), Is.EqualTo(7u), "the other context ran");
        Assert.That(spaceB.Read32(logB + 4), Is.EqualTo(1u));
        Assert.That(m.ReadSaveArea(b).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.None));
        var irq = m.DrainInterrupts().Single(i => i.Source == InterruptSource.ProtectionFault);
        Assert.That(irq.ContextId, Is.EqualTo(10u));
        Assert.That(irq.Data1, Is.EqualTo(a.SaveArea.Encoded));
    }

    [TestCase(0x0000_0000u, DecodeError.ZeroLength)]
    [TestCase(0x0100_0001u, DecodeError.LengthPastEnd)]
    [TestCase(0x0002_0004u, DecodeError.WrongLength)]
    [TestCase(0x0001_01EEu, DecodeError.UnknownOpcode)]
    public void MalformedPacketInADmaBuffer_IsAnInvalidCommandWithItsDecodeError(uint header, DecodeError error)
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong log = space.Alloc(4096);
        var packets = PacketProgram.Build((ref PacketWriter w) => { w.Nop(2); w.GetSpan(2)[0] = header; w.Advance(2); w.WriteData(log, 1); });
        ulong dma = space.NewDmaBuffer(packets);
        ctx.Submit((ref PacketWriter w) => w.Indirect(dma, (uint)packets.Length, false));
        m.SwitchTo(EngineKind.Copy, ctx);
        m.RunUntilIdle();
        var save = m.ReadSaveArea(ctx);
        Assert.That(save.Fault.Reason, Is.EqualTo(FaultReason.MalformedPacket));
        Assert.That((DecodeError)save.Fault.Detail, Is.EqualTo(error));
        Assert.That(save.Fault.Offset, Is.EqualTo(8UL));
        Assert.That(space.Read32(log), Is.Zero);
        Assert.That(m.DrainInterrupts().Any(i => i.Source == InterruptSource.InvalidCommand && i.ContextId == 1), Is.True);
    }

    [Test]
    public void PacketPastTheRingsWritePointer_IsMalformed()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        // Publish only the first two dwords of a three-dword packet.
        ctx.Submit([PacketHeader.Make(Opcode.Timestamp, 3), 0x1000]);
        m.SwitchTo(EngineKind.Copy, ctx);
        m.RunUntilIdle();
        var save = m.ReadSaveArea(ctx);
        Assert.That(save.Fault.Reason, Is.EqualTo(FaultReason.MalformedPacket));
        Assert.That((DecodeError)save.Fault.Detail, Is.EqualTo(DecodeError.LengthPastEnd));
        Assert.That(save.Fault.Where, Is.EqualTo(FaultLocation.Ring));
    }

    [Test]
    public void RandomDmaBuffers_NeverCrashTheHost_NorTouchMemoryOutsideTheContextsMappings()
    {
        var rng = new Random(20260101);
        using var m = new EngineTestMachine();
        var system = m.Memory.GetSpan(PhysicalAddress.System(0), (int)m.Memory.System.Length);
        int faults = 0;
        for (int iter = 0; iter < 60; iter++)
        {
            var space = m.NewAddressSpace(faultOnInvalid: iter % 2 == 0);
            var ctx = m.NewContext(space, (uint)iter + 1);
            ulong data = space.Alloc(8192);
            var stream = new uint[512];
            for (int i = 0; i < stream.Length; i++)
            {
                stream[i] = rng.Next(3) switch
                {
                    // Plausible headers (valid opcodes and short lengths) so execution gets past the first packet.
                    0 => (uint)rng.Next(0x47) | ((uint)rng.Next(1, 8) << 16) | (rng.Next(8) == 0 ? (uint)rng.Next(16) << 8 : 0),
                    1 => (uint)(data + (ulong)rng.Next(8192)),
                    _ => (uint)rng.NextInt64(0, 1L << 32),
                };
            }
            ulong dma = space.Alloc((ulong)stream.Length * 4, writable: false);
            space.WriteDwords(dma, stream);
            ctx.Submit((ref PacketWriter w) => w.Indirect(dma, (uint)stream.Length, privileged: false));
            var localBefore = m.Memory.GetSpan(PhysicalAddress.Local(0), (int)m.Memory.Local.Length).ToArray();
            var systemBefore = system.ToArray();
            var dataPa = space.PhysicalOf(data);
            m.SwitchTo(EngineKind.Copy, ctx);
            m.RunUntilIdle(slice: 100_000, maxSteps: 50);
            m.SwitchTo(EngineKind.Copy, null);
            if ((m.ReadSaveArea(ctx).Flags & ContextFlags.Faulted) != 0) faults++;
            var localAfter = m.Memory.GetSpan(PhysicalAddress.Local(0), (int)m.Memory.Local.Length);
            for (int i = 0; i < localBefore.Length; i++)
            {
                if (localBefore[i] == localAfter[i]) continue;
                ulong off = (ulong)i;
                bool inData = off >= dataPa.Offset && off < dataPa.Offset + 8192;
                bool inSave = off >= ctx.SaveArea.Offset && off < ctx.SaveArea.Offset + 256;
                bool inDesc = off >= ctx.Descriptor.Offset && off < ctx.Descriptor.Offset + 192;
                Assert.That(inData || inSave || inDesc, Is.True, $"iteration {iter}: byte at local 0x{off:X} changed outside the context's mappings");
            }
            Assert.That(system.SequenceEqual(systemBefore), Is.True, "system memory untouched");
            m.DrainInterrupts();
        }
        Assert.That(faults, Is.GreaterThan(0));
    }

    [Test]
    public void RandomRings_NeverCrashTheHost()
    {
        var rng = new Random(77);
        for (int iter = 0; iter < 20; iter++)
        {
            using var m = new EngineTestMachine();
            var space = m.NewAddressSpace(faultOnInvalid: false);
            var ctx = m.NewContext(space, 1);
            var stream = new uint[256];
            for (int i = 0; i < stream.Length; i++)
                stream[i] = rng.Next(2) == 0 ? (uint)rng.Next(0x47) | ((uint)rng.Next(1, 6) << 16) : (uint)rng.NextInt64(0, 1L << 32);
            ctx.Submit(stream);
            m.SwitchTo((EngineKind)(iter % 5), ctx);
            Assert.DoesNotThrow(() => m.RunUntilIdle(slice: 100_000, maxSteps: 20));
        }
    }
}
