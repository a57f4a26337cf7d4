using Coproc.Fast.Driver;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Scheduling;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>doorbell user queues executed by the engines (real packets on real memory).</summary>
public class EngineExecutionTests
{
    private static readonly EngineKind[] AllEngines = Enum.GetValues<EngineKind>();

    [TestCaseSource(nameof(AllEngines))]
    public void UserQueue_SubmitAndExecute_RoundTripsThroughTheDoorbell_OnEveryEngine(EngineKind engine)
    {
        // Given a process with its own address space and a user queue on this engine, registered once through ring 0.
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096);
        ulong dma = space.NewDmaBuffer(PacketProgram.Build((ref PacketWriter w) => w.WriteData(log + 8, 0xD0 + (uint)engine)));
        var reg = rig.Register(process: 40, context: 7, space, engine);
        var q = rig.Open(reg);

        // When ring 3 writes WRITE_DATA, an INDIRECT into its own DMA buffer (by VA) and a FENCE, then rings once.
        EngineQueueRig.Write(q, (ref PacketWriter w) =>
        {
            w.WriteData(log, 0xA0 + (uint)engine);
            w.Indirect(dma, 4, privileged: false);
            w.Fence(log + 16, 100 + (ulong)engine);
        });
        q.Flush();
        rig.Device.Step(50_000);

        // Then the engine executed them: results in memory, ReadPtr caught up, no gate crossing after registration.
        Assert.That(space.Read32(log), Is.EqualTo(0xA0 + (uint)engine));
        Assert.That(space.Read32(log + 8), Is.EqualTo(0xD0 + (uint)engine));
        Assert.That(space.Read64(log + 16), Is.EqualTo(100 + (ulong)engine));
        Assert.That(q.DeviceReadPtr, Is.EqualTo(q.WritePosition));
        Assert.That(rig.Device.Engine(engine).PacketsExecuted, Is.EqualTo(4));
        Assert.That(rig.Gate.EntriesOf(40), Is.EqualTo(1));
        Assert.That(rig.Device.SchedulingCore.RunList(engine).IsEmpty, Is.True, "drained queues leave the run list");

        // And a second batch after the drain is picked up by the next doorbell.
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log + 4, 2));
        q.Flush();
        rig.Device.Step(50_000);
        Assert.That(space.Read32(log + 4), Is.EqualTo(2u));
    }

    [Test]
    public void HigherPriorityQueue_RunsFirst_LowerOneGetsTheEngineWhenItDrains()
    {
        using var rig = new EngineQueueRig();
        var spaceLow = rig.Machine.NewAddressSpace();
        var spaceHigh = rig.Machine.NewAddressSpace();
        ulong logLow = spaceLow.Alloc(4096), logHigh = spaceHigh.Alloc(4096);
        var low = rig.Open(rig.Register(1, 1, spaceLow, priority: 1, timeSlice: 50));
        var high = rig.Open(rig.Register(2, 2, spaceHigh, priority: 9, timeSlice: 50));
        for (uint i = 0; i < 100; i++)
        {
            EngineQueueRig.Write(low, (ref PacketWriter w) => w.WriteData(logLow + i * 4, i + 1));
            EngineQueueRig.Write(high, (ref PacketWriter w) => w.WriteData(logHigh + i * 4, i + 1));
        }
        low.Flush();
        high.Flush();

        for (int step = 0; step < 200 && low.DeviceReadPtr != low.WritePosition; step++)
        {
            rig.Device.Step(200);
            if (high.DeviceReadPtr != high.WritePosition)
                Assert.That(low.DeviceReadPtr, Is.Zero, $"step {step}: the low-priority queue ran while the high one had work");
        }
        Assert.That(spaceHigh.Read32(logHigh + 99 * 4), Is.EqualTo(100u));
        Assert.That(spaceLow.Read32(logLow + 99 * 4), Is.EqualTo(100u));
    }

    [Test]
    public void MoreQueuesThanSlots_AreTimeSlicedRoundRobin_OnTheEngine()
    {
        // Given 5 equal-priority queues on an engine with 2 slots, each with 150 WRITE_DATA packets (~750 cycles).
        using var rig = new EngineQueueRig(slotsPerEngine: 2);
        var queues = Enumerable.Range(0, 5).Select(i =>
        {
            var space = rig.Machine.NewAddressSpace();
            ulong log = space.Alloc(4096);
            var q = rig.Open(rig.Register((uint)(10 + i), (uint)(i + 1), space, timeSlice: 100));
            for (uint k = 0; k < 150; k++) EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log + k * 4, k + 1));
            return (Space: space, Log: log, Queue: q);
        }).ToArray();
        foreach (var x in queues) x.Queue.Flush();

        // When the device runs, every queue gets the engine before any queue finishes.
        bool allStartedBeforeAnyFinished = false;
        for (int step = 0; step < 500 && queues.Any(x => x.Queue.DeviceReadPtr != x.Queue.WritePosition); step++)
        {
            rig.Device.Step(300);
            bool anyDone = queues.Any(x => x.Queue.DeviceReadPtr == x.Queue.WritePosition);
            if (!anyDone && queues.All(x => x.Queue.DeviceReadPtr > 0)) allStartedBeforeAnyFinished = true;
        }
        Assert.That(allStartedBeforeAnyFinished, Is.True);
        Assert.That(rig.Device.SchedulingCore.RunList(EngineKind.Render).TimeSliceRotations, Is.GreaterThan(5));
        foreach (var x in queues) Assert.That(x.Space.Read32(x.Log + 149 * 4), Is.EqualTo(150u));
    }

    [Test]
    public void MalformedOrPrivilegedEntry_FaultsOnlyItsQueue_OthersContinue()
    {
        using var rig = new EngineQueueRig();
        var spaceA = rig.Machine.NewAddressSpace();
        var spaceB = rig.Machine.NewAddressSpace();
        var spaceC = rig.Machine.NewAddressSpace();
        ulong logA = spaceA.Alloc(4096), logB = spaceB.Alloc(4096), logC = spaceC.Alloc(4096);
        var regA = rig.Register(1, 1, spaceA);
        var regB = rig.Register(2, 2, spaceB);
        var regC = rig.Register(3, 3, spaceC);
        var a = rig.Open(regA);
        var b = rig.Open(regB);
        var c = rig.Open(regC);

        // A: a good packet, then a NOP with reserved flag bits, then more work. C: a FLIP (privileged) from ring 3.
        EngineQueueRig.Write(a, (ref PacketWriter w) => w.WriteData(logA, 1));
        a.TryWrite([PacketHeader.Make(Opcode.Nop, 2, 0x5A), 0]);
        EngineQueueRig.Write(a, (ref PacketWriter w) => w.WriteData(logA + 4, 2));
        EngineQueueRig.Write(c, (ref PacketWriter w) => w.Flip(PhysicalAddress.Local(0x20000).Encoded, vsync: false));
        EngineQueueRig.Write(b, (ref PacketWriter w) => w.WriteData(logB, 3));
        a.Flush();
        c.Flush();
        b.Flush();
        rig.Device.Step(50_000);

        Assert.That(spaceA.Read32(logA), Is.EqualTo(1u), "work before the bad entry ran");
        Assert.That(spaceA.Read32(logA + 4), Is.Zero, "nothing after it");
        Assert.That(spaceB.Read32(logB), Is.EqualTo(3u), "the other queue was not affected");
        Assert.That(rig.StateOf(regA.Doorbell), Is.EqualTo(DoorbellState.Faulted));
        Assert.That(rig.StateOf(regC.Doorbell), Is.EqualTo(DoorbellState.Faulted));
        Assert.That(rig.StateOf(regB.Doorbell), Is.EqualTo(DoorbellState.Registered));
        Assert.That(rig.Device.Display.FlipCount, Is.Zero, "a user queue is a limited buffer");
        Assert.That(rig.ScRegister(DoorbellRegisters.QueueFaults), Is.EqualTo(2UL));
        var faults = new List<QueueFault>();
        while (rig.Device.SchedulingCore.TryTakeFault(out var f)) faults.Add(f);
        Assert.That(faults.Select(f => (f.Doorbell, f.Reason)), Is.EquivalentTo(new[]
            { (regA.Doorbell, QueueFaultReason.MalformedPacket), (regC.Doorbell, QueueFaultReason.ContextFault) }));

        // Later rings of a faulted queue are ignored and counted; the healthy queue keeps working.
        a.TryWrite(PacketProgram.Build((ref PacketWriter w) => w.WriteData(logA + 8, 9)));
        a.Flush();
        EngineQueueRig.Write(b, (ref PacketWriter w) => w.WriteData(logB + 4, 4));
        b.Flush();
        rig.Device.Step(50_000);
        Assert.That(spaceA.Read32(logA + 8), Is.Zero);
        Assert.That(spaceB.Read32(logB + 4), Is.EqualTo(4u));
        Assert.That(rig.Device.DoorbellBlock.FaultedWrites, Is.EqualTo(1));
    }

    [Test]
    public void PrivilegedIndirectFromAUserQueue_FaultsThatQueue()
    {
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096);
        ulong dma = space.NewDmaBuffer(PacketProgram.Build((ref PacketWriter w) => w.WriteData(log, 1)));
        var reg = rig.Register(1, 1, space);
        var q = rig.Open(reg);
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.Indirect(dma, 4, privileged: true));
        q.Flush();
        rig.Device.Step(50_000);
        Assert.That(space.Read32(log), Is.Zero);
        Assert.That(rig.StateOf(reg.Doorbell), Is.EqualTo(DoorbellState.Faulted));
    }

    [Test]
    public void KernelContexts_GoFirst_UserQueuesFillTheEnginesIdleTime()
    {
        // Given a kernel context (CONTEXT_SWITCH) with a long copy and a user queue on the same engine.
        using var rig = new EngineQueueRig();
        var kspace = rig.Machine.NewAddressSpace();
        var kernel = rig.Machine.NewContext(kspace, 100);
        ulong src = kspace.Alloc(256 << 10), dst = kspace.Alloc(256 << 10), klog = kspace.Alloc(4096);
        kernel.Submit((ref PacketWriter w) => w.Copy(dst, src, 256 << 10));
        rig.Machine.SwitchTo(EngineKind.Copy, kernel);
        var uspace = rig.Machine.NewAddressSpace();
        ulong ulog = uspace.Alloc(4096);
        var q = rig.Open(rig.Register(5, 5, uspace, EngineKind.Copy, timeSlice: 200));
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(ulog, 1));
        q.Flush();

        // When the kernel context still has work, the user queue waits.
        rig.Device.Step(4_000);
        Assert.That(uspace.Read32(ulog), Is.Zero);

        // Once the kernel context is empty, the queue runs; new kernel work takes the engine back within a time slice.
        rig.Device.Step(10_000);
        Assert.That(uspace.Read32(ulog), Is.EqualTo(1u));
        for (uint i = 0; i < 200; i++) EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(ulog + 4 + i * 4, i));
        q.Flush();
        kernel.Submit((ref PacketWriter w) => w.WriteData(klog, 0xC0));
        rig.Device.Step(1_500);
        Assert.That(kspace.Read32(klog), Is.EqualTo(0xC0u));
        Assert.That(q.DeviceReadPtr, Is.Not.EqualTo(q.WritePosition), "the kernel context came back before the queue drained");
        rig.Device.Step(50_000);
        Assert.That(q.DeviceReadPtr, Is.EqualTo(q.WritePosition));
    }

    [Test]
    public void QueueRegisteredWithoutExecutionContext_IsFaultedWhenAnEngineReachesIt()
    {
        using var rig = new EngineQueueRig();
        var desc = rig.Machine.AllocLocal(192, 64);
        var ring = rig.Machine.AllocLocal(4096);
        var reg = rig.Registrar.Register(3, new Coproc.Fast.Driver.Kernel.UserQueueRegistrationRequest
        {
            ContextId = 3, Engine = EngineKind.Compute, TimeSliceCycles = 100, DescriptorAddress = desc.Encoded,
            RingBase = ring.Encoded, RingBytes = 4096,
        });
        var q = rig.Open(reg);
        q.TrySubmit(PacketProgram.Build((ref PacketWriter w) => w.Nop()));
        rig.Device.Step(10_000);
        Assert.That(rig.StateOf(reg.Doorbell), Is.EqualTo(DoorbellState.Faulted));
        Assert.That(rig.Device.SchedulingCore.TryTakeFault(out var f) ? f.Reason : QueueFaultReason.None, Is.EqualTo(QueueFaultReason.NoExecutionContext));
    }

    [Test]
    public void DriverContextSwitch_AwayFromALoadedUserQueue_IsReportedLikeAnyRequestedSwitch()
    {
        using var rig = new EngineQueueRig();
        var uspace = rig.Machine.NewAddressSpace();
        ulong ulog = uspace.Alloc(4096);
        var q = rig.Open(rig.Register(5, 5, uspace, EngineKind.Copy));
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(ulog, 1));
        q.Flush();
        rig.Device.Step(10_000);
        Assert.That(rig.Device.Engine(EngineKind.Copy).RunningUserQueue, Is.True);
        Assert.That(rig.Machine.DrainInterrupts().Where(i => i.Source == Coproc.Fast.Device.Interrupts.InterruptSource.ContextSwitch), Is.Empty,
            "user-queue switches are the scheduling core's business");

        var kspace = rig.Machine.NewAddressSpace();
        var kernel = rig.Machine.NewContext(kspace, 100);
        rig.Machine.SwitchTo(EngineKind.Copy, kernel);
        var switches = rig.Machine.DrainInterrupts().Where(i => i.Source == Coproc.Fast.Device.Interrupts.InterruptSource.ContextSwitch).ToList();
        Assert.That(switches.Select(i => ((SwitchReason)i.Data0, i.Data1)), Is.EqualTo(new[] { (SwitchReason.Requested, kernel.SaveArea.Encoded) }));
        Assert.That(rig.Device.Engine(EngineKind.Copy).RunningUserQueue, Is.False);
    }

    [Test]
    public void QueueWaitingOnAFence_YieldsTheEngine_AndResumesWhenTheFenceIsReached()
    {
        // Given two queues on the compute engine; A (high priority) starts with a GPU wait on a monitored fence.
        using var rig = new EngineQueueRig();
        var spaceA = rig.Machine.NewAddressSpace();
        var spaceB = rig.Machine.NewAddressSpace();
        ulong logA = spaceA.Alloc(4096), fence = spaceA.Alloc(4096), logB = spaceB.Alloc(4096);
        var a = rig.Open(rig.Register(1, 1, spaceA, EngineKind.Compute, priority: 9, timeSlice: 100));
        var b = rig.Open(rig.Register(2, 2, spaceB, EngineKind.Compute, priority: 1, timeSlice: 100));
        EngineQueueRig.Write(a, (ref PacketWriter w) => { w.WaitFence(fence, 5); w.WriteData(logA, 0xA); });
        for (uint i = 0; i < 40; i++) EngineQueueRig.Write(b, (ref PacketWriter w) => w.WriteData(logB + i * 4, i + 1));
        a.Flush();
        b.Flush();

        // When the device runs, B makes progress while A waits ...
        rig.Device.Step(20_000);
        Assert.That(spaceA.Read32(logA), Is.Zero);
        Assert.That(spaceB.Read32(logB + 39 * 4), Is.EqualTo(40u), "the waiting queue did not hold the engine, despite its priority");

        // ... and A continues once the fence reaches the value (signalled by the CPU here), without a new doorbell.
        spaceA.Write64(fence, 5);
        rig.Device.Step(20_000);
        Assert.That(spaceA.Read32(logA), Is.EqualTo(0xAu));
        Assert.That(a.DeviceReadPtr, Is.EqualTo(a.WritePosition));
    }

    [Test]
    public void KernelRunList_GoesFirst_UserQueuesRunWhenEveryEntryIsEmpty_AndLeaveNoHistoryRecords()
    {
        using var rig = new EngineQueueRig();
        var bus = new DirectDeviceBus(rig.Device);
        var history = Coproc.Fast.Driver.VidSch.RunLists.HistoryBufferReader.Enable(bus, PhysicalAddress.System(0x10000), 4096);
        var submitter = new Coproc.Fast.Driver.VidSch.RunLists.RunListSubmitter(bus, EngineKind.Render, rig.Machine.AllocLocal(4096));
        var kspace = rig.Machine.NewAddressSpace();
        var kernel = rig.Machine.NewContext(kspace, 100);
        ulong src = kspace.Alloc(128 << 10), dst = kspace.Alloc(128 << 10), klog = kspace.Alloc(4096);
        kernel.Submit((ref PacketWriter w) => { w.Copy(dst, src, 128 << 10); w.WriteData(klog, 1); });
        var uspace = rig.Machine.NewAddressSpace();
        ulong ulog = uspace.Alloc(4096);
        var q = rig.Open(rig.Register(7, 7, uspace, EngineKind.Render));
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(ulog, 2));
        q.Flush();
        submitter.Submit([kernel.SaveArea.Encoded]);

        rig.Device.Step(3_000);
        Assert.That(uspace.Read32(ulog), Is.Zero, "the run list's entry had work");
        rig.Device.Step(20_000);
        Assert.That(kspace.Read32(klog), Is.EqualTo(1u));
        Assert.That(uspace.Read32(ulog), Is.EqualTo(2u), "then the user queue filled the idle engine");
        Assert.That(history.ReadAll().Select(r => r.Reason), Is.EqualTo(new[] { SwitchReason.NewRunList }),
            "user-queue switches are not the kernel scheduler's history");

        // New kernel work in the list's entry takes the engine back at the next slice.
        kernel.Submit((ref PacketWriter w) => w.WriteData(klog + 4, 3));
        rig.Device.Step(5_000);
        Assert.That(kspace.Read32(klog + 4), Is.EqualTo(3u));
        Assert.That(rig.Device.Engine(EngineKind.Render).CurrentContext, Is.EqualTo(kernel.SaveArea.Encoded));
    }
}
