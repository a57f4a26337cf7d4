using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Tests.Ring3;

namespace Coproc.Fast.Tests.Doorbells;

public class DoorbellBlockTests
{
    private const uint B = MmioMap.DoorbellBase;

    [Test]
    public void Registration_ProgramsTheBlockThroughMmio_AndTheOwnersWriteRingsTheBit()
    {
        using var h = new Ring3Harness();
        var (reg, _) = h.Open(process: 42, slot: 0, context: 5, priority: 3, timeSlice: 777);
        var mmio = h.Device.Mmio;
        mmio.Write32(B + DoorbellRegisters.Index, (uint)reg.Doorbell);
        Assert.That(mmio.Read32(B + DoorbellRegisters.State), Is.EqualTo((uint)DoorbellState.Registered));
        Assert.That(mmio.Read32(B + DoorbellRegisters.RegisteredCount), Is.EqualTo(1u));
        var r = h.Device.DoorbellBlock[reg.Doorbell];
        Assert.That((r.OwnerProcessId, r.ContextId, r.Priority, r.TimeSliceCycles, r.Descriptor),
            Is.EqualTo((42u, 5u, (byte)3, 777u, reg.Descriptor)));

        h.Device.DoorbellAperture.Write32(DoorbellAperture.PageOffset(reg.Doorbell) + 0x10, 0, 42);
        Assert.That(mmio.Read64(B + DoorbellRegisters.Pending0), Is.EqualTo(1UL << reg.Doorbell));
        Assert.That(mmio.Read64(B + DoorbellRegisters.PendingSummary), Is.EqualTo(1UL));
        Assert.That(h.Device.DoorbellBlock.Interrupt.IsRaised, Is.True, "the ring interrupts the scheduling core");
    }

    [Test]
    public void WritesToUnregisteredDoorbells_AndByAnotherProcess_AreIgnoredAndCounted()
    {
        using var h = new Ring3Harness();
        var (reg, _) = h.Open(process: 42, slot: 0, context: 5);
        var aperture = h.Device.DoorbellAperture;
        aperture.Write32(DoorbellAperture.PageOffset(reg.Doorbell + 1), 0, 42);
        aperture.Write32(DoorbellAperture.PageOffset(reg.Doorbell), 0, 43);
        aperture.Write32(DoorbellAperture.SizeInBytes, 0, 42);
        Assert.That(h.Device.DoorbellBlock.UnregisteredWrites, Is.EqualTo(1));
        Assert.That(h.Device.DoorbellBlock.WrongOwnerWrites, Is.EqualTo(1));
        Assert.That(aperture.DroppedWrites, Is.EqualTo(1));
        Assert.That(h.Device.DoorbellBlock.Vector.AnyPending, Is.False, "none of them rang");
        Assert.That(h.Device.Mmio.Read64(B + DoorbellRegisters.UnregisteredWrites), Is.EqualTo(1UL));
        Assert.That(h.Device.Mmio.Read64(B + DoorbellRegisters.WrongOwnerWrites), Is.EqualTo(1UL));
    }

    [Test]
    public void BusStoreWithoutAProcessId_RingsARegisteredDoorbellWhoeverOwnsIt_ButNotAnUnregisteredOne()
    {
        // Given a doorbell owned by process 42 and a host bus that forwards stores with no process identity (§13.1).
        using var h = new Ring3Harness();
        var (reg, _) = h.Open(process: 42, slot: 0, context: 5);
        var aperture = h.Device.DoorbellAperture;

        // When the bus stores to its page and to an unregistered page.
        aperture.Write32(DoorbellAperture.PageOffset(reg.Doorbell), 0x40);
        aperture.Write32(DoorbellAperture.PageOffset(reg.Doorbell + 1), 0x40);

        // Then the registered one rang (the mapping is the protection), the unregistered one is counted, no owner mismatch.
        Assert.That(h.Device.Mmio.Read64(B + DoorbellRegisters.Pending0), Is.EqualTo(1UL << reg.Doorbell));
        Assert.That(h.Device.DoorbellBlock.UnregisteredWrites, Is.EqualTo(1));
        Assert.That(h.Device.DoorbellBlock.WrongOwnerWrites, Is.Zero);
        Assert.That(DoorbellAperture.BusWriter, Is.EqualTo(0xFFFF_FFFFu));
    }

    [Test]
    public void The257thRegistration_FailsWithDoorbellsExhausted_AndAFreedDoorbellIsReused()
    {
        using var h = new Ring3Harness(systemBytes: 16UL << 20);
        var regs = new List<UserQueueRegistration>();
        for (int i = 0; i < DoorbellVector.Count; i++)
        {
            // All queues share one ring here: only the registrations matter.
            var req = h.Request(slot: i, context: (uint)i, ringBytes: 4096);
            req.RingBase = PhysicalAddress.System(1UL << 20).Encoded;
            regs.Add(h.Registrar.Register(1, req));
        }
        Assert.That(regs.Select(r => r.Doorbell), Is.EquivalentTo(Enumerable.Range(0, 256)));
        var extra = h.Request(slot: 256, context: 999);
        extra.RingBase = PhysicalAddress.System(1UL << 20).Encoded;
        var ex = Assert.Throws<DoorbellsExhaustedException>(() => h.Registrar.Register(1, extra))!;
        Assert.That(ex.ContextId, Is.EqualTo(999u));
        Assert.That(h.Device.Mmio.Read32(B + DoorbellRegisters.Status), Is.EqualTo((uint)DoorbellStatus.NoFreeDoorbell));

        h.Registrar.Unregister(regs[17]);
        Assert.That(h.Registrar.Register(1, extra).Doorbell, Is.EqualTo(17));
    }

    [Test]
    public void BadRegisterCommands_ReportTypedStatuses_AndRegisterNothing()
    {
        using var h = new Ring3Harness();
        var m = h.Device.Mmio;
        void Expect(DoorbellStatus s) => Assert.That((DoorbellStatus)m.Read32(B + DoorbellRegisters.Status), Is.EqualTo(s));
        m.Write32(B + DoorbellRegisters.Index, 300);
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
        Expect(DoorbellStatus.BadIndex);
        m.Write32(B + DoorbellRegisters.Index, 4);
        m.Write64(B + DoorbellRegisters.QueueDescriptor, PhysicalAddress.System(0x1010).Encoded);
        m.Write32(B + DoorbellRegisters.TimeSlice, 10);
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
        Expect(DoorbellStatus.BadDescriptorAddress);
        m.Write64(B + DoorbellRegisters.QueueDescriptor, PhysicalAddress.System(0x1000).Encoded);
        m.Write32(B + DoorbellRegisters.Scheduling, 9);
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
        Expect(DoorbellStatus.BadEngine);
        m.Write32(B + DoorbellRegisters.Scheduling, 1 | (1u << 12));
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
        Expect(DoorbellStatus.BadScheduling);
        m.Write32(B + DoorbellRegisters.Scheduling, 1);
        m.Write32(B + DoorbellRegisters.TimeSlice, 0);
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
        Expect(DoorbellStatus.BadTimeSlice);
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Unregister);
        Expect(DoorbellStatus.NotRegistered);
        m.Write32(B + DoorbellRegisters.Command, 77);
        Expect(DoorbellStatus.BadCommand);
        Assert.That(h.Device.DoorbellBlock.RegisteredCount, Is.EqualTo(0));
        m.Write32(B + DoorbellRegisters.TimeSlice, 10);
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
        Expect(DoorbellStatus.Ok);
        m.Write32(B + DoorbellRegisters.Command, (uint)DoorbellCommand.Register);
        Expect(DoorbellStatus.Busy);
    }
}
