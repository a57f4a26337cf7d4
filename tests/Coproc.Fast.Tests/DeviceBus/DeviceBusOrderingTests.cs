using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Display;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver;

namespace Coproc.Fast.Tests.DeviceBus;

/// <summary>
/// The ordering rule of the driver's device bus (docs/embedding.md "How the driver reaches the device"): writes are
/// posted in program order, a register read does not pass a posted write, and a read on another thread never waits for
/// the device thread to come round.
/// </summary>
public class DeviceBusOrderingTests
{
    private const uint Width = MmioMap.DisplayBase + DisplayRegisters.Width;
    private const uint QueueTimeout = MmioMap.DoorbellBase + DoorbellRegisters.QueueTimeout;
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60); // failure guard only

    [Test]
    public void GivenThePostedBus_WhenWritesArePosted_ThenTheyReachTheDeviceInOrder_AndNotBeforeAReadOrTheDeviceThreadAppliesThem()
    {
        using var device = new Coprocessor();
        var bus = new PostedDeviceBus(device);

        bus.WriteRegister32(Width, 640);
        Assert.That(device.Mmio.Read32(Width), Is.Zero, "posted: the register file has not seen it yet");
        Assert.That(bus.ReadRegister32(Width), Is.EqualTo(640u), "the read applies the posted write before it reads");

        bus.WriteRegister(QueueTimeout, 12_345);
        bus.WriteRegister(QueueTimeout, 777);
        Assert.That(bus.ApplyPosted(), Is.True, "the device thread's pass finds them");
        Assert.That(device.Mmio.Read64(QueueTimeout), Is.EqualTo(777UL), "applied in program order: the later write wins");
    }

    [Test]
    public void GivenAThreadedMachine_WhenAnotherThreadWritesThenReadsRegistersWhileTheDeviceSteps_ThenEveryReadSeesTheWriteBeforeIt()
    {
        using var machine = new Machine(new MachineOptions { Mode = MachineRunMode.Threaded });
        machine.Start();
        var bus = machine.Bus;
        int mismatches = 0;
        var cpu = Task.Run(() =>
        {
            for (uint i = 1; i <= 2_000; i++)
            {
                bus.WriteRegister32(Width, i); // every write also kicks the device thread, which steps
                bus.WriteRegister(QueueTimeout, i * 3UL);
                if (bus.ReadRegister32(Width) != i || bus.ReadRegister(QueueTimeout) != i * 3UL) Interlocked.Increment(ref mismatches);
            }
        });

        Assert.That(cpu.Wait(Guard), Is.True, "the reads did not finish (failure guard)");
        Assert.Multiple(() =>
        {
            Assert.That(mismatches, Is.Zero, "a read passed a posted write");
            Assert.That(machine.ThreadFailure, Is.Null);
            Assert.That(machine.Bus.Cycle, Is.GreaterThan(0UL), "the device thread stepped meanwhile");
        });
    }

    [Test]
    public void GivenTheDeviceThreadWaitingForALockTheReaderHolds_WhenTheReaderReadsRegisters_ThenEveryReadCompletes()
    {
        // The threaded machine's device thread takes the kernel lock between steps (the run-list back end). A read that
        // waited for the device thread to answer it would deadlock a reader holding that lock; the bus's reads do not.
        using var device = new Coprocessor();
        var bus = new PostedDeviceBus(device);
        var kernelLock = new object();
        using var wantsLock = new ManualResetEventSlim();
        int stop = 0;
        var deviceThread = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                bus.ApplyPosted();
                bus.Step(1_000);
                wantsLock.Set();
                lock (kernelLock) bus.ReadRegister32(Width); // between steps, under the kernel lock
            }
        }) { IsBackground = true };
        int mismatches = 0;
        var reader = Task.Run(() =>
        {
            lock (kernelLock)
            {
                deviceThread.Start();
                if (!wantsLock.Wait(Guard)) throw new TimeoutException("the device thread did not step");
                // From here the device thread is blocked on (or about to block on) the lock this thread holds.
                for (uint i = 1; i <= 200; i++)
                {
                    bus.WriteRegister32(Width, i);
                    if (bus.ReadRegister32(Width) != i) Interlocked.Increment(ref mismatches);
                }
            }
        });

        bool finished = reader.Wait(Guard);
        Volatile.Write(ref stop, 1);
        Assert.That(finished, Is.True, "a read waited for the device thread (deadlock; failure guard)");
        Assert.That(deviceThread.Join(Guard), Is.True, "the device thread did not stop (failure guard)");
        Assert.That(mismatches, Is.Zero);
    }
}
