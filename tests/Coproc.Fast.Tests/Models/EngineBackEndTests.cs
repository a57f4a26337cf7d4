using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// The machine's engine back ends (docs/models.md "Engine back ends"): the event loops ask every back end — direct
/// switching, run lists, the device's scheduling core — whether it is idle. The scheduling core's share is the registered
/// user queues: a queue with work rung behind its doorbell keeps <see cref="Machine.AllIdle"/> false until the device has
/// run it, in every model and both run modes (before, the machine called itself idle with a rung queue still to run, and a
/// threaded <see cref="Machine.WaitUntilIdle"/> returned before the queue's work was done).
/// </summary>
[TestFixture]
public class EngineBackEndTests
{
    // Enough work that the queue is still running for many device steps after its doorbell.
    private const int Fills = 24;

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAUserQueueWithRungWork_ThenTheMachineIsNotIdleUntilTheDeviceRanIt(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var surfaces = ModelWorkload.CreateUserQueueSurfaces(m);
        var registration = m.CreateUserQueue(1, surfaces.Space, 0x100, EngineKind.Compute);
        Assert.That(m.AllIdle, Is.True, "premise: a registered queue without work leaves the machine idle");

        Ring(m, registration, surfaces);

        Assert.That(m.AllIdle, Is.False, "a rung queue is work of the scheduling-core back end");
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(m.Device.Memory.Read64(surfaces.Fence), Is.EqualTo(1UL), "idle only once the queue's last packet ran");
        Assert.That(m.AllIdle, Is.True);
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAThreadedMachine_WhenAUserQueueIsRung_ThenWaitUntilIdleReturnsOnlyOnceItsWorkIsDone(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Mode = MachineRunMode.Threaded, Device = ModelWorkload.Device() });
        var surfaces = ModelWorkload.CreateUserQueueSurfaces(m);
        var registration = m.CreateUserQueue(1, surfaces.Space, 0x100, EngineKind.Compute);
        m.Start();

        Ring(m, registration, surfaces);

        // The timeout only guards against a hang; the assertion is on what idle means.
        Assert.That(m.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True);
        Assert.That(m.Device.Memory.Read64(surfaces.Fence), Is.EqualTo(1UL), "WaitUntilIdle returned before the queue's work ran");
        Assert.That(registration.Context.IsStopped, Is.False);
    }

    // FILLs over the first surface, then the fence value 1; one doorbell write.
    private static void Ring(Machine m, Driver.Kernel.UserQueueRegistration registration, ModelWorkload.UserQueueSurfaces surfaces)
    {
        var queue = registration.Open(m.Device.Memory);
        var packets = new uint[256];
        var w = new PacketWriter(packets);
        for (int i = 0; i < Fills; i++) w.Fill(surfaces.Va[0], 0x0101_0101u * (uint)(i + 1), ModelWorkload.SurfaceBytes);
        w.Fence(surfaces.FenceVa, 1);
        ModelWorkload.Write(queue, w.WrittenSpan);
        queue.Flush();
    }
}
