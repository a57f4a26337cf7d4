using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// <see cref="Machine.OpenContext"/> gives each model's kind of application context (docs/models.md "Opening a context
/// in the machine's model"): basic a kernel-path context, advanced a run-list context in the process's GPU address
/// space (kernel path on engines the run lists do not drive), hardware a ring-3 queue the kernel opens and registers
/// with the device's scheduling core — so the hardware model is a machine-level choice, not only a scenario runner's.
/// </summary>
[TestFixture]
public class OpenContextTests
{
    [TestCase(SchedulingModel.Basic, ContextPath.Kernel)]
    [TestCase(SchedulingModel.Advanced, ContextPath.RunList)]
    [TestCase(SchedulingModel.Hardware, ContextPath.UserQueue)]
    public void OpenContext_GivesTheModelsKindOfContext_ListedWithTheMachinesContexts(SchedulingModel model, ContextPath path)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });

        var a = m.OpenContext(7, priority: 3);
        var b = m.OpenContext(8);

        Assert.That(a.Path, Is.EqualTo(path));
        Assert.That((a.ProcessId, a.Priority, b.ProcessId), Is.EqualTo((7u, 3, 8u)));
        Assert.That(a.Id, Is.Not.EqualTo(b.Id));
        Assert.That(m.Contexts, Does.Contain(a).And.Contain(b));
        Assert.That(m.TryGetContext(a.Id, out var found) && ReferenceEquals(found, a), Is.True);
    }

    [Test]
    public void Advanced_OnAnEngineTheRunListsDoNotDrive_OpenContextGivesAKernelPathContext()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Advanced, Device = ModelWorkload.Device() });

        var compute = m.OpenContext(7, engine: EngineKind.Compute);
        var render = m.OpenContext(7, engine: EngineKind.Render);

        Assert.That((compute.Path, render.Path), Is.EqualTo((ContextPath.Kernel, ContextPath.RunList)));
        Assert.That(compute, Is.InstanceOf<VidSchContext>());
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void Process_IsMadeOnce_AndInTheAdvancedModelIsTheRunListProcess(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });

        var p = m.Process(5);

        Assert.That(m.Process(5), Is.SameAs(p));
        Assert.That(m.Process(6).GpuSpace, Is.Not.SameAs(p.GpuSpace), "one GPU address space per process");
        if (model == SchedulingModel.Advanced)
        {
            Assert.That(p.RunLists, Is.Not.Null);
            Assert.That(p.RunLists!.Space, Is.SameAs(p.GpuSpace));
            Assert.That(() => m.RunListScheduler.CreateProcess(5, m.Options.RunLists.PageTables), Throws.ArgumentException,
                "one process has one GPU address space");
        }
        else Assert.That(p.RunLists, Is.Null);
    }

    [Test]
    public void Hardware_AnOpenedQueueRunsItsProcessesWork_InItsOwnAddressSpace_AndCannotReachAnotherProcesssMemory()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Hardware, Device = ModelWorkload.Device() });
        // Process 1 owns a surface mapped in its space; process 2 owns two mapped only in its own, the second at a VA
        // process 1 has not mapped (each space hands out its own VAs, so its first is process 1's first VA as well).
        var (mine, mineVa) = MappedSurface(m, m.Process(1));
        MappedSurface(m, m.Process(2));
        var (theirs, theirsVa) = MappedSurface(m, m.Process(2));
        Assert.That(theirsVa, Is.Not.EqualTo(mineVa), "premise");
        var victim = (UserQueueContext)m.OpenContext(2);
        var context = (UserQueueContext)m.OpenContext(1, priority: 2);
        Assert.That(context.Id, Is.GreaterThanOrEqualTo((int)UserQueueRegistrar.FirstKernelContextId), "a kernel-made id");
        Assert.That(victim.IsStopped, Is.False);

        // The process fills its own surface, then tries its neighbour's VA (unmapped in its own space).
        var queue = context.Registration.Open(m.Device.Memory);
        var packets = new uint[64];
        var w = new PacketWriter(packets);
        w.Fill(mineVa, 0x5A5A5A5Au, 4096);
        w.Fill(theirsVa, 0x66666666u, 4096);
        ModelWorkload.Write(queue, w.WrittenSpan);
        queue.Flush();
        Assert.That(m.RunUntil(() => context.IsStopped, 200_000_000), Is.True, "the stray fill faults the queue");

        Assert.That(ModelWorkload.Read(m, mine, 4096), Is.All.EqualTo((byte)0x5A), "its own work ran first");
        Assert.That(ModelWorkload.Read(m, theirs, 4096), Is.All.EqualTo((byte)0), "the other process's memory is untouched");
        Assert.That(victim.IsStopped, Is.False, "only the faulting queue stops");
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void AMachineSaveState_KeepsTheOpenedContextsAndProcesses(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var opened = m.OpenContext(4, priority: 1);
        var space = m.Process(4).GpuSpace;
        var state = new MemoryStream();
        m.SaveState(state);
        state.Position = 0;

        using var restored = Machine.Restore(state);

        Assert.That(restored.TryGetContext(opened.Id, out var again), Is.True);
        Assert.That((again!.Path, again.ProcessId, again.Priority), Is.EqualTo((opened.Path, 4u, 1)));
        Assert.That(restored.Process(4).GpuSpace.Descriptor, Is.EqualTo(space.Descriptor), "the same process, not a new one");
        Assert.That(restored.OpenContext(4).Id, Is.EqualTo(m.OpenContext(4).Id), "both go on from the same state");
    }

    [TestCase(-1)]
    [TestCase(16)]
    public void Hardware_APriorityOutsideTheQueuesRange_IsRefused_AndNothingIsRegistered(int priority)
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Hardware, Device = ModelWorkload.Device() });

        Assert.That(() => m.OpenContext(1, priority), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(m.Contexts, Is.Empty);
    }

    private static (AllocationHandle Handle, ulong Va) MappedSurface(Machine m, MachineProcess p)
    {
        lock (m.Scheduler.KernelLock)
        {
            var h = m.VidMm.Allocate(ModelWorkload.SurfaceBytes, placement: PlacementHint.PreferLocal, flags: AllocationFlags.Contiguous);
            m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(h, 0), (int)ModelWorkload.SurfaceBytes).Clear();
            return (h, p.GpuSpace.MapAllocation(h));
        }
    }
}
