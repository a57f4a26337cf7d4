using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Scheduling;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Tests.Engines;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.Arbitration;

/// <summary>
/// native-layout.md §13.7 "Arbitration": kernel contexts (priority in their save area) and doorbell user queues on the
/// same engine compete by priority on one 0..15 scale; equals share by time; a hung queue is faulted alone.
/// </summary>
[TestFixture]
public sealed class OneArbitrationTests
{
    private const EngineKind Engine = EngineKind.Copy;

    private static void SetPriority(EngineQueueRig rig, EngineContext c, int priority) =>
        rig.Machine.Memory.Local.Ref<ContextSaveArea>(c.SaveArea.Offset).SchedulingPriority = ContextSaveArea.PriorityWord(priority);

    /// <summary>A kernel context with <paramref name="fills"/> 64 KiB fills (≈1,100 cycles each), then a marker write of 1.</summary>
    private static (EngineContext ctx, TestAddressSpace space, ulong marker) KernelBacklog(EngineQueueRig rig, uint id, int fills, int? priority)
    {
        var space = rig.Machine.NewAddressSpace();
        var ctx = rig.Machine.NewContext(space, id, ringBytes: 16384);
        if (priority is { } p) SetPriority(rig, ctx, p);
        ulong target = space.Alloc(64 << 10), marker = space.Alloc(4096);
        ctx.Submit((ref PacketWriter w) =>
        {
            for (int i = 0; i < fills; i++) w.Fill(target, (uint)i, 64 << 10);
            w.WriteData(marker, 1);
        });
        return (ctx, space, marker);
    }

    /// <summary>A user queue of <paramref name="priority"/> with <paramref name="fills"/> 64 KiB fills, then a marker write of 1.</summary>
    private static (UserQueue q, TestAddressSpace space, ulong marker) QueueBacklog(EngineQueueRig rig, uint pid, int fills, byte priority,
        uint timeSlice = 10_000)
    {
        var space = rig.Machine.NewAddressSpace();
        ulong target = space.Alloc(64 << 10), marker = space.Alloc(4096);
        var q = rig.Open(rig.Register(pid, pid, space, Engine, priority, timeSlice, ringBytes: 16384));
        for (int i = 0; i < fills; i++) EngineQueueRig.Write(q, (ref PacketWriter w) => w.Fill(target, (uint)i, 64 << 10));
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(marker, 1));
        q.Flush();
        return (q, space, marker);
    }

    private static void StepUntil(EngineQueueRig rig, Func<bool> done, int maxSteps = 2_000)
    {
        for (int i = 0; i < maxSteps && !done(); i++) rig.Device.Step(1_000);
        Assert.That(done(), Is.True, "condition not reached within the step bound");
    }

    [Test]
    public void GivenLowPriorityRing0WorkRunning_WhenAHighPriorityUserQueueIsRung_ThenTheQueueRunsFirstAndTheKernelContextResumesAfterIt()
    {
        using var rig = new EngineQueueRig();
        var (k, kspace, kmarker) = KernelBacklog(rig, 100, fills: 60, priority: 0);
        rig.Machine.SwitchTo(Engine, k);
        rig.Device.Step(5_000);
        rig.Machine.DrainInterrupts();

        var (_, uspace, umarker) = QueueBacklog(rig, 7, fills: 10, priority: 15);
        StepUntil(rig, () => uspace.Read32(umarker) == 1);

        Assert.That(kspace.Read32(kmarker), Is.Zero, "the priority-0 kernel context did not finish first: the queue took the engine");
        StepUntil(rig, () => kspace.Read32(kmarker) == 1);
        var switches = rig.Machine.DrainInterrupts().Where(i => i.Source == InterruptSource.ContextSwitch).ToList();
        var preempted = switches.Where(i => i.Data0 == (ulong)SwitchReason.UserQueuePreempted).ToList();
        Assert.That(preempted.Select(i => i.ContextId), Is.EqualTo(new[] { 100u }), "the driver is told, once, that its context is off the engine");
        int at = switches.IndexOf(preempted[0]);
        Assert.That(switches.Skip(at + 1).Any(i => i.Data1 == k.SaveArea.Encoded), Is.True, "the kernel context's return to the engine is reported");
    }

    [Test]
    public void GivenAKernelContextWithoutAPriority_WhenAUserQueueIsRung_ThenKernelWorkStillGoesFirst()
    {
        using var rig = new EngineQueueRig();
        var (k, kspace, kmarker) = KernelBacklog(rig, 100, fills: 30, priority: null);
        rig.Machine.SwitchTo(Engine, k);
        rig.Device.Step(5_000);
        var (_, uspace, umarker) = QueueBacklog(rig, 7, fills: 2, priority: 15);
        StepUntil(rig, () => uspace.Read32(umarker) == 1);
        Assert.That(kspace.Read32(kmarker), Is.EqualTo(1u), "a context that gives no priority ranks above every queue");
    }

    [Test]
    public void GivenALowPriorityUserQueueRunning_WhenAHighPriorityKernelContextGetsWork_ThenTheKernelContextRunsAheadOfTheQueue()
    {
        using var rig = new EngineQueueRig();
        var kspace = rig.Machine.NewAddressSpace();
        var k = rig.Machine.NewContext(kspace, 100);
        SetPriority(rig, k, 12);
        ulong kmarker = kspace.Alloc(4096);
        rig.Machine.SwitchTo(Engine, k); // loaded, empty: set aside for the queue
        var (_, uspace, umarker) = QueueBacklog(rig, 7, fills: 60, priority: 2);
        rig.Device.Step(5_000);
        Assert.That(rig.Device.Engine(Engine).UserQueueDoorbell, Is.Not.EqualTo(-1), "the queue holds the engine");

        k.Submit((ref PacketWriter w) => w.WriteData(kmarker, 1));
        StepUntil(rig, () => kspace.Read32(kmarker) == 1);

        Assert.That(uspace.Read32(umarker), Is.Zero, "the priority-12 kernel work ran before the priority-2 queue finished");
    }

    [Test]
    public void GivenAHighPriorityUserQueueRunning_WhenALowPriorityKernelContextGetsWork_ThenItWaitsAndTheDriverIsToldItIsKeptOff()
    {
        using var rig = new EngineQueueRig();
        var kspace = rig.Machine.NewAddressSpace();
        var k = rig.Machine.NewContext(kspace, 100);
        SetPriority(rig, k, 1);
        ulong kmarker = kspace.Alloc(4096);
        rig.Machine.SwitchTo(Engine, k);
        var (_, uspace, umarker) = QueueBacklog(rig, 7, fills: 40, priority: 9);
        rig.Device.Step(5_000);
        rig.Machine.DrainInterrupts();

        k.Submit((ref PacketWriter w) => w.WriteData(kmarker, 1));
        rig.Device.Step(2_000);
        var keptOff = rig.Machine.DrainInterrupts()
            .Where(i => i.Source == InterruptSource.ContextSwitch && i.Data0 == (ulong)SwitchReason.UserQueuePreempted).ToList();
        Assert.That(keptOff.Select(i => i.ContextId), Is.EqualTo(new[] { 100u }), "a set-aside context with work kept off the engine is reported");

        StepUntil(rig, () => kspace.Read32(kmarker) == 1);
        Assert.That(uspace.Read32(umarker), Is.EqualTo(1u), "the priority-1 kernel work ran only after the priority-9 queue drained");
    }

    [Test]
    public void GivenAKernelContextAndAUserQueueOfEqualPriority_WhenBothAreBacklogged_ThenTheyShareTheEngineByTime()
    {
        using var rig = new EngineQueueRig();
        var (k, _, _) = KernelBacklog(rig, 100, fills: 200, priority: 6);
        rig.Machine.SwitchTo(Engine, k);
        var (q, _, _) = QueueBacklog(rig, 7, fills: 200, priority: 6, timeSlice: 10_000);
        for (int i = 0; i < 150; i++) rig.Device.Step(1_000);

        var engine = rig.Device.Engine(Engine);
        ulong CyclesOf(EngineContext c) =>
            engine.CurrentContext == c.SaveArea.Encoded ? engine.Context.CyclesRun : rig.Machine.ReadSaveArea(c).CyclesRun;
        ulong kernel = CyclesOf(k);
        ulong queue = engine.UserQueueDoorbell == q.Doorbell ? engine.Context.CyclesRun : QueueCycles(rig, q);
        double share = (double)kernel / (kernel + queue);
        Assert.That(kernel + queue, Is.GreaterThan(100_000UL), "the engine was busy");
        Assert.That(share, Is.InRange(0.35, 0.65), $"kernel {kernel} vs queue {queue} cycles");
    }

    [Test]
    public void GivenAKernelContextAndTwoEqualUserQueues_WhenAllAreBacklogged_ThenEachGetsAboutAThirdOfTheEngine()
    {
        using var rig = new EngineQueueRig();
        var (k, _, _) = KernelBacklog(rig, 100, fills: 300, priority: 4);
        rig.Machine.SwitchTo(Engine, k);
        var (q1, _, _) = QueueBacklog(rig, 7, fills: 300, priority: 4, timeSlice: 10_000);
        var (q2, _, _) = QueueBacklog(rig, 8, fills: 300, priority: 4, timeSlice: 10_000);
        for (int i = 0; i < 240; i++) rig.Device.Step(1_000);

        var engine = rig.Device.Engine(Engine);
        ulong kernel = engine.CurrentContext == k.SaveArea.Encoded ? engine.Context.CyclesRun : rig.Machine.ReadSaveArea(k).CyclesRun;
        ulong Queue(UserQueue q) => engine.UserQueueDoorbell == q.Doorbell ? engine.Context.CyclesRun : QueueCycles(rig, q);
        double total = kernel + Queue(q1) + Queue(q2);
        Assert.That(total, Is.GreaterThan(200_000.0), "the engine was busy");
        foreach (var (name, cycles) in new[] { ("kernel", (double)kernel), ("queue 1", Queue(q1)), ("queue 2", Queue(q2)) })
            Assert.That(cycles / total, Is.InRange(0.25, 0.42), $"{name}: {cycles} of {total} cycles");
    }

    private static ulong QueueCycles(EngineQueueRig rig, UserQueue q)
    {
        rig.Device.Mmio.Write32(Coproc.Fast.Device.Mmio.MmioMap.DoorbellBase + DoorbellRegisters.Index, (uint)q.Doorbell);
        ulong sa = rig.Device.Mmio.Read64(Coproc.Fast.Device.Mmio.MmioMap.DoorbellBase + DoorbellRegisters.SaveArea);
        var pa = Coproc.Fast.Device.Memory.PhysicalAddress.Decode(sa);
        return rig.Machine.Memory.Local.Ref<ContextSaveArea>(pa.Offset).CyclesRun;
    }

    [Test]
    public void GivenAHighPriorityUserQueueStuckInOneEndlessFill_WhenItRunsPastTheQueueTimeout_ThenOnlyItIsFaultedAndOthersRun()
    {
        using var rig = new EngineQueueRig();
        rig.Registrar.SetQueueTimeout(50_000);
        var hspace = rig.Machine.NewAddressSpace();
        ulong huge = hspace.Alloc(8UL << 20);
        var hung = rig.Open(rig.Register(5, 5, hspace, Engine, priority: 15));
        EngineQueueRig.Write(hung, (ref PacketWriter w) => w.Fill(huge, 0xDEAD, 8UL << 20)); // ≈131,000 cycles, one packet
        hung.Flush();
        var (k, kspace, kmarker) = KernelBacklog(rig, 100, fills: 2, priority: 3);
        rig.Machine.SwitchTo(Engine, k);
        // A healthy queue of the same priority doing more than the timeout's worth of short packets.
        var (busy, bspace, bmarker) = QueueBacklog(rig, 6, fills: 90, priority: 15);

        StepUntil(rig, () => kspace.Read32(kmarker) == 1 && bspace.Read32(bmarker) == 1);

        Assert.That(rig.StateOf(hung.Doorbell), Is.EqualTo(DoorbellState.Faulted), "the hung queue is faulted");
        Assert.That(rig.StateOf(busy.Doorbell), Is.EqualTo(DoorbellState.Registered), "a busy queue that completes packets is no hang");
        ulong last = rig.ScRegister(DoorbellRegisters.LastFault);
        Assert.That(last & 0xFF, Is.EqualTo((ulong)hung.Doorbell));
        Assert.That((last >> 8) & 0xFF, Is.EqualTo((ulong)QueueFaultReason.Timeout));
        Assert.That(rig.ScRegister(DoorbellRegisters.QueueFaults), Is.EqualTo(1UL), "nothing else was faulted");
    }
}
