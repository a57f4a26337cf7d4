using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Audit;

/// <summary>
/// One test per promise README.md, docs/embedding.md, docs/containment.md, docs/reliability.md and docs/concepts.md make
/// to a user of the public API, written from the page alone (the line is named in each test).
/// </summary>
[TestFixture]
public class ReadmePromiseAuditTests
{
    private static CoprocessorOptions SmallDevice(uint vsync = 0) => new()
    {
        LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = vsync,
    };

    private sealed class HostInterruptPin : IInterruptLine
    {
        public bool Level { get; private set; }
        public void SetLevel(bool asserted) => Level = asserted;
    }

    // ---------------------------------------------------------------- README.md "Use it from code" / embedding.md §1

    [Test]
    public void Readme_HostSample_RunsAsShown()
    {
        using var guestRam = NativeRegion.Allocate(16UL << 20);
        using var device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = guestRam.Length,
        }, guestRam);
        var pin = new HostInterruptPin();
        device.Interrupts.Line = pin;

        uint status = device.Mmio.Read32(MmioMap.InterruptBase);
        device.Step(1_000);

        Assert.That(status, Is.Zero);
        Assert.That(device.Cycle, Is.EqualTo(1_000UL));
        Assert.That(pin.Level, Is.False);
        Assert.That(device.Mmio.Read32(MmioMap.DeviceBase + DeviceRegisters.Id), Is.EqualTo(DeviceRegisters.IdValue));
    }

    /// <summary>
    /// embedding.md §1 (line 24-25): the device uses the host's guest RAM in place and the host keeps it alive;
    /// Coprocessor.Dispose "frees device-owned memory" — the host's guest RAM is the host's.
    /// </summary>
    [Test]
    public void Embedding1_DisposingTheDevice_LeavesTheHostsGuestRamAlive()
    {
        using var guestRam = NativeRegion.Allocate(1UL << 20);
        guestRam.Slice(0x100, 4).Fill(0x5A);
        var device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = guestRam.Length }, guestRam);
        device.Dispose();

        Assert.That(guestRam.Length, Is.EqualTo(1UL << 20), "the host's guest RAM was freed by the device");
        Assert.That(guestRam.Slice(0x100, 4).ToArray(), Is.EqualTo(new byte[] { 0x5A, 0x5A, 0x5A, 0x5A }));
        // And a second device can be built over the same guest RAM (a host that re-creates its device).
        using var again = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = guestRam.Length }, guestRam);
        Assert.That(again.Memory.System.Length, Is.EqualTo(1UL << 20));
    }

    // ---------------------------------------------------------------- embedding.md §2: bus windows never throw

    [Test]
    public void Embedding2_MisalignedAndOutOfRangeRegisterAccesses_ReadAllOnes_DropWrites_AreCounted_AndNeverThrow()
    {
        using var device = new Coprocessor(SmallDevice());
        long before = device.Mmio.UnclaimedAccesses;
        uint enable = MmioMap.InterruptBase + InterruptRegisters.Enable;

        Assert.That(device.Mmio.Read32(enable + 1), Is.EqualTo(uint.MaxValue));
        Assert.That(device.Mmio.Read64(enable), Is.EqualTo(ulong.MaxValue), "a 64-bit access at a 4-byte-aligned offset is misaligned");
        Assert.That(device.Mmio.Read32(MmioMap.RegisterBarSize), Is.EqualTo(uint.MaxValue));
        Assert.That(device.Mmio.Read64(uint.MaxValue - 7), Is.EqualTo(ulong.MaxValue));
        Assert.DoesNotThrow(() => device.Mmio.Write32(enable + 2, 0));
        Assert.DoesNotThrow(() => device.Mmio.Write64(uint.MaxValue - 3, 1));
        Assert.That(device.Mmio.Read32(enable), Is.EqualTo(0x1FFu), "the misaligned write was dropped (ENABLE: all 9 sources at reset)");
        Assert.That(device.Mmio.UnclaimedAccesses - before, Is.EqualTo(6));
    }

    [Test]
    public void Embedding2_BarAndApertureAccessesPastTheEnd_ReadAllOnes_AndNeverThrow()
    {
        using var device = new Coprocessor(SmallDevice());
        var buffer = new byte[16];
        ulong size = device.LocalMemoryBar.Size;
        device.LocalMemoryBar.Write32(size - 8, 0x1234_5678);

        Assert.That(device.LocalMemoryBar.Read(size - 8, buffer), Is.False);
        Assert.That(BitConverter.ToUInt32(buffer, 0), Is.EqualTo(0x1234_5678u));
        Assert.That(buffer.AsSpan(8).ToArray(), Is.All.EqualTo((byte)0xFF), "bytes past the BAR's end read all ones");
        Assert.That(device.LocalMemoryBar.Read64(ulong.MaxValue - 3), Is.EqualTo(ulong.MaxValue));
        Assert.DoesNotThrow(() => device.LocalMemoryBar.Write(ulong.MaxValue - 3, buffer));

        Assert.DoesNotThrow(() => device.Aperture.Read(device.Aperture.Size - 4, buffer));
        Assert.That(buffer, Is.All.EqualTo((byte)0xFF), "an unmapped aperture reads all ones");
        Assert.DoesNotThrow(() => device.Aperture.Write(ulong.MaxValue - 1, buffer));

        Assert.That(device.DoorbellAperture.Read32(0), Is.Zero, "doorbell reads return 0");
        Assert.DoesNotThrow(() => device.DoorbellAperture.Write32(DoorbellAperture.SizeInBytes + 4, 1));
        Assert.DoesNotThrow(() => device.DoorbellAperture.Write32(ulong.MaxValue - 2, 1));
    }

    // ---------------------------------------------------------------- embedding.md §5: the clock

    [Test]
    public void Embedding5_AnIdleDeviceSkippedToNextEventCycle_EndsInTheSameStateAsSmallSlices()
    {
        using var big = new Coprocessor(SmallDevice(vsync: 1_000_000));
        using var small = new Coprocessor(SmallDevice(vsync: 1_000_000));
        foreach (var d in new[] { big, small })
            d.Mmio.Write32(MmioMap.InterruptBase + InterruptRegisters.Enable, uint.MaxValue);

        for (int i = 0; i < 3; i++) big.Step(big.NextEventCycle - big.Cycle);
        while (small.Cycle < big.Cycle) small.Step(Math.Min(77_777, big.Cycle - small.Cycle));

        Assert.That(big.Cycle, Is.EqualTo(3_000_000UL));
        Assert.That(Registers(big), Is.EqualTo(Registers(small)), "every register, CYCLE and the interrupt queue");
        Assert.That(InterruptQueue(big), Is.EqualTo(InterruptQueue(small)));
    }

    private static uint[] Registers(Coprocessor d)
    {
        var r = new uint[MmioMap.RegisterBarSize / 4];
        for (uint o = 0; o < MmioMap.RegisterBarSize; o += 4) r[o / 4] = d.Mmio.Read32(o);
        return r;
    }

    private static List<(uint Source, ulong Cycle, ulong Data0)> InterruptQueue(Coprocessor d)
    {
        var list = new List<(uint, ulong, ulong)>();
        uint ib = MmioMap.InterruptBase;
        while (d.Mmio.Read32(ib + InterruptRegisters.InfoSource) is var src && src != InterruptRegisters.InfoSourceEmpty)
        {
            list.Add((src, d.Mmio.Read64(ib + InterruptRegisters.InfoCycle), d.Mmio.Read64(ib + InterruptRegisters.InfoData0)));
            d.Mmio.Write32(ib + InterruptRegisters.InfoPop, 1);
            if (list.Count > 100) break;
        }
        return list;
    }

    // ---------------------------------------------------------------- concepts.md samples

    [Test]
    public void Concepts_PresentSample_PresentsTheFlip()
    {
        using var m = new Machine(new MachineOptions { Device = new() { VsyncPeriodCycles = 1_000_000 } });
        m.Display.SetMode(320, 200);
        var front = m.Display.CreatePrimarySurface(1);
        var back = m.Display.CreatePrimarySurface(1);
        m.Display.Show(front);
        var ctx = m.CreateContext(1, priority: 0, EngineKind.Render);
        m.Display.CreateFlipChain(ctx, bufferCount: 2);
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(1, ctx));
        umd.DrawRects(back, Surface.Packed(0, 320, 200), [RectPrimitive.Fill(0, 0, 320, 200, 0xFF2060A0)]);
        umd.Flush();
        Assert.That(m.Display.TryFlip(1, ctx, back, FlipKind.Vsync, out long flip), Is.True);
        m.RunUntilIdle();
        Assert.That(m.Display.StatusOf(ctx, flip), Is.EqualTo(FlipStatus.Presented));
    }

    // ---------------------------------------------------------------- embedding.md "Machine save-state" / concepts.md determinism

    private static (Machine M, VidSchContext Ctx, AllocationHandle A) Workload()
    {
        var m = new Machine(new MachineOptions { Device = SmallDevice() });
        var ctx = m.CreateContext(processId: 1, priority: 0);
        var a = m.Kmd.Allocate(1, 64 << 10);
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(1, ctx));
        for (int i = 0; i < 4; i++)
        {
            umd.Fill(a, (ulong)i * 8192, 0xA000_0000u + (uint)i, 8192);
            umd.Flush();
        }
        return (m, ctx, a);
    }

    private static byte[] SaveMachine(Machine m)
    {
        using var s = new MemoryStream();
        m.SaveState(s);
        return s.ToArray();
    }

    [Test]
    public void Concepts_Deterministic_SameInputs_GiveTheSameMachineState()
    {
        var (m1, _, _) = Workload();
        var (m2, _, _) = Workload();
        using (m1)
        using (m2)
        {
            m1.RunFor(123_457);
            m2.RunFor(123_457);
            Assert.That(SaveMachine(m1), Is.EqualTo(SaveMachine(m2)));
            m1.RunUntilIdle();
            m2.RunUntilIdle();
            Assert.That(m2.Now, Is.EqualTo(m1.Now));
            Assert.That(SaveMachine(m1), Is.EqualTo(SaveMachine(m2)));
        }
    }

    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void Concepts_Deterministic_SameInputs_GiveTheSameMachineState_InTheOtherModels(SchedulingModel model)
    {
        byte[] Run()
        {
            using var m = new Machine(new MachineOptions { Model = model, Device = SmallDevice() });
            var ctx = m.OpenContext(1);
            var copy = m.OpenContext(2, 0, EngineKind.Copy);
            var a = m.Kmd.Allocate(1, 64 << 10);
            var b = m.Kmd.Allocate(2, 64 << 10);
            for (uint i = 0; i < 3; i++)
            {
                Assert.That(m.TrySubmit(ctx, r => { r.Fill(a, i * 8192, 0xA0 + i, 8192); r.Fence(a, 60 << 10, i + 1); }), Is.True);
                Assert.That(m.TrySubmit(copy, r => { r.Fill(b, 0, i, 32 << 10); r.Copy(b, 32 << 10, b, 0, 16 << 10); }), Is.True);
                m.RunFor(37_000);
            }
            m.RunUntil(() => m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(a, 60 << 10)) == 3, 100_000_000);
            m.RunFor(1_000_000);
            return SaveMachine(m);
        }
        byte[] first = Run(), second = Run();
        Assert.That(second, Is.EqualTo(first));
    }

    [Test]
    public void EmbeddingMachineSaveState_SampleShape_RestoredMachineFindsTheContext_AndFinishesTheSameWay()
    {
        var (m, ctx, a) = Workload();
        using (m)
        {
            m.RunFor(50_001);
            byte[] saved = SaveMachine(m);
            Machine restored;
            using (var s = new MemoryStream(saved)) restored = Machine.Restore(s);
            using (restored)
            {
                var same = restored.Scheduler.FindContext(ctx.Id);
                Assert.That(same, Is.Not.Null);
                Assert.That(restored.RunUntilIdle(), Is.True);
                m.RunUntilIdle();
                Assert.That(restored.Now, Is.EqualTo(m.Now));
                for (long id = 1; id <= 4; id++) Assert.That(same!.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
                Assert.That(SaveMachine(restored), Is.EqualTo(SaveMachine(m)));
                _ = a;
            }
        }
    }

    /// <summary>embedding.md line 294-299: state the save-state cannot rebuild — a collection type compiled into the
    /// caller (a collection expression for ScheduledEngines) or a caller's ChargeVirtualCycles delegate — is refused with
    /// MachineStateException naming the field path, and nothing is written to the stream.</summary>
    [Test]
    public void EmbeddingMachineSaveState_CallerTypesInTheOptions_AreRefused_NamingTheField_AndNothingIsWritten()
    {
        using (var m = new Machine(new MachineOptions { Device = SmallDevice(), ScheduledEngines = [EngineKind.Render, EngineKind.Copy] }))
        {
            using var s = new MemoryStream();
            Assert.That(() => m.SaveState(s), Throws.TypeOf<MachineStateException>().With.Message.Contains("ScheduledEngines"));
            Assert.That(s.Length, Is.Zero);
        }
        long charged = 0;
        using (var m = new Machine(new MachineOptions { Device = SmallDevice(), Gate = new Ring0GateOptions { ChargeVirtualCycles = c => charged += (long)c } }))
        {
            using var s = new MemoryStream();
            Assert.That(() => m.SaveState(s), Throws.TypeOf<MachineStateException>().With.Message.Contains("ChargeVirtualCycles"));
            Assert.That(s.Length, Is.Zero);
        }
    }

    // ---------------------------------------------------------------- containment.md typed errors

    [Test]
    public void Containment_SubmittingOnAnotherProcesssContext_IsUnknownContext()
    {
        using var m = new Machine(new MachineOptions { Device = SmallDevice() });
        var victimCtx = m.CreateContext(processId: 1);
        var mine = m.Kmd.Allocate(2, 4096);
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(2, victimCtx));
        umd.Fill(mine, 0, 1, 4096);

        var e = Assert.Throws<CommandBufferRejectedException>(umd.Flush);
        Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.UnknownContext));
        Assert.That(victimCtx.Submitted, Is.Zero);
    }

    // ---------------------------------------------------------------- Machine.TrySubmit (README "Use it from code"; its XML docs)

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void TrySubmit_ACallbackThatThrows_PassesItsException_SubmitsNothing_AndTheNextCallWorks(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = SmallDevice() });
        var ctx = m.OpenContext(1);
        var a = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);

        Assert.That(() => m.TrySubmit(ctx, r => { r.WriteData(a, 0, 0xBAD); throw new InvalidTimeZoneException("mine"); }),
            Throws.TypeOf<InvalidTimeZoneException>());
        m.RunFor(2_000_000);
        Assert.That(m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(a, 0)), Is.Zero, "a refused recording runs nothing");

        Assert.That(m.TrySubmit(ctx, r => r.WriteData(a, 4, 0x600D)), Is.True);
        Assert.That(m.RunUntil(() => m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(a, 4)) == 0x600D, 50_000_000), Is.True);
        Assert.That(m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(a, 0)), Is.Zero);
    }

    /// <summary>containment.md line 16 and models.md line 120-121: a zero-length operand at offset = size is OutOfBounds,
    /// on the VA paths "as the KMD refuses it on the kernel path".</summary>
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void TrySubmit_AZeroLengthOperandAtTheEndOfItsAllocation_IsOutOfBounds(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = SmallDevice() });
        var ctx = m.OpenContext(1);
        var a = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);

        var e = Assert.Throws<CommandBufferRejectedException>(() => m.TrySubmit(ctx, r => r.Fill(a, 4096, 1, 0)));
        Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.OutOfBounds));
    }

    [Test]
    public void TrySubmit_KernelPath_AtTheOutstandingQuota_ReturnsFalse_AndSubmitsNothing()
    {
        using var m = new Machine(new MachineOptions { Device = SmallDevice(), Quotas = new KmdQuotas { MaxOutstandingSubmissions = 2 } });
        var ctx = m.OpenContext(1);
        var a = m.Kmd.Allocate(1, 4096);
        Assert.That(m.TrySubmit(ctx, r => r.WriteData(a, 0, 1)), Is.True);
        Assert.That(m.TrySubmit(ctx, r => r.WriteData(a, 4, 2)), Is.True);

        bool third = true;
        Assert.That(() => third = m.TrySubmit(ctx, r => r.WriteData(a, 8, 3)), Throws.Nothing,
            "TrySubmit's docs: no room because of the process's outstanding-submission quota is a false return");
        Assert.That(third, Is.False);
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(a, 8)), Is.Zero);
    }

    [Test]
    public void EmbeddingMachineSaveState_SavingInsideRunUntilsCondition_IsAllowed_AndRestoresTheSameMachine()
    {
        var (m, _, _) = Workload();
        using (m)
        {
            byte[]? saved = null;
            ulong at = 0;
            m.RunUntil(() =>
            {
                if (saved is null && m.Now >= 40_000) { saved = SaveMachine(m); at = m.Now; }
                return saved is not null;
            });
            Assert.That(saved, Is.Not.Null);
            Machine restored;
            using (var s = new MemoryStream(saved!)) restored = Machine.Restore(s);
            using (restored)
            {
                Assert.That(restored.Now, Is.EqualTo(at));
                restored.RunUntilIdle();
                m.RunUntilIdle();
                Assert.That(SaveMachine(restored), Is.EqualTo(SaveMachine(m)));
            }
        }
    }

    // ---------------------------------------------------------------- bad input and disposed objects

    /// <summary>
    /// embedding.md line 299 ("A disposed machine throws ObjectDisposedException"): every call that would touch the
    /// freed device memory must throw it, not crash the host process with an access violation.
    /// </summary>
    [Test]
    public void Machine_AfterDispose_RunAndSubmitCallsThrowObjectDisposedException()
    {
        var m = new Machine(new MachineOptions { Device = SmallDevice() });
        var ctx = m.OpenContext(1);
        var a = m.Kmd.Allocate(1, 4096);
        m.Dispose();

        Assert.That(() => m.RunUntilIdle(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.RunFor(1_000), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.RunUntil(() => false, 1_000), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => _ = m.AllIdle, Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.TrySubmit(ctx, r => r.WriteData(a, 0, 1)), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.OpenContext(1), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.CreateContext(2), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.AllocateManaged(1, (VidSchContext)ctx, 4096), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.Process(3), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => m.Start(), Throws.TypeOf<ObjectDisposedException>());
        Assert.DoesNotThrow(m.Dispose, "Dispose is idempotent");
    }

    [Test]
    public void NullArguments_AreArgumentNullException_NotNullReferenceException()
    {
        using var m = new Machine(new MachineOptions { Device = SmallDevice() });
        int live = m.VidMm.LiveAllocations;
        Assert.That(() => m.Kmd.Submit(1, null!, new uint[] { 0 }, default), Throws.TypeOf<ArgumentNullException>());
        Assert.That(() => m.AllocateManaged(1, null!, 4096), Throws.TypeOf<ArgumentNullException>());
        Assert.That(() => m.RunUntil(null!), Throws.TypeOf<ArgumentNullException>());
        Assert.That(() => m.Kmd.SinkFor(1, null!), Throws.TypeOf<ArgumentNullException>());
        Assert.That(m.VidMm.LiveAllocations, Is.EqualTo(live), "nothing allocated by the refusals");
    }

    /// <summary>embedding.md §5: the clock advances only in Step; CYCLE never goes backwards (a huge Step must not wrap it).</summary>
    [Test]
    public void Embedding5_AHugeStep_NeverWrapsTheClockBackwards()
    {
        using var device = new Coprocessor(SmallDevice());
        device.Step(10);
        device.Step(ulong.MaxValue);
        Assert.That(device.Cycle, Is.GreaterThanOrEqualTo(10UL));
    }

    /// <summary>
    /// A disposed device (its memory freed) with an engine still holding a context: Step must give a typed error, not an
    /// access violation that kills the host process (README "Use it from code": <c>using var device</c>).
    /// </summary>
    [Test]
    public void Device_AfterDispose_StepResetAndSaveStateThrowObjectDisposedException()
    {
        var m = new Machine(new MachineOptions { Device = SmallDevice() });
        var ctx = m.CreateContext(1);
        var a = m.Kmd.Allocate(1, 1 << 20);
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(1, ctx));
        umd.Fill(a, 0, 1, 1 << 20);
        umd.Flush();
        m.RunFor(20_000);
        var device = m.Device;
        m.Dispose();

        Assert.That(() => device.Step(100_000), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => device.Reset(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => device.SaveState(new MemoryStream()), Throws.TypeOf<ObjectDisposedException>());
        Assert.DoesNotThrow(device.Dispose, "Dispose is idempotent");
    }
}
