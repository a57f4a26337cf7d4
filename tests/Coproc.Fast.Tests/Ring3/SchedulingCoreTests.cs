using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Tests.Ring3;

public class SchedulingCoreTests
{
    [Test]
    public void RungQueue_LandsOnItsEnginesRunList_AndOthersStayEmpty()
    {
        using var h = new Ring3Harness();
        var (reg, q) = h.Open(process: 3, slot: 0, context: 9, engine: EngineKind.Copy);
        q.TrySubmit(Ring3Harness.Nop(4, 1));
        Assert.That(h.Core.Service(cycle: 5), Is.EqualTo(1));
        Assert.That(h.Core.TryGetNext(EngineKind.Render, out _), Is.False);
        Assert.That(h.Core.TryGetNext(EngineKind.Copy, out var rq), Is.True);
        Assert.That((rq.Doorbell, rq.ContextId, rq.Engine, rq.Descriptor), Is.EqualTo((reg.Doorbell, 9u, EngineKind.Copy, reg.Descriptor)));
    }

    [Test]
    public void RunnableEnginesRegister_ShowsEnginesWithRungQueues_UntilTheyDrain()
    {
        // Given a queue on the copy engine with one packet, rung but not yet serviced.
        using var h = new Ring3Harness();
        var (_, q) = h.Open(process: 3, slot: 0, context: 9, engine: EngineKind.Copy);
        uint Runnable() => h.Device.Mmio.Read32(MmioMap.DoorbellBase + DoorbellRegisters.RunnableEngines);
        q.TrySubmit(Ring3Harness.Nop(4, 1));
        Assert.That(h.Device.Mmio.Read64(MmioMap.DoorbellBase + DoorbellRegisters.PendingSummary), Is.Not.Zero);
        Assert.That(Runnable(), Is.Zero, "nothing is on a run list before the scheduling core services the doorbell");

        // When the core services it, the copy engine's bit is set (and only it).
        h.Core.Service(cycle: 1);
        Assert.That(Runnable(), Is.EqualTo(1u << (int)EngineKind.Copy));

        // When the engine reports the queue drained, the bit clears.
        Assert.That(h.Core.TryGetNext(EngineKind.Copy, out var rq), Is.True);
        h.Core.Report(rq, 1, drained: true);
        Assert.That(Runnable(), Is.Zero);
    }

    [Test]
    public void SpuriousRing_WithNothingNew_DoesNotMakeTheQueueRunnable()
    {
        using var h = new Ring3Harness();
        var (_, q) = h.Open(process: 3, slot: 0, context: 9);
        q.RingDoorbell();
        Assert.That(h.Core.Service(0), Is.EqualTo(1));
        Assert.That(h.Core.TryGetNext(EngineKind.Render, out _), Is.False);
    }

    [Test]
    public void HigherPriorityQueue_IsRunFirst_AndEqualPrioritiesAlternate()
    {
        using var h = new Ring3Harness();
        var (low, ql) = h.Open(1, 0, 1, priority: 2);
        var (hiA, qa) = h.Open(1, 1, 2, priority: 9);
        var (hiB, qb) = h.Open(1, 2, 3, priority: 9);
        foreach (var q in new[] { ql, qa, qb }) q.TrySubmit(Ring3Harness.Nop(4, 1));
        h.Core.Service(0);
        var order = new List<int>();
        for (int i = 0; i < 4; i++)
        {
            Assert.That(h.Core.TryGetNext(EngineKind.Render, out var rq), Is.True);
            order.Add(rq.Doorbell);
            h.Core.Report(rq, 1, drained: false);
        }
        Assert.That(order, Is.EqualTo(new[] { hiA.Doorbell, hiB.Doorbell, hiA.Doorbell, hiB.Doorbell }));
        Assert.That(order, Does.Not.Contain(low.Doorbell));
    }

    [Test]
    public void MoreQueuesThanSlots_AreTimeSlicedRoundRobin_EveryQueueGetsASlot()
    {
        using var h = new Ring3Harness(slotsPerEngine: 2);
        var queues = Enumerable.Range(0, 5).Select(i => h.Open(1, i, (uint)i + 1, timeSlice: 100)).ToArray();
        foreach (var (_, q) in queues) q.TrySubmit(Ring3Harness.Nop(4, 1));
        h.Core.Service(0);
        var runList = h.Core.RunList(EngineKind.Render);
        Assert.That(runList.SlotCount, Is.EqualTo(2));
        Assert.That(runList.WaitingCount, Is.EqualTo(3), "two slotted, three waiting");
        var ran = new HashSet<int>();
        for (int i = 0; i < 10; i++)
        {
            Assert.That(h.Core.TryGetNext(EngineKind.Render, out var rq), Is.True);
            ran.Add(rq.Doorbell);
            h.Core.Report(rq, cyclesUsed: 100, drained: false); // a whole slice each time
        }
        Assert.That(ran, Is.EquivalentTo(queues.Select(x => x.Registration.Doorbell)));
        Assert.That(runList.TimeSliceRotations, Is.EqualTo(10));
        Assert.That(h.Device.Mmio.Read32(MmioMap.DoorbellBase + DoorbellRegisters.SlotsPerEngine), Is.EqualTo(2u));
    }

    [Test]
    public void RunawayWritePtr_FaultsOnlyThatQueue_CountedAndReported()
    {
        using var h = new Ring3Harness();
        var (bad, qBad) = h.Open(1, 0, context: 11);
        var (good, qGood) = h.Open(2, 1, context: 12);
        qBad.TrySubmit(Ring3Harness.Nop(4, 1));
        qGood.TrySubmit(Ring3Harness.Nop(4, 1));
        h.Descriptor(bad.Descriptor).WritePtr = 4096 + 8; // more than SizeBytes ahead of ReadPtr 0
        h.Core.Service(cycle: 77);

        Assert.That(h.Core.TryGetNext(EngineKind.Render, out var rq), Is.True);
        Assert.That(rq.Doorbell, Is.EqualTo(good.Doorbell), "the healthy queue still runs");
        Assert.That(h.Core.QueueFaults, Is.EqualTo(1));
        Assert.That(h.Core.TryTakeFault(out var f), Is.True);
        Assert.That(f, Is.EqualTo(new QueueFault(bad.Doorbell, 11, QueueFaultReason.RunawayWritePtr, 4104, 77)));
        Assert.That(h.Device.DoorbellBlock[bad.Doorbell].State, Is.EqualTo(DoorbellState.Faulted));
        Assert.That(h.Device.Mmio.Read64(MmioMap.DoorbellBase + DoorbellRegisters.LastFault), Is.EqualTo(f.Register));

        qBad.RingDoorbell();
        Assert.That(h.Device.DoorbellBlock.FaultedWrites, Is.EqualTo(1), "a faulted queue's rings are ignored and counted");
        Assert.That(h.Device.DoorbellBlock.Vector.AnyPending, Is.False);
    }

    [TestCase(QueueFaultReason.BadRingSize)]
    [TestCase(QueueFaultReason.BadRingBase)]
    [TestCase(QueueFaultReason.ContextMismatch)]
    [TestCase(QueueFaultReason.WritePtrBehindReadPtr)]
    [TestCase(QueueFaultReason.MisalignedWritePtr)]
    public void MalformedDescriptor_FaultsOnlyThatQueue(QueueFaultReason reason)
    {
        using var h = new Ring3Harness();
        var (bad, qBad) = h.Open(1, 0, context: 11);
        var (good, qGood) = h.Open(2, 1, context: 12);
        qBad.TrySubmit(Ring3Harness.Nop(4, 1));
        qGood.TrySubmit(Ring3Harness.Nop(4, 1));
        ref var d = ref h.Descriptor(bad.Descriptor);
        switch (reason)
        {
            case QueueFaultReason.BadRingSize: d.SizeBytes = 5000; break;
            case QueueFaultReason.BadRingBase: d.Base = 1UL << 50; break;
            case QueueFaultReason.ContextMismatch: d.ContextId = 12; break;
            case QueueFaultReason.WritePtrBehindReadPtr: d.ReadPtr = d.WritePtr + 4; break;
            case QueueFaultReason.MisalignedWritePtr: d.WritePtr += 2; break;
        }
        h.Core.Service(0);
        Assert.That(h.Core.TryTakeFault(out var f), Is.True);
        Assert.That((f.Doorbell, f.Reason), Is.EqualTo((bad.Doorbell, reason)));
        Assert.That(h.Core.TryGetNext(EngineKind.Render, out var rq) && rq.Doorbell == good.Doorbell, Is.True);
        Assert.That(h.Core.TryGetNext(EngineKind.Render, out rq) && rq.Doorbell == bad.Doorbell, Is.False);
    }

    [Test]
    public void MalformedPacketFoundByTheCommandProcessor_FaultsTheQueue_AndItLeavesTheRunList()
    {
        using var h = new Ring3Harness();
        var (reg, q) = h.Open(1, 0, context: 4);
        Assert.That(q.TryGetSpan(8, out var span), Is.True);
        span.Clear(); // header with length 0: malformed
        q.Advance(8);
        q.Flush();
        h.Core.Service(0);
        Assert.That(h.Core.TryGetNext(EngineKind.Render, out var rq), Is.True);
        Assert.That(h.RunQueue(rq, null), Is.EqualTo(0));
        Assert.That(h.Core.TryTakeFault(out var f) && f.Reason == QueueFaultReason.MalformedPacket && f.Doorbell == reg.Doorbell, Is.True);
        Assert.That(h.Core.TryGetNext(EngineKind.Render, out _), Is.False);
    }

    [Test]
    public void UnregisteredQueue_StillOnTheRunList_IsDroppedNotRun()
    {
        using var h = new Ring3Harness();
        var (reg, q) = h.Open(1, 0, context: 4);
        q.TrySubmit(Ring3Harness.Nop(4, 1));
        h.Core.Service(0);
        h.Registrar.Unregister(reg);
        Assert.That(h.Core.TryGetNext(EngineKind.Render, out _), Is.False);
        q.RingDoorbell();
        Assert.That(h.Device.DoorbellBlock.UnregisteredWrites, Is.EqualTo(1));
    }
}
