using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Ring3;

public class ConcurrentEngineExecutionTests
{
    [Test]
    public void ManyProcessesAndDoorbells_EachEntryExecutedExactlyOnce_InOrderPerQueue()
    {
        // Given 4 processes, each with its own address space and user queue (render or compute), submitting from their
        // own threads while a device thread steps the real device (scheduling core + command processors).
        const int Producers = 4, PerProducer = 1500;
        using var rig = new EngineQueueRig(slotsPerEngine: 2);
        var procs = Enumerable.Range(0, Producers).Select(i =>
        {
            var space = rig.Machine.NewAddressSpace();
            ulong stamps = space.Alloc((PerProducer + 1) * 8UL), counter = space.Alloc(4096);
            var q = rig.Open(rig.Register((uint)(100 + i), (uint)(i + 1), space, i % 2 == 0 ? EngineKind.Render : EngineKind.Compute,
                priority: (byte)(i % 2), timeSlice: 300));
            return (Space: space, Stamps: stamps, Counter: counter, Queue: q);
        }).ToArray();
        int producersDone = 0;

        var producers = procs.Select((p, i) => new Thread(() =>
        {
            var strategy = new UserQueueWaitStrategy(200, 50, 1, TimeSpan.FromSeconds(30));
            var entry = new uint[6];
            for (uint s = 1; s <= PerProducer; s++)
            {
                // One entry = TIMESTAMP into slot s (order) + SIGNAL of a counter (exactly once).
                var w = new PacketWriter(entry);
                w.Timestamp(p.Stamps + s * 8);
                w.Signal(p.Counter);
                p.Queue.Write(entry.AsSpan(0, 3), strategy);
                p.Queue.Write(entry.AsSpan(3, 3), strategy);
                if (i % 2 == 0 || s % 16 == 0) p.Queue.Flush(); // a doorbell per entry, or one per 16
            }
            p.Queue.Flush();
            Interlocked.Increment(ref producersDone);
        })).ToArray();

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var device = new Thread(() =>
        {
            var core = rig.Device.SchedulingCore;
            var line = rig.Device.DoorbellBlock.Interrupt;
            while (!stop.IsCancellationRequested)
            {
                rig.Device.Step(2_000);
                if (Volatile.Read(ref producersDone) == Producers && procs.All(p => p.Queue.DeviceReadPtr == p.Queue.WritePosition)) return;
                if (core.RunList(EngineKind.Render).IsEmpty && core.RunList(EngineKind.Compute).IsEmpty)
                    line.Wait(spinIterations: 200, parkMilliseconds: 1);
            }
        });
        device.Start();
        foreach (var t in producers) t.Start();
        foreach (var t in producers) Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True, "a producer did not finish: failure");
        Assert.That(device.Join(TimeSpan.FromSeconds(60)), Is.True, "the device did not execute everything: failure");

        // Then every entry ran exactly once (counter) and in order (timestamps strictly increase per queue).
        foreach (var p in procs)
        {
            Assert.That(p.Space.Read32(p.Counter), Is.EqualTo((uint)PerProducer));
            var bytes = p.Space.ReadBytes(p.Stamps + 8, PerProducer * 8);
            var stamps = Enumerable.Range(0, PerProducer).Select(k => BitConverter.ToUInt64(bytes, k * 8)).ToArray();
            Assert.That(stamps, Is.All.GreaterThan(0UL));
            Assert.That(stamps.Zip(stamps.Skip(1)).All(x => x.Second > x.First), Is.True, "in order per queue");
        }
        Assert.That(rig.Device.SchedulingCore.QueueFaults, Is.Zero);
    }
}
