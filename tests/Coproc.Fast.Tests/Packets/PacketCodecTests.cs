using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Tests.Packets;

public class PacketCodecTests
{
    private static uint[] Encode(Coproc.Fast.Tests.Engines.PacketBuild build) => Coproc.Fast.Tests.Engines.PacketProgram.Build(build);

    [Test]
    public void Writer_EncodesEveryControlPacket_AsDocumentedDwords()
    {
        var s = Encode((ref PacketWriter w) =>
        {
            w.Nop();
            w.WriteData(0x1_2345_6780, [7u, 8u]);
            w.Copy(dstVa: 0x2000, srcVa: 0x1000, bytes: 0x1_0000_0010);
            w.Fill(0x3000, 0xA1B2C3D4, 40);
            w.Timestamp(0x4000);
            w.Fence(0x5000, 0x1122334455667788, FenceKind.Read, interrupt: true);
            w.PrivilegedFence(PhysicalAddress.System(0x80).Encoded, 9, FenceKind.TopOfPipe);
            w.Trap(42);
            w.Wait(0x6000);
            w.Signal(0x6000);
            w.WaitFence(0x7000, 5);
            w.Indirect(0x8000, 16, privileged: true);
            w.DisableContextSwitch();
            w.EnableContextSwitch();
            w.Flip(PhysicalAddress.Local(0x10000).Encoded, vsync: true);
            w.WaitForFlip();
            w.RegWrite(0x910, 1000);
            w.UpdatePageTable(PhysicalAddress.Local(0x2008).Encoded, [0xAAUL, 0xBBUL]);
            w.TlbFlush(3, 0x9000, 2);
        });
        uint[] expected =
        [
            0x0001_0000,
            0x0005_0001, 0x2345_6780, 0x1, 7, 8,
            0x0007_0002, 0x1000, 0, 0x2000, 0, 0x10, 1,
            0x0006_0003, 0x3000, 0, 0xA1B2C3D4, 40, 0,
            0x0003_0004, 0x4000, 0,
            0x0005_0920, 0x5000, 0, 0x55667788, 0x11223344,
            0x0005_0620, 0x80, 0x4000_0000, 9, 0,
            0x0002_0021, 42,
            0x0003_0022, 0x6000, 0,
            0x0003_0023, 0x6000, 0,
            0x0005_0024, 0x7000, 0, 5, 0,
            0x0004_0030, 0x8001, 0, 16,
            0x0001_0041,
            0x0001_0040,
            0x0003_0142, 0x10000, 0,
            0x0001_0043,
            0x0003_0044, 0x910, 1000,
            0x0007_0045, 0x2008, 0, 0xAA, 0, 0xBB, 0,
            0x0005_0046, 3, 0x9000, 0, 2,
        ];
        Assert.That(s, Is.EqualTo(expected));
    }

    [Test]
    public void Decoder_AcceptsEveryEncodedPacket_AndWalksTheStream()
    {
        var s = Encode((ref PacketWriter w) =>
        {
            w.Nop(3); w.WriteData(0x10, 1); w.Copy(0x100, 0x200, 8); w.Fill(0x10, 1, 4); w.Timestamp(8);
            w.Fence(8, 1); w.PrivilegedFence(PhysicalAddress.Local(8).Encoded, 1); w.Trap(1); w.Wait(4); w.Signal(4);
            w.WaitFence(8, 1); w.Indirect(0x1000, 4, false); w.EnableContextSwitch(); w.DisableContextSwitch();
            w.Flip(0, false); w.WaitForFlip(); w.RegWrite(0xB00, 1); w.UpdatePageTable(8, [1UL]); w.TlbFlush(1, 0, 0); w.TlbFlushAll();
        });
        int offset = 0, count = 0;
        while (offset < s.Length)
        {
            Assert.That(PacketDecoder.TryDecode(s, offset, out var p, out var e), Is.True, $"packet at {offset}: {e}");
            offset += p.LengthDwords;
            count++;
        }
        Assert.That(count, Is.EqualTo(20));
        Assert.That(offset, Is.EqualTo(s.Length));
    }

    [TestCase(new uint[] { 0x0000_0000 }, DecodeError.ZeroLength)]
    [TestCase(new uint[] { 0x0003_0004, 0x10 }, DecodeError.LengthPastEnd)]
    [TestCase(new uint[] { 0x0004_0004, 0x10, 0, 0 }, DecodeError.WrongLength)]
    [TestCase(new uint[] { 0x0003_0001, 0x10, 0 }, DecodeError.WrongLength)]
    [TestCase(new uint[] { 0x0001_0100 }, DecodeError.ReservedFlags)]
    [TestCase(new uint[] { 0x0001_00EE }, DecodeError.UnknownOpcode)]
    [TestCase(new uint[] { 0x0005_0320, 0, 0, 0, 0 }, DecodeError.ReservedFlags)]
    [TestCase(new uint[] { 0x0005_0420, 0, 0x0100_0000, 0, 0 }, DecodeError.BadPhysicalAddress)]
    [TestCase(new uint[] { 0x0005_0420, 0, 0x8000_0000, 0, 0 }, DecodeError.BadPhysicalAddress)]
    [TestCase(new uint[] { 0x0004_0030, 0x1002, 0, 4 }, DecodeError.Misaligned)]
    [TestCase(new uint[] { 0x0004_0030, 0x1000, 0, 0x0100_0001 }, DecodeError.OutOfRange)]
    [TestCase(new uint[] { 0x0003_0044, 0x200, 1 }, DecodeError.OutOfRange)]
    [TestCase(new uint[] { 0x0003_0044, 0x902, 1 }, DecodeError.Misaligned)]
    [TestCase(new uint[] { 0x0004_0045, 8, 0, 1 }, DecodeError.WrongLength)]
    [TestCase(new uint[] { 0x0005_0045, 4, 0, 1, 0 }, DecodeError.Misaligned)]
    [TestCase(new uint[] { 0x0005_0046, 0x10000, 0, 0, 0 }, DecodeError.ReservedBits)]
    [TestCase(new uint[] { 0x0005_0046, 0x8000_0000, 0x1000, 0, 0 }, DecodeError.ReservedBits)]
    [TestCase(new uint[] { 0x0007_0002, 0, 0x10000, 0, 0, 0x10, 0 }, DecodeError.OutOfRange)]
    [TestCase(new uint[] { 0x0006_0003, 0, 0, 0, 0, 0x10001 }, DecodeError.OutOfRange)]
    [TestCase(new uint[] { 0x0003_0142, 0, 0x0001_0000 }, DecodeError.BadPhysicalAddress)]
    public void Decoder_RejectsMalformedPackets_WithTheSpecificError(uint[] stream, DecodeError expected)
    {
        Assert.That(PacketDecoder.TryDecode(stream, 0, out _, out var e), Is.False);
        Assert.That(e, Is.EqualTo(expected));
    }

    [Test]
    public void Decoder_NeverThrows_OnRandomStreams()
    {
        var rng = new Random(1234);
        var buf = new uint[64];
        int ok = 0, bad = 0;
        for (int i = 0; i < 20000; i++)
        {
            for (int j = 0; j < buf.Length; j++)
                buf[j] = rng.Next(4) == 0 ? (uint)rng.Next(0x50) | ((uint)rng.Next(8) << 16) : (uint)rng.NextInt64(0, 1L << 32);
            int offset = rng.Next(-2, buf.Length + 2);
            if (PacketDecoder.TryDecode(buf.AsSpan(0, rng.Next(buf.Length + 1)), offset, out var p, out _))
            {
                ok++;
                Assert.That(p.Offset + p.LengthDwords, Is.LessThanOrEqualTo(buf.Length));
            }
            else bad++;
        }
        Assert.That(ok, Is.GreaterThan(0));
        Assert.That(bad, Is.GreaterThan(0));
    }

    [Test]
    public void Writer_ThrowsTypedError_WhenThePacketDoesNotFit_AndWritesNothing()
    {
        var buf = new uint[4];
        var w = new PacketWriter(buf);
        w.WriteData(0x10, 5);
        int before = w.Written;
        PacketBufferFullException? ex = null;
        try { w.Fence(0x10, 1); } catch (PacketBufferFullException e) { ex = e; }
        Assert.That(ex, Is.Not.Null);
        Assert.That(ex!.NeededDwords, Is.EqualTo(5));
        Assert.That(w.Written, Is.EqualTo(before));
    }

    [Test]
    public void Writer_GetSpanAndAdvance_AppendExternallyEncodedPackets()
    {
        var buf = new uint[8];
        var w = new PacketWriter(buf);
        var span = w.GetSpan(2);
        span[0] = PacketHeader.Make(Opcode.Trap, 2);
        span[1] = 77;
        w.Advance(2);
        w.Nop();
        Assert.That(w.WrittenSpan.ToArray(), Is.EqualTo(new uint[] { 0x0002_0021, 77, 0x0001_0000 }));
    }
}
