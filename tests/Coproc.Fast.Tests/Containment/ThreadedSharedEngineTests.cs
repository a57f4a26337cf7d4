using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// Threaded machine with ring 0 and ring 3 sharing an engine: the device loop steps while any context the device holds
/// has work (WORK_PENDING, native-layout.md §6.1), so a kernel context set aside for a user queue is never stranded.
/// </summary>
[TestFixture]
public sealed class ThreadedSharedEngineTests
{
    [Test]
    public void GivenAnEmptyKernelContextSetAsideForAUserQueueThatDrained_WhenRing0SubmitsAgain_ThenTheBufferCompletes_AndTheMachineGoesIdle()
    {
        const int Rounds = 8;
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 20_000 }, mode: MachineRunMode.Threaded, realResidency: true);
        var machine = h.Machine;
        var ctx = machine.CreateContext(1);
        var mem = machine.AllocateManaged(1, ctx, 64 * 1024);
        var (queue, log) = OpenRenderQueue(machine);
        machine.Start();
        // Given the kernel context loaded on the render engine and run empty.
        long first = h.Submit(1, ctx, cb => cb.Fill(mem, 0, 1, 4096));
        Assert.That(machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "failure guard");
        Assert.That(ctx.StatusOf(first), Is.EqualTo(SubmissionStatus.Completed));

        var strategy = new UserQueueWaitStrategy(200, 50, 1, TimeSpan.FromSeconds(30));
        var entry = new uint[8];
        for (int round = 0; round < Rounds; round++)
        {
            // ... a user queue takes the engine (the empty kernel context is set aside, §13.7) and drains.
            for (int i = 0; i < 8; i++)
            {
                var w = new PacketWriter(entry);
                w.WriteData(log.Va + (ulong)i * 4, [(uint)(round * 100 + i)]);
                queue.Write(entry.AsSpan(0, w.Written), strategy);
            }
            queue.Flush();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (queue.DeviceReadPtr != queue.WritePosition && DateTime.UtcNow < deadline) Thread.Yield();
            Assert.That(queue.DeviceReadPtr, Is.EqualTo(queue.WritePosition), "the user queue drained (failure guard)");
            Assert.That(machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "failure guard");

            // When ring 0 submits to the set-aside kernel context.
            int k = round;
            long id = h.Submit(1, ctx, cb => cb.Fill(mem, 0, (uint)k + 100, 4096));

            // Then the device steps for it: the buffer completes (not failed by timeout) and the machine goes idle.
            Assert.That(machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, $"round {round}: the machine went idle (failure guard, not a timing)");
            Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
            Assert.That(h.Read32(mem, 0), Is.EqualTo((uint)k + 100));
            Assert.That(machine.Device.Memory.Read32(log.Pa.Add(7 * 4)), Is.EqualTo((uint)(round * 100 + 7)));
        }
    }

    [Test]
    public void GivenARing0WaitSetAsideForAUserQueue_WhenTheCpuSatisfiesTheWaitAfterTheQueueDrained_ThenTheRing0BufferCompletes()
    {
        // Given a ring-0 buffer stopped on a WAIT (counter 0) and a user queue on the same engine that takes the engine
        // meanwhile — the kernel context is set aside (native-layout.md §13.7) — and drains.
        const int Rounds = 6;
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 20_000, TimeoutCycles = MachineOptions.MaxCycleSpan },
            mode: MachineRunMode.Threaded, realResidency: true);
        var machine = h.Machine;
        var ctx = machine.CreateContext(1);
        var mem = machine.AllocateManaged(1, ctx, 64 * 1024);
        var counter = machine.AllocateManaged(1, ctx, 4096);
        var (queue, log) = OpenRenderQueue(machine);
        machine.Start();
        var strategy = new UserQueueWaitStrategy(200, 50, 1, TimeSpan.FromSeconds(30));
        var entry = new uint[8];
        for (int round = 0; round < Rounds; round++)
        {
            int k = round;
            long id = h.Submit(1, ctx, cb => { cb.Wait(counter, 0); cb.Fill(mem, 0, (uint)k + 100, 4096); });
            for (int i = 0; i < 20; i++)
            {
                var w = new PacketWriter(entry);
                w.WriteData(log.Va + (ulong)i * 4, [(uint)(round * 100 + i)]);
                queue.Write(entry.AsSpan(0, w.Written), strategy);
            }
            queue.Flush();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (queue.DeviceReadPtr != queue.WritePosition && DateTime.UtcNow < deadline) Thread.Yield();
            Assert.That(queue.DeviceReadPtr, Is.EqualTo(queue.WritePosition), "the user queue drained (failure guard)");

            // When the CPU satisfies the wait with a plain memory write (no register is touched; the harness writes only
        // once the page-in of `counter` has executed, as Machine.MapToCpu does, or the page-in would overwrite it).
            h.Write(counter, BitConverter.GetBytes(1u));

            // Then the device keeps stepping for the set-aside context: the buffer completes and the machine goes idle.
            Assert.That(machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, $"round {round}: the machine went idle (failure guard, not a timing)");
            Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
            Assert.That(h.Read32(mem, 0), Is.EqualTo((uint)k + 100));
        }
    }

    private static (UserQueue Queue, (ulong Va, Coproc.Fast.Device.Memory.PhysicalAddress Pa) Log) OpenRenderQueue(Machine machine)
    {
        var vidmm = machine.VidMm;
        lock (machine.Scheduler.KernelLock)
        {
            var space = vidmm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
            var logAlloc = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            ulong logVa = space.MapAllocation(logAlloc);
            var logPa = vidmm.PhysicalAddressOf(logAlloc, 0);
            machine.Device.Memory.GetSpan(logPa, 4096).Clear();
            var descriptor = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            var ring = vidmm.Allocate(16 * 1024, 16 * 1024, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
            var save = vidmm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.LocalOnly, flags: AllocationFlags.Contiguous);
            machine.Device.Memory.GetSpan(vidmm.PhysicalAddressOf(descriptor, 0), 4096).Clear();
            machine.Device.Memory.GetSpan(vidmm.PhysicalAddressOf(save, 0), 4096).Clear();
            var registrar = new UserQueueRegistrar(machine.Bus, machine.Gate);
            var registration = registrar.Register(7, new UserQueueRegistrationRequest
            {
                ContextId = 0x107, Engine = EngineKind.Render, Priority = 0, TimeSliceCycles = 2_000,
                DescriptorAddress = vidmm.PhysicalAddressOf(descriptor, 0).Encoded,
                RingBase = vidmm.PhysicalAddressOf(ring, 0).Encoded, RingBytes = 16 * 1024,
            }, new UserQueueExecution(vidmm.PhysicalAddressOf(save, 0), space.Descriptor));
            return (registration.Open(machine.Device.Memory), (logVa, logPa));
        }
    }
}
