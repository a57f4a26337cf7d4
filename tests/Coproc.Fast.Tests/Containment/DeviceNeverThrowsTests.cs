using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// The device never throws into its host from Step, whatever the guest left in memory or registers
/// (native-layout.md §10.3): malformed state becomes a fault record and an interrupt.
/// </summary>
public class DeviceNeverThrowsTests
{
    [Test]
    public void GivenNextContextIsAlreadyFaulted_WhenTheRunningContextFaults_ThenStepDoesNotThrow_AndTheEngineRestsOnTheFaultedContext()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace(faultOnInvalid: true);
        var a = m.NewContext(space, 1);
        var b = m.NewContext(space, 2);
        m.Memory.Local.Ref<ContextSaveArea>(b.SaveArea.Offset).Flags |= ContextFlags.Faulted;
        // A WRITE_DATA to an unmapped VA takes the general path, which faults A and switches to NEXT_CONTEXT = B.
        a.Submit((ref PacketWriter w) => w.WriteData(0x7000_0000, [1u]));
        m.SwitchTo(EngineKind.Render, a);
        m.SetNext(EngineKind.Render, b);

        Assert.DoesNotThrow(() => m.Device.Step(10_000));

        var cp = m.Device.Engine(EngineKind.Render);
        Assert.That(cp.CurrentContext, Is.EqualTo(b.SaveArea.Encoded), "the engine switched to NEXT_CONTEXT");
        Assert.That(cp.IsRunnable, Is.False, "a context still marked Faulted is never run");
        Assert.That(m.ReadSaveArea(a).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(m.DrainInterrupts().Select(i => i.Source), Does.Contain(InterruptSource.PageFault));
        // B's ring was never bound: its ReadPtr is untouched, and further steps stay quiet.
        Assert.That(b.ReadPtr, Is.EqualTo(0UL));
        Assert.DoesNotThrow(() => m.Device.Step(100_000));
    }
}

/// <summary>The last-resort guard of Step (native-layout.md §10.3 "Device internal error").</summary>
public class DeviceInternalErrorContainmentTests
{
    [Test]
    public void GivenEngineCodeThrows_WhenStepped_ThenTheContextIsFaultedWithDeviceInternalError_AnErrorInterruptIsRaised_AndTheEngineRunsOn()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        ulong log = space.Alloc(4096);
        var a = m.NewContext(space, 1);
        a.Submit((ref PacketWriter w) => w.WriteData(log, [1u]));
        m.SwitchTo(EngineKind.Compute, a);
        m.DrainInterrupts();
        var cp = m.Device.Engine(EngineKind.Compute);
        cp.InjectedFailureForTests = new InvalidOperationException("injected");

        Assert.DoesNotThrow(() => m.Device.Step(10_000));

        Assert.That(cp.CurrentContext, Is.Zero, "the engine abandoned the context and went idle");
        var saved = m.ReadSaveArea(a);
        Assert.That(saved.Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(saved.Fault.Reason, Is.EqualTo(FaultReason.DeviceInternalError));
        var error = m.DrainInterrupts().Single(i => i.Source == InterruptSource.Error);
        Assert.That((error.Engine, error.ContextId, error.Data0, error.Data1),
            Is.EqualTo(((byte)EngineKind.Compute, 1u, CommandProcessor.InternalErrorMarker, a.SaveArea.Encoded)));
        Assert.That(m.Device.Mmio.Read64(Coproc.Fast.Device.Mmio.MmioMap.DeviceBase + Coproc.Fast.Device.Core.DeviceRegisters.InternalErrors), Is.EqualTo(1UL));
        Assert.That(m.Device.Mmio.Read32(Coproc.Fast.Device.Mmio.MmioMap.EngineBase + (uint)EngineKind.Compute * 0x80 + 0x38) & 0xFFFF,
            Is.EqualTo((uint)FaultReason.DeviceInternalError), "LAST_FAULT names the reason");

        // Then, once the driver clears Faulted, the same context runs on the same engine.
        m.Memory.Local.Ref<ContextSaveArea>(a.SaveArea.Offset).Flags &= ~ContextFlags.Faulted;
        m.SwitchTo(EngineKind.Compute, a);
        m.RunUntilIdle();
        Assert.That(space.Read32(log), Is.EqualTo(1u));
    }

    [Test]
    public void GivenTheHostsInterruptLineThrows_WhenStepped_ThenTheHostsExceptionPassesThroughUnchanged()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var a = m.NewContext(space, 1);
        a.Submit((ref PacketWriter w) => w.Trap(5));
        m.Device.Interrupts.Enable = 1u << (int)InterruptSource.Trap;
        m.Device.Interrupts.Line = new ThrowingLine();
        m.SwitchTo(EngineKind.Render, a);

        Assert.Throws<HostLineException>(() => m.Device.Step(10_000));
        Assert.That(m.Device.InternalErrors, Is.Zero, "the host's exception is not a device error");
    }

    private sealed class HostLineException : Exception;

    private sealed class ThrowingLine : IInterruptLine
    {
        public void SetLevel(bool asserted)
        {
            if (asserted) throw new HostLineException();
        }
    }
}
