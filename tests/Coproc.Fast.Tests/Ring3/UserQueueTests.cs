using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Tests.Ring3;

public class UserQueueTests
{
    [Test]
    public void PacketThatWouldStraddleTheEnd_IsPrecededByOneNopToTheEnd_AndStartsAtIndexZero()
    {
        using var h = new Ring3Harness();
        var (_, q) = h.Open(process: 7, slot: 0, context: 1, ringBytes: 4096);
        var seen = new List<uint>();
        // 60 packets of 64 B fill 3840 B; a 320 B packet does not fit in the last 256 B.
        for (uint i = 1; i <= 60; i++) Assert.That(q.TrySubmit(Ring3Harness.Nop(16, i)), Is.True);
        h.Drain(EngineKind.Render, (_, s) => seen.Add(s));
        Assert.That(q.TrySubmit(Ring3Harness.Nop(80, 61)), Is.True, "320 B packet after 3840 B: needs padding of 256 B");
        var d = h.Descriptor(q.Descriptor);
        Assert.That(q.WritePosition, Is.EqualTo(4096UL + 320), "256 B of padding, then the packet at index 0");
        var ringBase = Coproc.Fast.Device.Memory.PhysicalAddress.Decode(d.Base);
        uint padHeader = h.Device.Memory.Read32(ringBase.Add(3840));
        Assert.That(new PacketHeader(padHeader).Opcode, Is.EqualTo(Opcode.Nop));
        Assert.That(new PacketHeader(padHeader).LengthDwords, Is.EqualTo(64), "one NOP covering the 256 B gap");
        Assert.That(new PacketHeader(h.Device.Memory.Read32(ringBase)).LengthDwords, Is.EqualTo(80));
        h.Drain(EngineKind.Render, (_, s) => seen.Add(s));
        Assert.That(seen, Is.EqualTo(Enumerable.Range(1, 61).Select(i => (uint)i)));
        Assert.That(h.Descriptor(q.Descriptor).ReadPtr, Is.EqualTo(4096UL + 320));
    }

    [Test]
    public void TrySubmit_ReportsFull_ThenSucceedsOnceTheDeviceRetiresPackets()
    {
        using var h = new Ring3Harness();
        var (_, q) = h.Open(process: 7, slot: 0, context: 1, ringBytes: 4096);
        int accepted = 0;
        while (q.TrySubmit(Ring3Harness.Nop(16, (uint)accepted + 1))) accepted++;
        Assert.That(accepted, Is.EqualTo(64), "4 KiB holds exactly 64 packets of 64 B");
        Assert.That(q.TrySubmit(Ring3Harness.Nop(16, 999)), Is.False);
        Assert.That(q.PublishedWritePtr, Is.EqualTo(4096UL), "a refused submit publishes nothing");
        int consumed = h.Drain(EngineKind.Render, null);
        Assert.That(consumed, Is.EqualTo(64));
        Assert.That(q.TrySubmit(Ring3Harness.Nop(16, 65)), Is.True);
    }

    [Test]
    public void BlockingSubmit_OnAQueueThatNeverDrains_ThrowsQueueFullAfterItsTimeout()
    {
        using var h = new Ring3Harness();
        var (_, q) = h.Open(process: 7, slot: 0, context: 1, ringBytes: 4096);
        for (int i = 0; i < 64; i++) q.Write(Ring3Harness.Nop(16, (uint)i + 1), UserQueueWaitStrategy.Default);
        var strategy = new UserQueueWaitStrategy(10, 2, 1, TimeSpan.FromMilliseconds(5));
        var ex = Assert.Throws<UserQueueFullException>(() => q.Submit(Ring3Harness.Nop(16, 65), strategy))!;
        Assert.That(ex.Doorbell, Is.EqualTo(q.Doorbell));
        Assert.That(q.PublishedWritePtr, Is.EqualTo(4096UL), "before waiting, the pending packets were published so the device could drain");
        Assert.That(h.Device.DoorbellBlock.Vector.AnyPending, Is.True, "and the doorbell was rung");
    }

    [Test]
    public void GetSpanAdvance_ThenOneFlush_RingsOnceForManyPackets()
    {
        using var h = new Ring3Harness();
        var (reg, q) = h.Open(process: 7, slot: 0, context: 1, ringBytes: 8192);
        for (uint i = 1; i <= 32; i++)
        {
            Assert.That(q.TryGetSpan(64, out var span), Is.True);
            Ring3Harness.Nop(16, i).AsSpan().CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(span));
            q.Advance(64);
        }
        Assert.That(h.Device.DoorbellBlock.Vector.AnyPending, Is.False, "nothing rung before the flush");
        Assert.That(h.Descriptor(q.Descriptor).WritePtr, Is.EqualTo(0UL), "nothing published before the flush");
        q.Flush();
        var snap = h.Device.DoorbellBlock.Vector.SnapshotAndClear();
        Assert.That(snap.Count, Is.EqualTo(1));
        Assert.That(snap.Contains(reg.Doorbell), Is.True);
        Assert.That(h.Descriptor(q.Descriptor).WritePtr, Is.EqualTo(32UL * 64));
        q.Flush();
        Assert.That(h.Device.DoorbellBlock.Vector.AnyPending, Is.False, "a flush with nothing new does not ring");
    }

    [Test]
    public void MalformedWrites_AreRejectedWithTypedErrors_AndLeaveTheQueueUntouched()
    {
        using var h = new Ring3Harness();
        var (_, q) = h.Open(process: 7, slot: 0, context: 1);
        var bad = Ring3Harness.Nop(16, 1);
        bad[0] = PacketHeader.Make(Opcode.Nop, 15);
        Assert.Throws<ArgumentException>(() => q.TryWrite(bad));
        Assert.Throws<ArgumentOutOfRangeException>(() => q.TryGetSpan(6, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => q.TryGetSpan(q.MaxPacketBytes + 4, out _));
        Assert.That(q.TryGetSpan(64, out _), Is.True);
        Assert.Throws<ArgumentOutOfRangeException>(() => q.Advance(68));
        Assert.That(q.WritePosition, Is.EqualTo(0UL));
    }
}
