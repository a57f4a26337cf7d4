using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Tests.Ring3;

public class ConcurrentSubmissionTests
{
    [Test]
    public void ManyProducersOnTheirOwnQueues_EachEntryConsumedExactlyOnce_InOrderPerQueue()
    {
        // Given 6 processes with one user queue each (small rings, so they wrap and fill), submitting from their own
        // threads — some a doorbell per packet, some one per 16 — while a device thread services and consumes.
        const int Producers = 6, PerProducer = 5000;
        using var h = new Ring3Harness(slotsPerEngine: 4);
        var queues = Enumerable.Range(0, Producers)
            .Select(i => h.Open(process: (uint)(100 + i), slot: i, context: (uint)i + 1, ringBytes: 4096,
                engine: i % 2 == 0 ? EngineKind.Render : EngineKind.Compute, priority: (byte)(i % 3), timeSlice: 50))
            .ToArray();
        var byDoorbell = queues.ToDictionary(q => q.Registration.Doorbell, q => Array.IndexOf(queues, q));
        var lastSeq = new uint[Producers];
        var consumed = new int[Producers];
        var errors = new List<string>();
        int producersDone = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var producers = queues.Select((q, i) => new Thread(() =>
        {
            var strategy = new UserQueueWaitStrategy(200, 50, 1, TimeSpan.FromSeconds(30));
            for (uint s = 1; s <= PerProducer; s++)
            {
                q.Queue.Write(Ring3Harness.Nop(i % 2 == 0 ? 16 : 5 + (int)(s % 11), s), strategy);
                if (i % 3 == 0 || s % 16 == 0) q.Queue.Flush();
            }
            q.Queue.Flush();
            Interlocked.Increment(ref producersDone);
        })).ToArray();

        void OnPacket(int doorbell, uint seq)
        {
            int p = byDoorbell[doorbell];
            if (seq != lastSeq[p] + 1) errors.Add($"queue {p}: {seq} after {lastSeq[p]}");
            lastSeq[p] = seq;
            consumed[p]++;
        }

        var device = new Thread(() =>
        {
            var line = h.Device.DoorbellBlock.Interrupt;
            while (!stop.IsCancellationRequested)
            {
                h.Device.Step(100);
                bool worked = false;
                foreach (var engine in new[] { EngineKind.Render, EngineKind.Compute })
                    for (int n = 0; n < 8 && h.Core.TryGetNext(engine, out var rq); n++)
                        worked |= h.RunQueue(rq, OnPacket, maxPackets: 20) > 0;
                if (consumed.Sum() == Producers * PerProducer) return;
                if (!worked && !h.Core.TryGetNext(EngineKind.Render, out _) && !h.Core.TryGetNext(EngineKind.Compute, out _))
                    line.Wait(spinIterations: 200, parkMilliseconds: 10);
            }
        });
        device.Start();
        foreach (var t in producers) t.Start();
        foreach (var t in producers) Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True, "a producer did not finish: failure");
        Assert.That(device.Join(TimeSpan.FromSeconds(60)), Is.True, "the device did not consume everything: failure");

        Assert.That(errors, Is.Empty);
        Assert.That(consumed, Is.All.EqualTo(PerProducer));
        Assert.That(h.Core.QueueFaults, Is.EqualTo(0));
        Assert.That(h.Device.DoorbellBlock.WrongOwnerWrites + h.Device.DoorbellBlock.UnregisteredWrites, Is.EqualTo(0));
        foreach (var (reg, q) in queues) Assert.That(h.Descriptor(reg.Descriptor).ReadPtr, Is.EqualTo(q.WritePosition));
    }

    [Test]
    public void Registration_IsExactlyOneRing0Entry_AndSubmissionsMakeNone()
    {
        using var h = new Ring3Harness();
        var (_, q) = h.Open(process: 9, slot: 0, context: 1, ringBytes: 65536);
        Assert.That(h.Gate.EntriesOf(9), Is.EqualTo(1));
        for (uint s = 1; s <= 1000; s++)
        {
            q.Submit(Ring3Harness.Nop(16, s), UserQueueWaitStrategy.Default);
            if (s % 256 == 0) h.Drain(EngineKind.Render, null);
        }
        h.Drain(EngineKind.Render, null);
        Assert.That(h.Gate.EntriesOf(9), Is.EqualTo(1), "1,000 ring-3 submissions crossed no gate");
        Assert.That(h.Gate.TotalEntries, Is.EqualTo(1));
    }
}
