using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Scheduling;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.Doorbells;

/// <summary>Review fixes in the scheduling core (seed 003).</summary>
public class SchedulingCoreRegisterTests
{
    [Test]
    public void QueueFaultFoundByTheEngine_IsStampedWithTheCycleOfTheSliceThatFoundIt_NotTheLastDoorbellService()
    {
        // Given a user queue rung once at cycle 0 holding 150 good packets and then a malformed one.
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096);
        var reg = rig.Register(1, 1, space);
        var q = rig.Open(reg);
        for (uint i = 0; i < 150; i++) EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log + (i & 511) * 4, i + 1));
        q.TryWrite([PacketHeader.Make(Opcode.Nop, 2, 0x5A), 0]);
        q.Flush();

        // When the device runs in short steps with no further ring until the engine reaches the bad packet.
        ulong sliceStart = 0;
        QueueFault fault = default;
        bool faulted = false;
        for (int step = 0; step < 1000 && !faulted; step++)
        {
            sliceStart = rig.Device.Cycle;
            rig.Device.Step(50);
            faulted = rig.Device.SchedulingCore.TryTakeFault(out fault);
        }

        // Then the fault record carries the cycle of the slice in which it happened.
        Assert.That(faulted, Is.True);
        Assert.That(sliceStart, Is.GreaterThan(0UL), "the fault must come after the first step for this test to mean anything");
        Assert.That(fault.Reason, Is.EqualTo(QueueFaultReason.MalformedPacket));
        Assert.That(fault.Cycle, Is.GreaterThanOrEqualTo(sliceStart));
    }
}

/// <summary>Review fixes in the command processor's user-queue path (seed 003; seed 001 §7).</summary>
public class UserQueuePrivilegeTests
{
    [Test]
    public void UserQueueWhoseOwnerClearsTheDescriptorUserFlag_StillRunsAsALimitedBuffer()
    {
        // Given a registered user queue whose process rewrites its own (process-writable) ring descriptor, clearing
        // the user-queue flag, and then submits a privileged FLIP from ring 3.
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        var reg = rig.Register(1, 1, space);
        var q = rig.Open(reg);
        System.Runtime.InteropServices.MemoryMarshal.AsRef<Coproc.Fast.Device.Rings.RingDescriptor>(
            rig.Device.Memory.GetSpan(reg.Descriptor, Coproc.Fast.Device.Rings.RingDescriptor.SizeInBytes)).Flags = 0;
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.Flip(Coproc.Fast.Device.Memory.PhysicalAddress.Local(0x20000).Encoded, vsync: false));
        q.Flush();

        // When the engine runs the queue.
        rig.Device.Step(50_000);

        // Then the flag from memory granted nothing: the FLIP faulted the queue and never reached the display.
        Assert.That(rig.Device.Display.FlipCount, Is.Zero);
        Assert.That(rig.StateOf(reg.Doorbell), Is.EqualTo(Coproc.Fast.Device.Doorbells.DoorbellState.Faulted));
    }

    [Test]
    public void UserQueueWhoseSaveAreaIsStillMarkedFaulted_FaultsThatQueue_WithoutRunningItsUnboundRing()
    {
        // Given a registered user queue whose execution context (save area) still carries the Faulted flag, and a
        // healthy queue on the same engine.
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        var other = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096), otherLog = other.Alloc(4096);
        var reg = rig.Register(1, 1, space);
        var good = rig.Register(2, 2, other);
        var q = rig.Open(reg);
        var g = rig.Open(good);
        var sa = Coproc.Fast.Device.Memory.PhysicalAddress.Decode(rig.Device.DoorbellBlock[reg.Doorbell].SaveArea);
        System.Runtime.InteropServices.MemoryMarshal.AsRef<Coproc.Fast.Device.Contexts.ContextSaveArea>(
            rig.Device.Memory.GetSpan(sa, Coproc.Fast.Device.Contexts.ContextSaveArea.SizeInBytes)).Flags |= Coproc.Fast.Device.Contexts.ContextFlags.Faulted;
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log, 1));
        EngineQueueRig.Write(g, (ref PacketWriter w) => w.WriteData(otherLog, 2));
        q.Flush();
        g.Flush();

        // When the engine runs.
        rig.Device.Step(50_000);

        // Then only that queue is faulted (not run, no crash on its unbound ring) and the other queue ran.
        Assert.That(space.Read32(log), Is.Zero);
        Assert.That(other.Read32(otherLog), Is.EqualTo(2u));
        Assert.That(rig.StateOf(reg.Doorbell), Is.EqualTo(Coproc.Fast.Device.Doorbells.DoorbellState.Faulted));
        Assert.That(rig.Device.SchedulingCore.TryTakeFault(out var f) && f.Doorbell == reg.Doorbell
            && f.Reason == QueueFaultReason.ContextFault, Is.True);
    }

    [Test]
    public void DrainedUserQueueUnregisteredWhileStillLoaded_IsNeverWrittenBack_IntoItsFreedSaveAreaOrDescriptor()
    {
        // Given a user queue that ran and drained (the engine keeps it loaded), then was unregistered as documented
        // (after the drain), and whose save area and descriptor memory the kernel has since reused.
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096);
        var regA = rig.Register(1, 1, space);
        var a = rig.Open(regA);
        EngineQueueRig.Write(a, (ref PacketWriter w) => w.WriteData(log, 1));
        a.Flush();
        rig.Device.Step(50_000);
        Assert.That(space.Read32(log), Is.EqualTo(1u));
        var saveA = Coproc.Fast.Device.Memory.PhysicalAddress.Decode(rig.Device.DoorbellBlock[regA.Doorbell].SaveArea);
        rig.Registrar.Unregister(regA);
        rig.Device.Memory.GetSpan(saveA, Coproc.Fast.Device.Contexts.ContextSaveArea.SizeInBytes).Fill(0xCC);
        rig.Device.Memory.GetSpan(regA.Descriptor, Coproc.Fast.Device.Rings.RingDescriptor.SizeInBytes).Fill(0xCC);

        // When another queue is registered and runs on the same engine.
        var regB = rig.Register(2, 2, space);
        var b = rig.Open(regB);
        EngineQueueRig.Write(b, (ref PacketWriter w) => w.WriteData(log + 4, 2));
        b.Flush();
        rig.Device.Step(50_000);

        // Then B ran, and the reused memory of A is untouched.
        Assert.That(space.Read32(log + 4), Is.EqualTo(2u));
        Assert.That(rig.Device.Memory.GetSpan(saveA, Coproc.Fast.Device.Contexts.ContextSaveArea.SizeInBytes).ToArray(), Has.All.EqualTo((byte)0xCC));
        Assert.That(rig.Device.Memory.GetSpan(regA.Descriptor, Coproc.Fast.Device.Rings.RingDescriptor.SizeInBytes).ToArray(), Has.All.EqualTo((byte)0xCC));
    }

    [Test]
    public void NextContextWrittenWhileAUserQueueIsLoaded_IsTakenAsKernelWork()
    {
        // Given a user queue that ran and drained on the render engine (the engine keeps it loaded, nothing else to do).
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096);
        var reg = rig.Register(1, 1, space);
        var q = rig.Open(reg);
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log, 1));
        q.Flush();
        rig.Device.Step(50_000);
        Assert.That(rig.Device.Engine(Coproc.Fast.Device.Engines.EngineKind.Render).RunningUserQueue, Is.True);

        // When the kernel queues a context with work through NEXT_CONTEXT (native-layout.md §13.7: kernel work first).
        var kernel = rig.Machine.NewContext(space, 50);
        kernel.Submit((ref PacketWriter w) => w.WriteData(log + 8, 0xCAFE));
        rig.Machine.SetNext(Coproc.Fast.Device.Engines.EngineKind.Render, kernel);
        rig.Device.Step(50_000);

        // Then the engine switched to it and ran its work.
        Assert.That(space.Read32(log + 8), Is.EqualTo(0xCAFEu));
    }

    [Test]
    public void QueueBlockedOnAWait_GivesItsOnlySlotToAWaitingPeer_WithinAFewSlices()
    {
        // Given one hardware slot, held by queue A waiting on a fence that only queue B (waiting for the slot) signals.
        using var rig = new EngineQueueRig(slotsPerEngine: 1);
        var space = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096);
        var a = rig.Open(rig.Register(1, 1, space, timeSlice: 10_000));
        var b = rig.Open(rig.Register(2, 2, space, timeSlice: 10_000));
        EngineQueueRig.Write(a, (ref PacketWriter w) => { w.WaitFence(log, 1); w.WriteData(log + 8, 5); });
        a.Flush();
        rig.Device.Step(1000);
        EngineQueueRig.Write(b, (ref PacketWriter w) => w.Fence(log, 1));
        b.Flush();

        // When the device runs for a few time slices.
        for (int step = 0; step < 10 && space.Read32(log + 8) != 5; step++) rig.Device.Step(10_000);

        // Then B got the slot, signalled, and A went on past its wait.
        Assert.That(space.Read32(log + 8), Is.EqualTo(5u));
    }
}
