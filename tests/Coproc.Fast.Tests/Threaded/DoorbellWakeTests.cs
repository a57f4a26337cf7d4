using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Threaded;

/// <summary>
/// A threaded machine's device thread parks when it has nothing to do; a ring-3 doorbell store (seed 003: "the doorbell
/// block … interrupts the scheduling core") must wake it, as an ioeventfd wakes a KVM host's device thread
/// (docs/embedding.md) — not a periodic poll of the device thread.
/// </summary>
[TestFixture]
public sealed class DoorbellWakeTests
{
    [Test]
    public void GivenAThreadedMachineParkedIdle_WhenARing3QueueRingsItsDoorbell_ThenTheDoorbellStoreEndsTheDeviceThreadsWait_AndTheWorkRuns()
    {
        using var h = new SchedulingHarness(mode: MachineRunMode.Threaded);
        var m = h.Machine;
        GpuAddressSpace space;
        AllocationHandle target, fencePage;
        ulong targetVa, fenceVa;
        lock (m.Scheduler.KernelLock)
        {
            space = m.VidMm.CreateGpuAddressSpace();
            target = m.VidMm.Allocate(4096, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            fencePage = m.VidMm.Allocate(4096, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(fencePage, 0), 4096).Clear();
            targetVa = space.MapAllocation(target);
            fenceVa = space.MapAllocation(fencePage);
        }
        var queue = m.CreateUserQueue(1, space, 0x100, EngineKind.Copy).Open(m.Device.Memory);
        var fence = m.VidMm.PhysicalAddressOf(fencePage, 0);
        m.Start();

        // Each attempt: wait (failure guard only) until the device thread is parked in its idle wait, then submit from
        // ring 3. A doorbell landing while the device thread is between two waits (its safety-net timeout) is serviced
        // by its loop and not counted, so several attempts are allowed; without the wake on a doorbell store none counts.
        var guard = System.Diagnostics.Stopwatch.StartNew();
        var packets = new uint[64];
        ulong submitted = 0;
        for (int attempt = 0; attempt < 20 && m.DoorbellWakes == 0; attempt++)
        {
            while (!m.DeviceThreadIdleWaiting && guard.Elapsed < TimeSpan.FromSeconds(30)) Thread.Yield();
            Assert.That(m.DeviceThreadIdleWaiting, Is.True, "the idle device thread parks (failure guard)");
            submitted++;
            var w = new PacketWriter(packets);
            w.Fill(targetVa, 0xD00B_E110u + (uint)submitted, 4096);
            w.Fence(fenceVa, submitted);
            Coproc.Fast.Tests.Models.ModelWorkload.Write(queue, w.WrittenSpan);
            queue.Flush(); // publish WritePtr + one doorbell store: no gate crossing, no register write
            while (m.Device.Memory.Read64(fence) < submitted && guard.Elapsed < TimeSpan.FromSeconds(30)) Thread.Yield();
            Assert.That(m.Device.Memory.Read64(fence), Is.EqualTo(submitted), "the queue's work ran (failure guard)");
        }

        Assert.That(m.DoorbellWakes, Is.GreaterThan(0), "a doorbell store ended the device thread's idle wait");
        Assert.That(h.Read32(target, 4092), Is.EqualTo(0xD00B_E110u + (uint)submitted));
        Assert.That(m.ThreadFailure, Is.Null);
    }
}
