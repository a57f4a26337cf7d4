using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Engines;
using Coproc.Fast.Tests.VidMm;

namespace Coproc.Fast.Tests.Audit;

/// <summary>
/// Seed mechanisms (docs/sources.md; /shared/spec/SEEDS.md, seed-001-guide.md) checked through the public API, in corners
/// the other suites do not reach. Each test names the seed and section it comes from.
/// </summary>
[TestFixture]
public class SeedBehaviourAuditTests
{
    private const ulong Page = 4096;

    private static EngineTestMachine DisplayMachine() => new(new CoprocessorOptions
    {
        LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 2UL << 20, VsyncPeriodCycles = 10_000,
    });

    // ------------------------------------------------------------------ seed 001 §8.4: Wait / Signal on a 32-bit counter

    [Test]
    public void Seed001_8_4_SignalOverflow_WrapsThe32BitCounterOnly_TheNextDwordIsUntouched_AndTheStreamContinues()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 3);
        ulong counter = space.Alloc(Page), log = space.Alloc(Page);
        space.Write32(counter, 0xFFFF_FFFF);
        space.Write32(counter + 4, 0x1234_5678);
        ctx.Submit((ref PacketWriter w) => { w.Signal(counter); w.WriteData(log, 1); });
        m.SwitchTo(EngineKind.Copy, ctx);
        m.RunUntilIdle();
        Assert.That(space.Read32(counter), Is.Zero, "0xFFFFFFFF + 1 wraps to 0");
        Assert.That(space.Read32(counter + 4), Is.EqualTo(0x1234_5678u), "a 32-bit counter: no carry into the next dword");
        Assert.That(space.Read32(log), Is.EqualTo(1u), "the stream continues after the overflow");
        var error = m.DrainInterrupts().Single(i => i.Source == InterruptSource.Error);
        Assert.That(error.Data0, Is.EqualTo(counter), "the overflow is reported with the counter's VA");
    }

    [Test]
    public void Seed001_7_1_And_8_4_Wait_FromALimitedBuffer_OnAPrivilegedCounter_Faults_AndTheCounterKeepsItsValue()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 5);
        ulong counter = space.Alloc(Page, privileged: true), log = space.Alloc(Page);
        space.Write32(counter, 5);
        var packets = PacketProgram.Build((ref PacketWriter w) => { w.Wait(counter); w.WriteData(log, 1); });
        ulong dma = space.NewDmaBuffer(packets);
        ctx.Submit((ref PacketWriter w) => w.Indirect(dma, (uint)packets.Length, privileged: false));
        m.SwitchTo(EngineKind.Copy, ctx);
        m.RunUntilIdle();
        var save = m.ReadSaveArea(ctx);
        Assert.That(save.Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(save.Fault.Reason, Is.EqualTo(FaultReason.MemoryFault));
        Assert.That(save.Fault.Detail, Is.EqualTo((ushort)TranslationStatus.PrivilegeViolation));
        Assert.That(space.Read32(counter), Is.EqualTo(5u), "a limited buffer cannot consume a privileged counter");
        Assert.That(space.Read32(log), Is.Zero);
    }

    // ------------------------------------------------------------------ monitored fences: wrap-safe comparison

    [Test]
    public void Seed004_MonitoredFence_WaitFence_IsSatisfiedAtTheValueAndAcrossTheWrap()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong fence = space.Alloc(Page), log = space.Alloc(Page);
        space.Write64(fence, 0);
        // 0 comes after 2^64 − 1 in the wrap-safe order; and a fence equal to the value satisfies it.
        ctx.Submit((ref PacketWriter w) => { w.WaitFence(fence, ulong.MaxValue); w.WaitFence(fence, 0); w.WriteData(log, 1); });
        m.SwitchTo(EngineKind.Compute, ctx);
        m.Device.Step(5_000);
        Assert.That(space.Read32(log), Is.EqualTo(1u));
    }

    [Test]
    public void Seed004_MonitoredFence_CpuSignal_AdvancesAcrossTheWrap_AndSatisfiesTargetsBeforeIt()
    {
        using var memory = Coproc.Fast.Device.Memory.DeviceMemory.Allocate(2UL << 20, 1UL << 20);
        var f = new Coproc.Fast.Driver.Sync.MonitoredFence(memory, Coproc.Fast.Device.Memory.PhysicalAddress.System(0x200));
        f.Signal(ulong.MaxValue - 1);
        f.Signal(3); // after 2^64 − 2 across the wrap: the fence moves forward
        Assert.That(f.CurrentValue, Is.EqualTo(3UL));
        Assert.That(f.IsSignaled(ulong.MaxValue), Is.True);
        Assert.That(f.IsSignaled(4), Is.False);
        f.Signal(ulong.MaxValue); // now before 3: ignored, fences only increase
        Assert.That(f.CurrentValue, Is.EqualTo(3UL));
    }

    // ------------------------------------------------------------------ seed 001 §8.2: trap

    [Test]
    public void Seed001_8_2_Trap_DoesNotStallTheStream_LaterPacketsRunBeforeTheCpuAcknowledges()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 2);
        ulong log = space.Alloc(Page);
        m.Device.Interrupts.Enable = 1u << (int)InterruptSource.Trap;
        ctx.Submit((ref PacketWriter w) => { w.Trap(77); w.WriteData(log, 1); w.Trap(78); w.WriteData(log + 4, 2); });
        m.SwitchTo(EngineKind.Render, ctx);
        m.Device.Step(5_000);
        Assert.That(space.Read32(log), Is.EqualTo(1u));
        Assert.That(space.Read32(log + 4), Is.EqualTo(2u));
        var traps = m.DrainInterrupts().Where(i => i.Source == InterruptSource.Trap).Select(i => i.Data0).ToArray();
        Assert.That(traps, Is.EqualTo(new ulong[] { 77, 78 }), "both traps reported, in order");
    }

    // ------------------------------------------------------------------ seed 001 §9.1, §9.4: flips and WAIT_FOR_FLIP

    [Test]
    public void Seed001_9_4_WaitForFlip_WithNoFlipLatched_DoesNotStall()
    {
        using var m = DisplayMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong log = space.Alloc(Page);
        ctx.Submit((ref PacketWriter w) => { w.WaitForFlip(); w.Timestamp(log); });
        m.SwitchTo(EngineKind.Render, ctx);
        m.Device.Step(2_000);
        Assert.That(space.Read64(log), Is.Not.Zero.And.LessThan(2_000UL), "nothing latched: the engine goes on at once");
    }

    [Test]
    public void Seed001_9_1_ImmediateFlip_AfterALatchedVsyncFlip_ShowsAtOnce_AndTheVsyncDoesNotBringTheOlderSurfaceBack()
    {
        using var m = DisplayMachine();
        var space = m.NewAddressSpace();
        var ctx = m.NewContext(space, 1);
        ulong log = space.Alloc(Page);
        var a = m.AllocLocal(Page);
        var b = m.AllocLocal(Page);
        ctx.Submit((ref PacketWriter w) => { w.Flip(a.Encoded, vsync: true); w.Flip(b.Encoded, vsync: false); w.WaitForFlip(); w.Timestamp(log); });
        m.SwitchTo(EngineKind.Render, ctx);
        m.Device.Step(2_000);
        var mmio = m.Device.Mmio;
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(b.Encoded), "immediate: visible at once");
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x08), Is.Zero, "the latched flip is dropped");
        Assert.That(space.Read64(log), Is.Not.Zero.And.LessThan(2_000UL), "nothing latched any more: WAIT_FOR_FLIP does not stall");
        m.Device.Step(10_000);
        Assert.That(mmio.Read64(MmioMap.DisplayBase + 0x00), Is.EqualTo(b.Encoded), "the vsync shows nothing older");
    }

    // ------------------------------------------------------------------ seed 002: CPU mappings of device memory

    [Test]
    public void Seed002_MapRequestInsideAUserMapping_ButForTheKernelHalf_GetsAKernelAddress()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(8 * Page, placement: PlacementHint.LocalOnly);
        ulong user = rig.Vm.MapToCpu(cpu, h, 0, 8 * Page, CpuAddressHalf.User);
        ulong kernel = rig.Vm.MapToCpu(cpu, h, 2 * Page, 2 * Page, CpuAddressHalf.Kernel);
        Assert.That(CpuAddressSpace.HalfOf(user), Is.EqualTo(CpuAddressHalf.User));
        Assert.That(CpuAddressSpace.HalfOf(kernel), Is.EqualTo(CpuAddressHalf.Kernel), "each request says which half; a user mapping is not reused for a kernel one");
        cpu.Write32(kernel + 8, 0xC0FFEE);
        Assert.That(cpu.Read32(user + 2 * Page + 8), Is.EqualTo(0xC0FFEEu), "both reach the same bytes");
    }

    [Test]
    public void Seed002_WritableMapRequestInsideAReadOnlyMapping_IsWritable()
    {
        using var rig = new VidMmTestRig();
        var cpu = rig.Vm.CreateCpuAddressSpace();
        var h = rig.Vm.Allocate(8 * Page, placement: PlacementHint.LocalOnly);
        ulong ro = rig.Vm.MapToCpu(cpu, h, 0, 8 * Page, CpuAddressHalf.User, writable: false);
        ulong rw = rig.Vm.MapToCpu(cpu, h, Page, Page, CpuAddressHalf.User, writable: true);
        Assert.DoesNotThrow(() => cpu.Write32(rw + 16, 0x5150), "a writable request must give a writable mapping");
        Assert.That(cpu.Read32(ro + Page + 16), Is.EqualTo(0x5150u));
        Assert.Throws<CpuPageFaultException>(() => cpu.Write32(ro + 16, 1), "the read-only mapping stays read-only");
    }

    // ------------------------------------------------------------------ seed 000 / seed 001 §5.5, §13 / seed 003: priorities, every model

    private static Machine NewMachine(SchedulingModel model) => new(new MachineOptions
    {
        Model = model,
        Device = new CoprocessorOptions { LocalMemoryBytes = 32UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
    });

    private static ulong Read64(Machine m, AllocationHandle h, ulong offset) => m.Device.Memory.Read64(m.VidMm.PhysicalAddressOf(h, offset));

    /// <summary>
    /// A higher priority takes the engine from a lower one's long job (seed 000 "a DMA buffer being processed can be
    /// interrupted and later resumed"; seed 001 §5.5 strict priority; seed 003 the scheduling core picks by priority):
    /// the high job completes long before the low one, which then completes with every byte.
    /// </summary>
    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void Seed000_Priorities_AHigherPriorityJobOvertakesALowerOnesLongJob_WhichResumesAndCompletes(SchedulingModel model)
    {
        using var m = NewMachine(model);
        const ulong Big = 4UL << 20;
        const int Fills = 100; // 100 × 4 MiB at 64 B/cycle: about 6.6 M cycles
        var low = m.OpenContext(1, priority: 1);
        var high = m.OpenContext(2, priority: 12);
        var target = m.Kmd.Allocate(1, Big, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var lowFence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var small = m.Kmd.Allocate(2, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var highFence = m.Kmd.Allocate(2, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        Assert.That(m.TrySubmit(low, r =>
        {
            for (int i = 0; i < Fills; i++) r.Fill(target, 0, 0x0101_0101u * (uint)(i + 1), Big);
            r.Fence(lowFence, 0, 1);
        }), Is.True);
        m.RunFor(500_000);
        Assert.That(Read64(m, lowFence, 0), Is.Zero, "the low job is still running");
        Assert.That(m.TrySubmit(high, r => { r.Fill(small, 0, 0xAB, 4096); r.Fence(highFence, 0, 1); }), Is.True);
        Assert.That(m.RunUntil(() => Read64(m, highFence, 0) == 1, 20_000_000), Is.True);
        Assert.That(Read64(m, lowFence, 0), Is.Zero, $"{model}: the priority-12 job did not wait for the priority-1 job to finish");
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(Read64(m, lowFence, 0), Is.EqualTo(1UL));
        uint last = 0x0101_0101u * Fills;
        Assert.That(m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(target, Big - 4)), Is.EqualTo(last), "resumed where it stopped: the last fill's pattern");
    }

    /// <summary>
    /// No priority inversion deadlock (seed 001 §8.4: a Wait on a zero counter "switches to the next context"; §13): a
    /// high-priority context that is already running and stops on a counter only a lower-priority context signals gives
    /// the engine away, the low one runs and signals, the high one continues.
    /// </summary>
    [TestCase(SchedulingModel.Basic, false)]
    [TestCase(SchedulingModel.Hardware, false)]
    [TestCase(SchedulingModel.Advanced, true)] // run lists with the history buffer (N-element lists, seed 001 §6.5)
    public void Seed001_8_4_HighPriorityWaitingOnALowPrioritySignal_YieldsTheEngine_AndBothComplete(SchedulingModel model, bool history) =>
        HighWaitsOnLow(model, history ? new Coproc.Fast.Driver.VidSch.RunLists.RunListOptions { Mechanism = Coproc.Fast.Driver.VidSch.RunLists.RunListMechanism.History } : null);

    /// <summary>
    /// The same in the advanced model with its default two-element run lists (seed 001 §6.4): the high context was
    /// listed alone and is stalled on its WAIT when the low one's work arrives.
    /// </summary>
    [Test]
    public void Seed001_8_4_HighPriorityWaitingOnALowPrioritySignal_Advanced_TwoElementLists() =>
        HighWaitsOnLow(SchedulingModel.Advanced, null);

    private static void HighWaitsOnLow(SchedulingModel model, Coproc.Fast.Driver.VidSch.RunLists.RunListOptions? runLists)
    {
        using var m = new Machine(new MachineOptions
        {
            Model = model,
            RunLists = runLists ?? new(),
            Device = new CoprocessorOptions { LocalMemoryBytes = 32UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
        });
        var high = m.OpenContext(1, priority: 12);
        var low = m.OpenContext(1, priority: 1);
        var counter = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var fence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var work = m.Kmd.Allocate(1, 1UL << 20, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        Assert.That(m.TrySubmit(high, r => { r.Wait(counter, 0); r.WriteData(fence, 0, 0x11); }), Is.True);
        m.RunFor(200_000); // the high context runs and stops on its WAIT
        Assert.That(m.TrySubmit(low, r => { r.Fill(work, 0, 0x5A5A5A5A, 1UL << 20); r.Signal(counter, 0); r.WriteData(fence, 8, 0x22); }), Is.True);
        Assert.That(m.RunUntil(() => Read64(m, fence, 0) == 0x11 && Read64(m, fence, 8) == 0x22, 200_000_000), Is.True,
            $"{model}: low wrote {Read64(m, fence, 8):X}, high wrote {Read64(m, fence, 0):X}");
        Assert.That(m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(counter, 0)), Is.Zero, "the wait consumed the signal");
    }

    /// <summary>
    /// One priority scale for kernel contexts and ring-3 queues (docs/scheduling-policy.md rule 3, seed 003): a
    /// higher-priority context of one kind stalled on a WAIT that a lower-priority context of the other kind signals
    /// gives the engine away, and both complete.
    /// </summary>
    [TestCase(SchedulingModel.Basic, true)]
    [TestCase(SchedulingModel.Basic, false)]
    [TestCase(SchedulingModel.Hardware, true)]
    [TestCase(SchedulingModel.Hardware, false)]
    public void Seed003_KernelContextAndUserQueue_AHigherOneWaitingOnALowerOnesSignal_BothComplete(SchedulingModel model, bool kernelIsHigh)
    {
        using var m = NewMachine(model);
        var kernel = m.CreateContext(1, kernelIsHigh ? 12 : 1, EngineKind.Render);
        // The basic model's OpenContext gives a kernel-path context: there a ring-3 queue of process 1 is registered directly.
        Coproc.Fast.Driver.VidSch.GpuContext queue = model == SchedulingModel.Basic
            ? m.CreateUserQueue(1, m.Process(1).GpuSpace, 0x7000, EngineKind.Render, (byte)(kernelIsHigh ? 1 : 12)).Context
            : m.OpenContext(1, kernelIsHigh ? 1 : 12, EngineKind.Render);
        var (high, low) = kernelIsHigh ? ((Coproc.Fast.Driver.VidSch.GpuContext)kernel, queue) : (queue, kernel);
        var counter = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var fence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var work = m.Kmd.Allocate(1, 1UL << 20, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        Assert.That(m.TrySubmit(high, r => { r.Wait(counter, 0); r.WriteData(fence, 0, 0x11); }), Is.True);
        m.RunFor(200_000);
        Assert.That(m.TrySubmit(low, r => { r.Fill(work, 0, 0x5A5A5A5A, 1UL << 20); r.Signal(counter, 0); r.WriteData(fence, 8, 0x22); }), Is.True);
        Assert.That(m.RunUntil(() => Read64(m, fence, 0) == 0x11 && Read64(m, fence, 8) == 0x22, 200_000_000), Is.True,
            $"{model}: low ({low.Path}) wrote {Read64(m, fence, 8):X}, high ({high.Path}) wrote {Read64(m, fence, 0):X}");
    }

    /// <summary>
    /// Seed 001 §8.4 and §5.5 together: while a high-priority context waits on a counter, a lower one's long job runs
    /// (the engine is not idle); once the CPU sets the counter the high one takes the engine back within a few quanta,
    /// long before the low job ends.
    /// </summary>
    [TestCase(SchedulingModel.Basic, false)]
    [TestCase(SchedulingModel.Advanced, false)]
    [TestCase(SchedulingModel.Advanced, true)]
    [TestCase(SchedulingModel.Hardware, false)]
    public void Seed001_8_4_LowerJobRunsWhileAHigherWaits_AndTheHigherTakesTheEngineBackOnceTheCounterIsSet(SchedulingModel model, bool history)
    {
        using var m = new Machine(new MachineOptions
        {
            Model = model,
            RunLists = history ? new() { Mechanism = Coproc.Fast.Driver.VidSch.RunLists.RunListMechanism.History } : new(),
            Device = new CoprocessorOptions { LocalMemoryBytes = 32UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
        });
        const ulong Big = 4UL << 20;
        var high = m.OpenContext(1, priority: 12);
        var low = m.OpenContext(2, priority: 1);
        var counter = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var highFence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var target = m.Kmd.Allocate(2, Big, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var lowFence = m.Kmd.Allocate(2, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        Assert.That(m.TrySubmit(high, r => { r.Wait(counter, 0); r.WriteData(highFence, 0, 1); }), Is.True);
        m.RunFor(300_000);
        Assert.That(m.TrySubmit(low, r =>
        {
            for (int i = 0; i < 200; i++) r.Fill(target, 0, (uint)i + 1, Big); // about 13 M cycles
            r.Fence(lowFence, 0, 1);
        }), Is.True);
        m.RunFor(3_000_000);
        uint progress = m.Device.Memory.Read32(m.VidMm.PhysicalAddressOf(target, Big - 4));
        Assert.That(progress, Is.GreaterThan(0u), $"{model}: the lower job ran while the higher one waited");
        m.Device.Memory.Write32(m.VidMm.PhysicalAddressOf(counter, 0), 1);
        ulong set = m.Now;
        Assert.That(m.RunUntil(() => Read64(m, highFence, 0) == 1, 20_000_000), Is.True);
        Assert.That(m.Now - set, Is.LessThan(2_000_000UL), $"{model}: the high context came back within a few quanta");
        Assert.That(Read64(m, lowFence, 0), Is.Zero, "long before the low job ends");
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(Read64(m, lowFence, 0), Is.EqualTo(1UL));
    }
}
