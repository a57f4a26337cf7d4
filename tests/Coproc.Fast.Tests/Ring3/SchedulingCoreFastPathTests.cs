using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// The scheduling core's per-Step fast paths (docs/performance.md, goal 1 in the eleventh session): the run list's
/// O(1) emptiness test must always agree with its slots and waiting levels, and servicing word by word straight from the
/// doorbell vector must take every rung doorbell once, in ascending order, counting one service per non-empty snapshot.
/// </summary>
public class SchedulingCoreFastPathTests
{
    // IsEmpty is now a count kept by every slot change; this is what it must equal.
    private static bool ScannedEmpty(EngineRunList runList) =>
        runList.WaitingCount == 0 && Enumerable.Range(0, runList.SlotCount).All(s => runList.SlotDoorbell(s) < 0);

    [Test]
    public void RunListEmptiness_AgreesWithItsSlots_ThroughRandomServiceRotationDrainFaultAndReset([Values(1, 2, 3)] int seed)
    {
        // Given five queues of mixed priorities on two slots of the render engine.
        using var h = new Ring3Harness(slotsPerEngine: 2);
        var rng = new Random(seed);
        var queues = Enumerable.Range(0, 5)
            .Select(i => h.Open(1, i, (uint)i + 1, priority: (byte)(i % 3), timeSlice: 50)).ToArray();
        var runList = h.Core.RunList(EngineKind.Render);
        int nonEmpty = 0;

        // When random submissions, services, partial and draining runs, time-slice rotations, a fault and a reset
        // follow one another, then after every step the kept count agrees with a scan of the slots.
        for (int step = 0; step < 400; step++)
        {
            switch (rng.Next(6))
            {
                case 0 or 1:
                    var (_, q) = queues[rng.Next(queues.Length)];
                    q.TrySubmit(Ring3Harness.Nop(4, (uint)step));
                    h.Core.Service((ulong)step);
                    break;
                case 2 or 3:
                    if (h.Core.TryGetNext(EngineKind.Render, out var rq)) h.RunQueue(rq, null, maxPackets: rng.Next(1, 3));
                    break;
                case 4:
                    if (h.Core.TryGetNext(EngineKind.Render, out var turn)) h.Core.Report(turn, cyclesUsed: 50, drained: false);
                    break;
                default:
                    if (step == 200) h.Core.FaultQueue(queues[0].Registration.Doorbell, QueueFaultReason.MalformedPacket, 0);
                    if (step == 300) { h.Core.Reset(); }
                    break;
            }
            Assert.That(runList.IsEmpty, Is.EqualTo(ScannedEmpty(runList)), $"seed {seed}, step {step}");
            if (!runList.IsEmpty) nonEmpty++;
        }
        Assert.That(nonEmpty, Is.GreaterThan(50), "the walk spent real time with slotted or waiting queues");
    }

    [Test]
    public void Service_TakesDoorbellsOfEveryWordOnce_InAscendingOrder_AndCountsOneService()
    {
        // Given 201 registered queues, and one packet (rung in the order 200, 3, 70) on the queues of doorbells 3, 70 and
        // 200 — in words 0, 1 and 3 of the vector.
        using var h = new Ring3Harness();
        var all = Enumerable.Range(0, 201).Select(s => h.Open(1, s, (uint)s + 1)).ToArray();
        var opened = new[] { 200, 3, 70 }.Select(d => all.Single(o => o.Registration.Doorbell == d)).ToArray();
        foreach (var (_, q) in opened) q.TrySubmit(Ring3Harness.Nop(4, 1));
        long servicesBefore = h.Core.Services;

        // When the core services them, all three are taken in one service and none is left pending.
        Assert.That(h.Core.Service(cycle: 9), Is.EqualTo(3));
        Assert.That(h.Core.Services, Is.EqualTo(servicesBefore + 1));
        Assert.That(h.Device.DoorbellBlock.Vector.AnyPending, Is.False);
        Assert.That(h.Core.Service(cycle: 10), Is.Zero, "nothing rung since: nothing serviced");
        Assert.That(h.Core.Services, Is.EqualTo(servicesBefore + 1), "an empty snapshot is not a service");

        // Then the run list slots them in ascending doorbell order (all of equal priority: the service order).
        var order = new List<int>();
        while (h.Core.TryGetNext(EngineKind.Render, out var rq))
        {
            order.Add(rq.Doorbell);
            h.RunQueue(rq, null);
        }
        Assert.That(order, Is.EqualTo(opened.Select(o => o.Registration.Doorbell).Order().ToArray()));
        Assert.That(h.Device.Mmio.Read64(MmioMap.DoorbellBase + Device.Doorbells.DoorbellRegisters.Services), Is.EqualTo((ulong)h.Core.Services));
    }
}
