using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// Every model's contexts are one type, <see cref="GpuContext"/> (docs/models.md "One context type"): the machine lists
/// them all with their identity and path, and the present path and the observer take any of them.
/// </summary>
[TestFixture]
public class OneContextTypeTests
{
    private static Machine NewMachine(SchedulingModel model) => new(new MachineOptions { Model = model, Device = ModelWorkload.Device() });

    // A kernel-path engine of the machine: render, unless the run-list back end drives it (advanced model).
    private static EngineKind KernelEngine(Machine m) =>
        Enum.GetValues<EngineKind>().First(e => m.Schedulers[(int)e] is not null && !m.IsRunListEngine(e));

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenContextsOfEveryPath_WhenTheMachineListsThem_ThenEachIsAGpuContextWithItsIdentityAndPath(SchedulingModel model)
    {
        using var m = NewMachine(model);
        var engine = KernelEngine(m);
        var kernel = m.CreateContext(1, 3, engine);
        var space = ModelWorkload.CreateUserQueueSurfaces(m).Space;
        var queue = m.CreateUserQueue(2, space, 0x100, EngineKind.Render, priority: 4).Context;
        VaContext? runList = null;
        if (model == SchedulingModel.Advanced) runList = m.RunListScheduler.CreateContext(m.RunListScheduler.CreateProcess(), 5);

        var listed = m.Contexts;

        var expected = new List<GpuContext> { kernel, queue };
        if (runList is not null) expected.Add(runList);
        Assert.That(listed, Is.EquivalentTo(expected), "every context of every back end, and nothing else");
        Assert.That(listed.Select(c => c.Id), Is.Ordered.And.Unique, "ordered by id; ids unique across back ends");
        Assert.Multiple(() =>
        {
            Assert.That((kernel.Path, kernel.ProcessId, kernel.Priority, kernel.Engine), Is.EqualTo((ContextPath.Kernel, 1u, 3, engine)));
            Assert.That((queue.Path, queue.ProcessId, queue.Priority, queue.Engine, queue.Id), Is.EqualTo((ContextPath.UserQueue, 2u, 4, EngineKind.Render, 0x100)));
            if (runList is not null)
                Assert.That((runList.Path, runList.ProcessId, runList.Priority, runList.Engine),
                    Is.EqualTo((ContextPath.RunList, runList.Process.Id, 5, m.RunListScheduler.Options.Engine)));
            foreach (var c in listed)
            {
                Assert.That(m.TryGetContext(c.Id, out var found) && ReferenceEquals(found, c), Is.True, $"{c} found by id");
                Assert.That(c.IsStopped, Is.False, $"{c} runs");
            }
            Assert.That(m.TryGetContext(0x7FFF_FFF0, out _), Is.False, "an id nobody holds");
        });
    }

    [Test]
    public void GivenAUserQueue_WhenTheDeviceFaultsIt_ThenItIsStopped_AndWhenUnregistered_ThenTheMachineNoLongerListsIt()
    {
        using var m = NewMachine(SchedulingModel.Hardware);
        var surfaces = ModelWorkload.CreateUserQueueSurfaces(m);
        var registration = m.CreateUserQueue(1, surfaces.Space, 0x100, EngineKind.Render);
        var context = registration.Context;
        var queue = registration.Open(m.Device.Memory);
        Assert.That(context.IsStopped, Is.False);

        // A NOP with reserved flag bits: the command processor faults the queue alone (native-layout.md §13.7).
        Assert.That(queue.TryWrite([PacketHeader.Make(Opcode.Nop, 2, 0x5A), 0]), Is.True);
        queue.Flush();
        Assert.That(m.RunUntil(() => context.IsStopped, 50_000_000), Is.True, "the faulted queue reads as stopped (DB_STATE)");
        Assert.That(m.Contexts, Does.Contain(context), "still registered: the kernel has not taken it down");
        Assert.That(context.IsUnregistered, Is.False);

        m.UserQueues.Unregister(registration);
        Assert.Multiple(() =>
        {
            Assert.That(m.Contexts, Does.Not.Contain(context));
            Assert.That(context.IsUnregistered && context.IsStopped, Is.True);
            Assert.That(m.TryGetContext(context.Id, out _), Is.False);
        });
    }

    [Test]
    public void GivenARunListContext_WhenItTouchesAnUnbackedVa_ThenItIsStopped_AndItsNeighbourIsNot()
    {
        using var m = NewMachine(SchedulingModel.Advanced);
        var rl = m.RunListScheduler;
        var bad = rl.CreateContext(rl.CreateProcess());
        var good = rl.CreateContext(rl.CreateProcess());
        var buffer = bad.Process.CreateDmaBuffer(64);
        var w = buffer.Writer();
        w.WriteData(0x7700_0000, 0xDEAD);
        Assert.That(rl.TrySubmit(bad, buffer, w.Written, [], out _), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);

        GpuContext stopped = bad, running = good;
        Assert.That((stopped.IsStopped, running.IsStopped), Is.EqualTo((true, false)));
    }

    [Test]
    public void GivenAUserQueueContext_WhenAFlipChainIsAskedForIt_ThenATypedErrorSaysItPresentsThroughTheKernelPath()
    {
        using var m = NewMachine(SchedulingModel.Hardware);
        var queue = m.CreateUserQueue(1, ModelWorkload.CreateUserQueueSurfaces(m).Space, 0x100, EngineKind.Render).Context;

        var e = Assert.Throws<ArgumentException>(() => m.Display.CreateFlipChain(queue, 2));

        Assert.That(e!.Message, Does.Contain("kernel-path context"));
        Assert.That(queue.FlipChain, Is.Null, "nothing created");
    }

    [Test]
    public void GivenARegistrationWhoseContextIdHasTheTopBitSet_WhenRegistered_ThenItIsRefused_AndNoDoorbellIsTaken()
    {
        using var m = NewMachine(SchedulingModel.Hardware);
        var space = ModelWorkload.CreateUserQueueSurfaces(m).Space;
        ulong registeredBefore = m.Bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.RegisteredCount);

        var e = Assert.Throws<UserQueueRegistrationException>(() => m.CreateUserQueue(1, space, 0x8000_0000u, EngineKind.Render));

        Assert.That(e!.Message, Does.Contain("0x80000000"));
        Assert.That(m.Bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.RegisteredCount), Is.EqualTo(registeredBefore));
        Assert.That(m.Contexts, Is.Empty);
    }

    [Test]
    public void GivenARunListContextRegisteredWithTheMachineObserver_WhenItDemandFaults_ThenThePageFaultsAreNotCountedAsErrors()
    {
        using var m = NewMachine(SchedulingModel.Advanced);
        var trace = new SchedulingObserver();
        var adapter = new MachineObserver(trace, m);
        adapter.Attach(m);
        var rl = m.RunListScheduler;
        var p = rl.CreateProcess();
        var ctx = rl.CreateContext(p);
        int handle = adapter.Register(ctx, "app", "render");
        var surface = p.AllocateSurface(ModelWorkload.SurfaceBytes); // not resident: the first touch faults
        var buffer = p.CreateDmaBuffer(64);
        var w = buffer.Writer();
        w.Fill(surface.Va, 0x11223344, ModelWorkload.SurfaceBytes);
        Assert.That(rl.TrySubmit(ctx, buffer, w.Written, [], out _), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);

        Assert.That(ctx.PageFaults, Is.GreaterThan(0), "the premise: it demand-faulted");
        Assert.That(trace.Contexts[handle].Faults, Is.Zero, "a demand-paged context's page faults are its paging, not errors");
    }

    // A user queue of its own process filled with FILLs of its first surface, then a fence; returns its context and fence.
    private static (UserQueueContext Context, Coproc.Fast.Device.Memory.PhysicalAddress Fence) BusyQueue(Machine m, uint pid, uint contextId, int fills)
    {
        var surfaces = ModelWorkload.CreateUserQueueSurfaces(m);
        var registration = m.CreateUserQueue(pid, surfaces.Space, contextId, EngineKind.Render, priority: 2, timeSliceCycles: 5_000);
        var queue = registration.Open(m.Device.Memory);
        var packets = new uint[64];
        for (int i = 0; i < fills; i++)
        {
            var w = new PacketWriter(packets);
            w.Fill(surfaces.Va[0], (uint)i, ModelWorkload.SurfaceBytes);
            if (i == fills - 1) w.Fence(surfaces.FenceVa, 1);
            ModelWorkload.Write(queue, w.WrittenSpan);
        }
        queue.Flush();
        return (registration.Context, surfaces.Fence);
    }

    [Test]
    public void GivenTwoEqualUserQueuesWithLongWork_WhenTheirTimeSlicesRotate_ThenTheEngineCountsEachOnesPreemptionsInItsSaveArea()
    {
        using var m = NewMachine(SchedulingModel.Hardware);
        var (a, fa) = BusyQueue(m, 1, 0x100, 40);
        var (b, fb) = BusyQueue(m, 2, 0x101, 40);

        Assert.That(m.RunUntil(() => m.Device.Memory.Read64(fa) == 1 && m.Device.Memory.Read64(fb) == 1, 2_000_000_000), Is.True);

        Assert.That(a.Preemptions, Is.GreaterThan(0), "set aside at a time slice while it had FILLs left");
        Assert.That(b.Preemptions, Is.GreaterThan(0));
    }

    [Test]
    public void GivenAUserQueueAloneOnItsEngine_WhenItRunsToTheEnd_ThenItIsNeverCountedAsPreempted()
    {
        using var m = NewMachine(SchedulingModel.Hardware);
        var (a, fa) = BusyQueue(m, 1, 0x100, 40);

        Assert.That(m.RunUntil(() => m.Device.Memory.Read64(fa) == 1, 2_000_000_000), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);

        Assert.That(a.Preemptions, Is.Zero, "it left the engine only when its ring was empty");
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAKernelPathContext_WhenAUserQueueIsRegisteredUnderItsId_ThenTheRegistrationIsRefused_AndNothingIsTaken(SchedulingModel model)
    {
        // The device reports faults by context id: a queue under a kernel-path context's id that faulted would get that
        // other process's context reset.
        using var m = NewMachine(model);
        var kernel = m.CreateContext(1, 0, EngineKind.Render);
        var space = ModelWorkload.CreateUserQueueSurfaces(m).Space;
        ulong registeredBefore = m.Bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.RegisteredCount);

        var e = Assert.Throws<UserQueueRegistrationException>(() => m.CreateUserQueue(2, space, (uint)kernel.Id, EngineKind.Render));

        Assert.That(e!.Message, Does.Contain("another context's"));
        Assert.That(m.Bus.ReadRegister32(MmioMap.DoorbellBase + DoorbellRegisters.RegisteredCount), Is.EqualTo(registeredBefore));
        Assert.That(m.Contexts, Is.EqualTo(new GpuContext[] { kernel }));
    }

    [Test]
    public void GivenAKernelPathContextAndAQueueTheKernelOpens_ThenTheirIdsDiffer_AndTheQueuesFaultResetsNoOtherContext()
    {
        using var m = NewMachine(SchedulingModel.Hardware);
        var kernel = m.CreateContext(1, 0, EngineKind.Render);
        Coproc.Fast.Driver.Cpu.CpuAddressSpace cpu;
        lock (m.Scheduler.KernelLock) cpu = m.VidMm.CreateCpuAddressSpace();
        var gpu = ModelWorkload.CreateUserQueueSurfaces(m).Space;
        var registration = m.UserQueues.Open(2, m.VidMm, cpu, gpu, new UserQueueOpenRequest { Engine = EngineKind.Render, RingBytes = 4096, TimeSliceCycles = 10_000 });
        Assert.That(registration.Context.Id, Is.Not.EqualTo(kernel.Id));
        Assert.That(m.Contexts.Select(c => c.Id), Is.Unique);

        // When the opened queue faults (a NOP with reserved flag bits).
        var queue = registration.Open(m.Device.Memory);
        Assert.That(queue.TryWrite([PacketHeader.Make(Opcode.Nop, 2, 0x5A), 0]), Is.True);
        queue.Flush();
        Assert.That(m.RunUntil(() => registration.Context.IsStopped, 50_000_000), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);

        // Then only the queue stopped: the kernel-path context of the other process was not reset.
        Assert.That(kernel.Resets, Is.Zero);
    }

    [Test]
    public void GivenAUserQueueKeptAcrossASaveStateRestore_WhenItIsUnregisteredOnTheRestoredMachine_ThenThatMachineNoLongerListsIt()
    {
        byte[] state;
        UserQueueRegistration registration;
        using (var m = NewMachine(SchedulingModel.Hardware))
        {
            registration = m.CreateUserQueue(1, ModelWorkload.CreateUserQueueSurfaces(m).Space, 0x100, EngineKind.Render);
            Assert.That(m.RunUntilIdle(), Is.True);
            state = Coproc.Fast.Tests.SaveState.MachineSaveStateWorkload.Save(m);
        }
        using var restored = Coproc.Fast.Tests.SaveState.MachineSaveStateWorkload.Restore(state);
        Assert.That(restored.TryGetContext(0x100, out var before), Is.True, "the restored machine lists the queue");

        restored.UserQueues.Unregister(registration);

        Assert.That(restored.TryGetContext(0x100, out _), Is.False);
        Assert.That(((UserQueueContext)before!).IsUnregistered, Is.True);
    }

    [Test]
    public void GivenADisposedMachine_WhenAUserQueueContextsPreemptionsAreRead_ThenATypedErrorIsThrown_NotACrash()
    {
        UserQueueContext context;
        using (var m = NewMachine(SchedulingModel.Hardware))
            context = m.CreateUserQueue(1, ModelWorkload.CreateUserQueueSurfaces(m).Space, 0x100, EngineKind.Render).Context;

        Assert.Throws<ObjectDisposedException>(() => _ = context.Preemptions);
    }

    [Test]
    public void GivenRunListOptionsWhoseFirstContextIdIsNotAnInt_WhenTheMachineIsBuilt_ThenItIsRefused()
    {
        var options = new MachineOptions
        {
            Model = SchedulingModel.Advanced, Device = ModelWorkload.Device(),
            RunLists = new RunListOptions { FirstContextId = 0x8000_0000u },
        };
        Assert.That(() => new Machine(options), Throws.InstanceOf<ArgumentOutOfRangeException>().Or.InnerException.InstanceOf<ArgumentOutOfRangeException>());
    }
}
