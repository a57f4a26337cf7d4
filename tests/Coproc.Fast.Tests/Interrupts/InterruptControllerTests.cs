using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Interrupts;

public class InterruptControllerTests
{
    private sealed class RecordingLine : IInterruptLine
    {
        public List<bool> Levels { get; } = [];
        public void SetLevel(bool asserted) => Levels.Add(asserted);
    }

    [Test]
    public void Line_FollowsStatusAndEnable_AndAckIsWriteOneToClear()
    {
        using var m = new EngineTestMachine();
        var line = new RecordingLine();
        var ic = m.Device.Interrupts;
        ic.Line = line;
        var mmio = m.Device.Mmio;
        mmio.Write32(MmioMap.InterruptBase + 0x04, 1u << (int)InterruptSource.Trap);
        ic.Raise(new InterruptInfo(InterruptSource.Fence, 2, 5, 10, 20, 30));
        Assert.That(ic.IsAsserted, Is.False, "fence is masked");
        Assert.That(mmio.Read32(MmioMap.InterruptBase), Is.EqualTo(1u), "but pending");
        ic.Raise(new InterruptInfo(InterruptSource.Trap, 2, 5, 11, 21, 31));
        Assert.That(ic.IsAsserted, Is.True);
        mmio.Write32(MmioMap.InterruptBase + 0x08, 1u); // ack fence only
        Assert.That(mmio.Read32(MmioMap.InterruptBase), Is.EqualTo(2u));
        Assert.That(ic.IsAsserted, Is.True);
        mmio.Write32(MmioMap.InterruptBase + 0x08, 2u);
        Assert.That(ic.IsAsserted, Is.False);
        Assert.That(line.Levels, Is.EqualTo(new[] { true, false }));
    }

    [Test]
    public void InfoQueue_IsReadOverMmioInRaiseOrder_AndPopped()
    {
        using var m = new EngineTestMachine();
        var ic = m.Device.Interrupts;
        var mmio = m.Device.Mmio;
        ic.Raise(new InterruptInfo(InterruptSource.PageFault, 3, 77, 0x1234_5678_9ABC, 0xFEED, 999));
        ic.Raise(new InterruptInfo(InterruptSource.Vsync, InterruptSources.NoEngine, 0, 1, 2, 3));
        uint b = MmioMap.InterruptBase;
        Assert.That(mmio.Read32(b + 0x10), Is.EqualTo(2u));
        Assert.That(mmio.Read32(b + 0x18), Is.EqualTo((uint)InterruptSource.PageFault | (3u << 8)));
        Assert.That(mmio.Read32(b + 0x1C), Is.EqualTo(77u));
        Assert.That(mmio.Read64(b + 0x20), Is.EqualTo(0x1234_5678_9ABCUL));
        Assert.That(mmio.Read32(b + 0x24), Is.EqualTo(0x1234u));
        Assert.That(mmio.Read64(b + 0x28), Is.EqualTo(0xFEEDUL));
        Assert.That(mmio.Read64(b + 0x30), Is.EqualTo(999UL));
        mmio.Write32(b + 0x38, 0);
        Assert.That(mmio.Read32(b + 0x18), Is.EqualTo((uint)InterruptSource.Vsync | (0xFFu << 8)));
        mmio.Write32(b + 0x38, 0);
        Assert.That(mmio.Read32(b + 0x10), Is.Zero);
        Assert.That(mmio.Read32(b + 0x18), Is.EqualTo(0xFFFF_FFFFu), "empty queue");
    }

    [Test]
    public void FullInfoQueue_DropsAndCountsNewEntries_ButStillSetsStatus()
    {
        var ic = new InterruptController();
        for (int i = 0; i < InterruptController.QueueCapacity; i++) ic.Raise(new InterruptInfo(InterruptSource.Fence, 0, 0, (ulong)i, 0, 0));
        ic.Raise(new InterruptInfo(InterruptSource.Trap, 0, 0, 999, 0, 0));
        Assert.That(ic.QueuedCount, Is.EqualTo(InterruptController.QueueCapacity));
        Assert.That(ic.DroppedCount, Is.EqualTo(1u));
        Assert.That(ic.Status & (1u << (int)InterruptSource.Trap), Is.Not.Zero);
        Assert.That(ic.TryDequeue(out var first) && first.Data0 == 0, Is.True, "oldest first");
    }
}
