using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Tests.Engines;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.HardwareInterface;

/// <summary>
/// Each test pins one statement of native-layout.md that the device and the document once disagreed on: the device
/// does what the document says.
/// </summary>
public class DocumentedBehaviourTests
{
    private static uint MmuReg(uint offset) => MmioMap.MmuBase + offset;

    private static (ulong Count, ulong Va, ulong Info) FaultLog(Coprocessor d) =>
        (d.Mmio.Read64(MmuReg(MmuRegisters.FaultCount)), d.Mmio.Read64(MmuReg(MmuRegisters.FaultVa)),
            d.Mmio.Read64(MmuReg(MmuRegisters.FaultInfo)));

    [Test]
    public void FaultInfo_Section7_5_EngineFaults_SetTheWriteBitOnlyForWriteProtection_AndNameClientOnePlusEngine()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace(faultOnInvalid: true);
        ulong ro = space.Alloc(4096, writable: false);
        var a = m.NewContext(space, 1);
        a.Submit((ref PacketWriter w) => w.WriteData(0x7000_0000, [1u])); // unmapped: InvalidAddress
        m.SwitchTo(EngineKind.Copy, a);
        m.Device.Step(10_000);
        var (count, va, info) = FaultLog(m.Device);
        Assert.That((count, va), Is.EqualTo((1UL, 0x7000_0000UL)));
        Assert.That(info & 0xFF, Is.EqualTo(1UL), "status InvalidAddress");
        Assert.That((info >> 8) & 1, Is.Zero, "bit 8 reads 0 for an engine fault other than write protection, though this was a write");
        Assert.That((info >> 32) & 0xFF, Is.EqualTo(1UL + (ulong)EngineKind.Copy), "engine e is client 1 + e");
        Assert.That((info >> 16) & 0xFFFF, Is.EqualTo((ulong)space.Descriptor.Asid));

        var b = m.NewContext(space, 2);
        b.Submit((ref PacketWriter w) => w.WriteData(ro, [1u]));
        m.SwitchTo(EngineKind.Render, b);
        m.Device.Step(10_000);
        (_, _, info) = FaultLog(m.Device);
        Assert.That((info & 0xFF, (info >> 8) & 1, (info >> 32) & 0xFF), Is.EqualTo((2UL, 1UL, 1UL + (ulong)EngineKind.Render)));
    }

    [Test]
    public void TlbClients_Section7_2_TheApertureIsClientZero_EnginesFollow_AndTheDisplayHasNoTlb()
    {
        using var m = new EngineTestMachine();
        var clients = m.Device.Mmu.ClientTlbs;
        int engines = Coproc.Fast.Device.Engines.Engines.Count;
        Assert.That(clients.Count, Is.EqualTo(1 + engines), "the aperture and one per engine: no display TLB");
        Assert.That(m.Device.Aperture.Tlb.ClientId, Is.Zero);
        for (int e = 0; e < engines; e++) Assert.That(m.Device.Tlbs[(EngineKind)e].ClientId, Is.EqualTo(1 + e));
    }

    [Test]
    public void ApertureFailures_Section7_5_ReachTheFaultLog_WithTheApertureOffset_Asid0xFFFE_AndTheAccessKind()
    {
        using var m = new EngineTestMachine();
        Assert.That(m.Device.Mmio.Read64(MmuReg(MmuRegisters.ApertureTable)), Is.Zero, "APERTURE_TABLE resets to 0");
        Assert.That(m.Device.Mmio.Read32(MmuReg(MmuRegisters.ApertureEntries)), Is.Zero, "APERTURE_ENTRIES resets to 0");
        Assert.That(m.Device.Aperture.Write32(0x3004, 5), Is.EqualTo(ApertureStatus.NotMapped));
        var (count, va, info) = FaultLog(m.Device);
        Assert.That((count, va), Is.EqualTo((1UL, 0x3004UL)));
        Assert.That((info & 0xFF, (info >> 8) & 1, (info >> 16) & 0xFFFF, (info >> 32) & 0xFF), Is.EqualTo((1UL, 1UL, 0xFFFEUL, 0UL)));
        Assert.That(m.Device.Aperture.Read32(0x1000, out _), Is.EqualTo(ApertureStatus.NotMapped));
        (count, _, info) = FaultLog(m.Device);
        Assert.That((count, (info >> 8) & 1), Is.EqualTo((2UL, 0UL)), "a read records access 0");
    }

    [Test]
    public unsafe void HostSystemMemory_Section1_Needs4KiBAlignmentOnly_AndItsLengthMustMatchSystemMemoryBytes()
    {
        // A 4 KiB-aligned block that is deliberately not 2 MiB aligned.
        byte* raw = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(3UL << 20), (nuint)(2UL << 20));
        try
        {
            var ram = NativeRegion.Wrap(raw + 4096, 1UL << 20);
            using (var dev = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 1UL << 20 }, ram))
                Assert.That(dev.Mmio.Read64(MmioMap.DeviceBase + DeviceRegisters.SystemSize), Is.EqualTo(1UL << 20));
            Assert.Throws<ArgumentException>(() => NativeRegion.Wrap(raw + 64, 1UL << 20));
            Assert.Throws<ArgumentException>(() =>
                new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 2UL << 20 }, ram).Dispose());
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(raw);
        }
    }

    [Test]
    public void ContextSwitchInterrupt_Section9_NamesTheContextSwitchedAwayFrom_InInfoContext_AndTheTargetInData1()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace();
        var a = m.NewContext(space, 11);
        var b = m.NewContext(space, 22);
        m.SwitchTo(EngineKind.Render, a);
        m.SwitchTo(EngineKind.Render, b);
        var switches = m.DrainInterrupts().Where(i => i.Source == InterruptSource.ContextSwitch).ToList();
        Assert.That(switches.Select(i => (i.ContextId, i.Data1)),
            Is.EqualTo(new[] { (0u, a.SaveArea.Encoded), (11u, b.SaveArea.Encoded) }));
        Assert.That(m.Device.Mmio.Read32(MmioMap.InterruptBase + 0x1C), Is.Zero, "queue drained");
    }

    [Test]
    public void FaultInterrupt_Data1_IsTheSaveAreaOfTheFaultedContext()
    {
        using var m = new EngineTestMachine();
        var a = m.NewContext(m.NewAddressSpace(faultOnInvalid: true), 3);
        a.Submit((ref PacketWriter w) => w.WriteData(0x7000_0000, [1u]));
        m.SwitchTo(EngineKind.Render, a);
        m.Device.Step(10_000);
        var fault = m.DrainInterrupts().Single(i => i.Source == InterruptSource.PageFault);
        Assert.That((fault.Data0, fault.Data1), Is.EqualTo((0x7000_0000UL, a.SaveArea.Encoded)));
    }

    [Test]
    public void KernelContextSetAsideForAUserQueue_Section9_RaisesNoContextSwitch_GoingOrComingBack_AndDoorbellBit7IsNeverRaised()
    {
        using var rig = new EngineQueueRig();
        var kspace = rig.Machine.NewAddressSpace();
        var kernel = rig.Machine.NewContext(kspace, 100);
        ulong klog = kspace.Alloc(4096);
        rig.Machine.SwitchTo(EngineKind.Copy, kernel);
        rig.Device.Step(5_000);
        rig.Machine.DrainInterrupts();
        var uspace = rig.Machine.NewAddressSpace();
        ulong ulog = uspace.Alloc(4096);
        var q = rig.Open(rig.Register(5, 5, uspace, EngineKind.Copy, timeSlice: 200));
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(ulog, 1));
        q.Flush();
        rig.Device.Step(10_000);
        Assert.That(uspace.Read32(ulog), Is.EqualTo(1u));
        Assert.That(rig.Device.Engine(EngineKind.Copy).UserQueueDoorbell, Is.EqualTo(q.Doorbell), "the kernel context was set aside");
        kernel.Submit((ref PacketWriter w) => w.WriteData(klog, 2));
        rig.Device.Step(10_000);
        Assert.That(kspace.Read32(klog), Is.EqualTo(2u));
        Assert.That(rig.Device.Engine(EngineKind.Copy).CurrentContext, Is.EqualTo(kernel.SaveArea.Encoded), "and came back by itself");
        Assert.That(rig.Device.Interrupts.Status & (1u << (int)InterruptSource.Doorbell), Is.Zero, "DOORBELL (bit 7) is reserved");
        var raised = rig.Machine.DrainInterrupts();
        Assert.That(raised.Select(i => i.Source), Does.Not.Contain(InterruptSource.Doorbell));
        // The only CONTEXT_SWITCH is the kernel context's "empty, nothing else to run" report once it finished (data1 = 0).
        Assert.That(raised.Where(i => i.Source == InterruptSource.ContextSwitch).Select(i => ((SwitchReason)i.Data0, i.Data1, i.ContextId)),
            Is.EqualTo(new[] { (SwitchReason.Empty, 0UL, 100u) }));
    }

    [Test]
    public void FlipCount_Section12_CountsAcceptedScanoutBaseWrites_NotRejectedOnes()
    {
        using var m = new EngineTestMachine();
        var surface = m.AllocLocal(64 * 64 * 4);
        uint D(uint reg) => MmioMap.DisplayBase + reg;
        m.Device.Mmio.Write32(D(0x28), 64);
        m.Device.Mmio.Write32(D(0x2C), 64);
        m.Device.Mmio.Write32(D(0x30), 256);
        m.Device.Mmio.Write64(D(0x38), surface.Encoded);
        Assert.That(m.Device.Mmio.Read64(D(0x20)), Is.EqualTo(1UL));
        m.Device.Mmio.Write64(D(0x38), PhysicalAddress.Local(m.Memory.Local.Length - 16).Encoded); // does not fit: ignored
        Assert.That(m.Device.Mmio.Read64(D(0x20)), Is.EqualTo(1UL));
        Assert.That(m.Device.Mmio.Read64(D(0x00)), Is.EqualTo(surface.Encoded));
    }

    [Test]
    public void WorkState_Section11_1_LiesAt96_WithDocumentedFieldOffsets()
    {
        var sa = new ContextSaveArea();
        ref byte start = ref Unsafe.As<ContextSaveArea, byte>(ref sa);
        Assert.That((int)Unsafe.ByteOffset(ref start, ref Unsafe.As<WorkState, byte>(ref sa.Work)), Is.EqualTo(96));
        Assert.That((int)Unsafe.ByteOffset(ref start, ref Unsafe.As<uint, byte>(ref sa.Work.Step)), Is.EqualTo(96));
        Assert.That((int)Unsafe.ByteOffset(ref start, ref Unsafe.As<uint, byte>(ref sa.Work.SubStep)), Is.EqualTo(100));
        Assert.That((int)Unsafe.ByteOffset(ref start, ref Unsafe.As<ulong, byte>(ref sa.Work.Scratch0)), Is.EqualTo(104));
        Assert.That((int)Unsafe.ByteOffset(ref start, ref Unsafe.As<ulong, byte>(ref sa.Work.Scratch1)), Is.EqualTo(112));
        Assert.That((int)Unsafe.ByteOffset(ref start, ref Unsafe.As<ulong, byte>(ref sa.Work.Scratch2)), Is.EqualTo(120));
    }

    [Test]
    public void SkippingAPacketThatFaultsEveryTime_Section10_3_AdvancingThePositionAndClearingFaulted_RunsTheRest()
    {
        using var m = new EngineTestMachine();
        var space = m.NewAddressSpace(faultOnInvalid: true);
        ulong log = space.Alloc(4096);
        var dmaPackets = PacketProgram.Build((ref PacketWriter w) =>
        {
            w.WriteData(log, [1u]);
            w.Copy(0x7000_0000, log, 64); // faults every time: the destination is never mapped
            w.WriteData(log + 4, [2u]);
        });
        ulong dma = space.NewDmaBuffer(dmaPackets);
        var a = m.NewContext(space, 1);
        a.Submit((ref PacketWriter w) => { w.Indirect(dma, (uint)dmaPackets.Length, privileged: false); w.WriteData(log + 8, [3u]); });
        m.SwitchTo(EngineKind.Copy, a);
        m.Device.Step(10_000);
        m.SwitchTo(EngineKind.Copy, null);
        ref var sa = ref m.Memory.Local.Ref<ContextSaveArea>(a.SaveArea.Offset);
        Assert.That(sa.Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(sa.Fault.Where, Is.EqualTo(FaultLocation.DmaBuffer));

        // The driver's skip, as §10.3 describes it: header at the fault's Offset → length; advance; zero WorkState; clear.
        uint header = space.Read32(dma + sa.Fault.Offset);
        sa.IndirectOffset += (uint)new PacketHeader(header).LengthDwords;
        sa.Work = default;
        sa.Flags &= ~(ContextFlags.Faulted | ContextFlags.Waiting);
        m.SwitchTo(EngineKind.Copy, a);
        m.RunUntilIdle();

        Assert.That((space.Read32(log), space.Read32(log + 4), space.Read32(log + 8)), Is.EqualTo((1u, 2u, 3u)));
        Assert.That(a.ReadPtr, Is.EqualTo(a.WritePtr));
    }
}
