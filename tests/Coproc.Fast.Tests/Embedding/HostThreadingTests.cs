using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Bus;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.Embedding;

/// <summary>
/// The threading contract of native-layout.md §20.4 as a host uses it: vCPU threads store to doorbell pages through
/// the bus façade (no process id) while one device thread steps and parks on NEXT_EVENT; no ring is lost.
/// </summary>
public class HostThreadingTests
{
    [Test]
    public void GivenVcpuThreadsRingingThroughTheBusWhileTheDeviceThreadSteps_ThenEveryEntryRunsOnce_AndTheDeviceGoesQuiet()
    {
        const int Vcpus = 2, PerVcpu = 400;
        using var rig = new EngineQueueRig();
        var bus = new CoprocBusDevice(rig.Device);
        bus.Config.Write(0x24, 4, 0xFD00_0000); // BAR5: doorbells
        bus.Config.Write(0x04, 2, PciConfigSpace.CommandMemorySpace);
        var guests = Enumerable.Range(0, Vcpus).Select(i =>
        {
            var space = rig.Machine.NewAddressSpace();
            ulong counter = space.Alloc(4096);
            var q = rig.Open(rig.Register((uint)(10 + i), (uint)(i + 1), space, i == 0 ? EngineKind.Render : EngineKind.Copy, timeSlice: 500));
            return (Space: space, Counter: counter, Queue: q);
        }).ToArray();
        int done = 0;

        var vcpus = guests.Select(g => new Thread(() =>
        {
            var strategy = new UserQueueWaitStrategy(200, 50, 1, TimeSpan.FromSeconds(30));
            var entry = new uint[3];
            for (int k = 0; k < PerVcpu; k++)
            {
                new PacketWriter(entry).Signal(g.Counter);
                g.Queue.Write(entry, strategy);
                g.Queue.Publish();
                // The guest's store to its doorbell page, as the host's bus forwards it: BAR5 + page, no process id.
                ulong address = 0xFD00_0000 + (ulong)g.Queue.Doorbell * 4096;
                Assert.That(bus.Config.TryDecode(address, out int bar, out ulong offset), Is.True);
                bus.WriteBar(bar, offset, 4, (uint)g.Queue.WritePosition);
            }
            Interlocked.Increment(ref done);
        })).ToArray();

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // failure guard only
        var deviceThread = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (bus.NextEventCycle != bus.Device.Cycle)
                {
                    // Nothing to do now: quit once every vCPU finished and every queue drained, else wait for a store.
                    if (Volatile.Read(ref done) == Vcpus && guests.All(g => g.Queue.DeviceReadPtr == g.Queue.WritePosition)) return;
                    Thread.Yield();
                    continue;
                }
                bus.Step(2_000);
            }
        });
        deviceThread.Start();
        foreach (var t in vcpus) t.Start();
        foreach (var t in vcpus) Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True, "a vCPU did not finish (failure guard)");
        Assert.That(deviceThread.Join(TimeSpan.FromSeconds(60)), Is.True, "the device did not drain (failure guard)");

        foreach (var g in guests) Assert.That(g.Space.Read32(g.Counter), Is.EqualTo((uint)PerVcpu), "every entry ran exactly once");
        Assert.That(rig.Device.DoorbellBlock.WrongOwnerWrites + rig.Device.DoorbellBlock.UnregisteredWrites, Is.Zero);
        Assert.That(bus.NextEventCycle, Is.EqualTo(ulong.MaxValue), "quiet: nothing left to step for (vsync off)");
    }

    /// <summary>
    /// The host's doorbell wait (DoorbellAperture.WaitForDoorbell, docs/embedding.md §6): a device thread parked in it
    /// wakes on a vCPU's doorbell store, or on WakeDoorbellWaiter; with nothing rung it times out.
    /// </summary>
    [Test]
    [CancelAfter(60_000)]
    public void GivenADeviceThreadParkedInTheDoorbellWait_WhenAVcpuRings_ThenItWakes()
    {
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        var q = rig.Open(rig.Register(10, 1, space, EngineKind.Render, timeSlice: 500));
        var aperture = rig.Device.DoorbellAperture;

        // Nothing rung: the wait times out.
        Assert.That(aperture.WaitForDoorbell(spinIterations: 4, parkMilliseconds: 1), Is.False);

        // A parked device thread (no time-out) wakes on the store ...
        bool woke = false;
        var waiter = new Thread(() => woke = aperture.WaitForDoorbell(spinIterations: 0, parkMilliseconds: -1));
        waiter.Start();
        var entry = new uint[3];
        new PacketWriter(entry).Signal(space.Alloc(4096));
        q.Write(entry, new UserQueueWaitStrategy(200, 50, 1, TimeSpan.FromSeconds(30)));
        q.Publish();
        aperture.Write32(DoorbellAperture.PageOffset(q.Doorbell), (uint)q.WritePosition);
        Assert.That(waiter.Join(TimeSpan.FromSeconds(30)), Is.True, "failure guard: the store wakes the waiter");
        Assert.That(woke, Is.True);

        // ... and, once the device served that doorbell, WakeDoorbellWaiter wakes it without one.
        rig.Device.Step(100_000);
        Assert.That(aperture.WaitForDoorbell(spinIterations: 4, parkMilliseconds: 1), Is.False, "the step served the doorbell");
        var stopper = new Thread(() => woke = aperture.WaitForDoorbell(spinIterations: 0, parkMilliseconds: -1));
        woke = false;
        stopper.Start();
        aperture.WakeDoorbellWaiter();
        Assert.That(stopper.Join(TimeSpan.FromSeconds(30)), Is.True, "failure guard: the kick wakes the waiter");
        Assert.That(woke, Is.True);
    }
}
