using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Synchronization in the advanced model: user buffers synchronize through the device's own
/// WAIT / SIGNAL on a counter in a shared allocation (seed 001 §8.4; behaviour 29) — the waiter yields the engine
/// and the run list moves on without the CPU. The scheduler-level objects (mutex / semaphore / event thunks) are in
/// AdvancedSyncObjectTests.cs and Models/SharedSyncObjectTests.cs.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedSyncTests
{
    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void ProducerConsumer_Fig24_InTheAdvancedModel_TheConsumerWaitsOnTheDeviceCounter_AndNeverReadsEarly(RunListMechanism mechanism)
    {
        // Given a consumer whose buffer is WAIT(counter) then COPY(src → dst), submitted before the producer's FILL(src);
        // SIGNAL(counter), all at invariant VAs of one process (two contexts), counter = 0.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism));
        var p = rig.Scheduler.CreateProcess();
        var consumer = rig.Scheduler.CreateContext(p, priority: 5);
        var producer = rig.Scheduler.CreateContext(p, priority: 1);
        var counter = p.AllocatePinned(4096);
        var src = p.AllocateSurface(64 << 10);
        var dst = p.AllocateSurface(64 << 10);
        const int Frames = 4;
        var tickets = new List<VaTicket>();
        for (uint f = 0; f < Frames; f++)
        {
            uint pattern = 0x1000_0001u * (f + 1);
            tickets.Add(rig.Submit(consumer, (ref PacketWriter w) =>
            {
                w.Wait(counter.Va);
                w.Copy(dst.Va + f * (16 << 10), src.Va + f * (16 << 10), 16 << 10);
            }, src.Handle, dst.Handle));
            tickets.Add(rig.Submit(producer, (ref PacketWriter w) =>
            {
                w.Fill(src.Va + f * (16 << 10), pattern, 16 << 10);
                w.Signal(counter.Va);
            }, src.Handle));
        }

        // When everything runs (the consumer has the higher priority, so it reaches each WAIT first).
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then every frame the consumer copied is the producer's finished fill, and every signal was consumed.
        Assert.That(tickets.All(t => t.IsComplete), Is.True);
        var bytes = rig.Read(dst);
        for (int f = 0; f < Frames; f++)
            AdvancedRig.AssertBytes(bytes.AsSpan(f * (16 << 10), 16 << 10).ToArray(), AdvancedRig.Pattern(0x1000_0001u * (uint)(f + 1), 16 << 10), $"frame {f}");
        Assert.That(rig.Read32(counter, 0), Is.Zero);
        Assert.That(consumer.State, Is.EqualTo(VaContextState.Ready));
        Assert.That(producer.State, Is.EqualTo(VaContextState.Ready));
    }
}
