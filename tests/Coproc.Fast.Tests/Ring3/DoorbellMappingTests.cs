using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Cpu;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// Seed 003 / registration maps the doorbell page (a page of the device's doorbell BAR) into the process's
/// emulated CPU address space, and the kernel can submit through the same mechanism.
/// </summary>
public class DoorbellMappingTests
{
    [Test]
    public void Registration_MapsTheDoorbellPageIntoTheProcess_AndAStoreThroughTheMappingRunsTheQueue()
    {
        // Given a process with a GPU address space and an (empty) CPU address space.
        using var rig = new EngineQueueRig();
        var space = rig.Machine.NewAddressSpace();
        ulong log = space.Alloc(4096);
        var cpu = NewCpuSpace(rig);

        // When it registers a queue (one gate entry) ...
        var reg = rig.RegisterMapped(7, 1, space, cpu, EngineKind.Compute);
        Assert.That(rig.Gate.EntriesOf(7), Is.EqualTo(1));

        // ... its CPU space holds a write-only device page at DoorbellVa, tagged with the owner, with no memory behind it.
        Assert.That(cpu.MappedDoorbellPages, Is.EqualTo(1));
        Assert.That(CpuAddressSpace.HalfOf(reg.DoorbellVa), Is.EqualTo(CpuAddressHalf.User));
        Assert.That(cpu.TryGetEntry(reg.DoorbellVa, out var pte) && pte.IsDoorbell && pte.DoorbellOwner == 7, Is.True);
        Assert.That(cpu.TryTranslate(reg.DoorbellVa, out _), Is.False, "a doorbell page is not memory");
        Assert.That(cpu.Read32(reg.DoorbellVa + 0x40), Is.Zero, "doorbell pages read as zero");
        Assert.That(reg.Page.Doorbell, Is.EqualTo(reg.Doorbell));

        // Then the application writes a packet, publishes WritePtr and rings with a plain store through its mapping.
        var q = rig.Open(reg);
        EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log, 0x5A));
        q.Publish();
        cpu.Write32(reg.DoorbellVa, (uint)q.WritePosition);
        Assert.That(rig.Device.DoorbellBlock.Vector.AnyPending, Is.True, "the store rang the doorbell");
        rig.Device.Step(20_000);
        Assert.That(space.Read32(log), Is.EqualTo(0x5Au));
        Assert.That(rig.Device.DoorbellBlock.WrongOwnerWrites + rig.Device.DoorbellBlock.UnregisteredWrites, Is.Zero);
        Assert.That(rig.Gate.EntriesOf(7), Is.EqualTo(1), "submitting made no ring-0 entry");

        // And unregistering removes the page: the next store faults on the CPU instead of ringing.
        rig.Registrar.Unregister(reg);
        Assert.That(cpu.MappedDoorbellPages, Is.Zero);
        var fault = Assert.Throws<CpuPageFaultException>(() => cpu.Write32(reg.DoorbellVa, 1));
        Assert.That(fault!.Reason, Is.EqualTo(CpuFaultReason.NotMapped));
    }

    [Test]
    public void TwoProcesses_GetDistinctPages_EachTaggedWithItsOwner_AndAPageResolvesOnlyFromItsOwnersSpace()
    {
        using var rig = new EngineQueueRig();
        var (sa, sb) = (rig.Machine.NewAddressSpace(), rig.Machine.NewAddressSpace());
        var (ca, cb) = (NewCpuSpace(rig), NewCpuSpace(rig));
        var ra = rig.RegisterMapped(1, 1, sa, ca);
        var rb = rig.RegisterMapped(2, 2, sb, cb);

        Assert.That(ra.Doorbell, Is.Not.EqualTo(rb.Doorbell));
        Assert.That(DoorbellPageOwner(ca, ra.DoorbellVa), Is.EqualTo(1u));
        Assert.That(DoorbellPageOwner(cb, rb.DoorbellVa), Is.EqualTo(2u));
        // Process 2 has no mapping of process 1's page: the same VA in its space is its own page (or nothing).
        Assert.That(cb.TryGetEntry(ra.DoorbellVa, out var e) && e.IsDoorbell && e.DoorbellOffset >> 12 == (ulong)ra.Doorbell, Is.False);
        Assert.That(rig.Gate.TotalEntries, Is.EqualTo(2));
    }

    [Test]
    public void Kernel_SubmitsThroughTheSameUserQueueAndDoorbellMechanism()
    {
        // Given the kernel (process 0) registering a queue for its own context, exactly as a process does.
        using var rig = new EngineQueueRig();
        var kspace = rig.Machine.NewAddressSpace();
        ulong log = kspace.Alloc(4096);
        var reg = rig.Register(0, 100, kspace, EngineKind.Copy);
        var q = rig.Open(reg);

        // When it writes a batch of packets and rings once.
        for (uint i = 0; i < 8; i++) EngineQueueRig.Write(q, (ref PacketWriter w) => w.WriteData(log + i * 4, 0x100 + i));
        q.Flush();
        rig.Device.Step(20_000);

        // Then the copy engine ran them through the doorbell block and scheduling core, in order.
        for (uint i = 0; i < 8; i++) Assert.That(kspace.Read32(log + i * 4), Is.EqualTo(0x100 + i));
        Assert.That(q.DeviceReadPtr, Is.EqualTo(q.WritePosition));
    }

    // A process's CPU address space over the rig's memory (a one-entry aperture table of its own: VidMm would claim
    // local memory the test machine already uses for page tables).
    private static CpuAddressSpace NewCpuSpace(EngineQueueRig rig) =>
        new(rig.Device.Memory, new ApertureWindow(rig.Device.Memory, rig.Machine.AllocLocal(4096), 1));

    private static uint DoorbellPageOwner(CpuAddressSpace cpu, ulong va) =>
        cpu.TryGetEntry(va, out var e) && e.IsDoorbell ? e.DoorbellOwner : uint.MaxValue;
}
