using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Tests.Layout;

/// <summary>native-layout.md §13: doorbell aperture, doorbell block registers, user-queue descriptor, fault encoding.</summary>
public class DoorbellLayoutTests
{
    [Test]
    public void UserQueueDescriptor_Is192Bytes_WithPointersOnSeparateCacheLines()
    {
        Assert.That(Unsafe.SizeOf<RingDescriptor>(), Is.EqualTo(192));
        Assert.That(Marshal.OffsetOf<RingDescriptor>(nameof(RingDescriptor.Base)).ToInt32(), Is.EqualTo(0));
        Assert.That(Marshal.OffsetOf<RingDescriptor>(nameof(RingDescriptor.SizeBytes)).ToInt32(), Is.EqualTo(8));
        Assert.That(Marshal.OffsetOf<RingDescriptor>(nameof(RingDescriptor.Flags)).ToInt32(), Is.EqualTo(12));
        Assert.That(Marshal.OffsetOf<RingDescriptor>(nameof(RingDescriptor.ContextId)).ToInt32(), Is.EqualTo(16));
        Assert.That(Marshal.OffsetOf<RingDescriptor>(nameof(RingDescriptor.WritePtr)).ToInt32(), Is.EqualTo(64));
        Assert.That(Marshal.OffsetOf<RingDescriptor>(nameof(RingDescriptor.ReadPtr)).ToInt32(), Is.EqualTo(128));
        Assert.That(RingDescriptor.UserQueueFlag, Is.EqualTo(1u));
    }

    [Test]
    public void DoorbellAperture_Is256PagesOf4KiB()
    {
        Assert.That(DoorbellAperture.SizeInBytes, Is.EqualTo(1UL << 20));
        Assert.That(DoorbellAperture.PageOffset(0x2A), Is.EqualTo(0x2A000UL));
        Assert.That(DoorbellVector.Count, Is.EqualTo(256));
    }

    [Test]
    public void DoorbellBlockRegisters_AreAtTheirDocumentedOffsets()
    {
        Assert.That(MmioMap.DoorbellBase, Is.EqualTo(0xA00u));
        uint[] offsets =
        [
            DoorbellRegisters.Index, DoorbellRegisters.Command, DoorbellRegisters.Status, DoorbellRegisters.RegisteredCount,
            DoorbellRegisters.QueueDescriptor, DoorbellRegisters.Owner, DoorbellRegisters.Context, DoorbellRegisters.Scheduling,
            DoorbellRegisters.TimeSlice, DoorbellRegisters.State, DoorbellRegisters.UnregisteredWrites, DoorbellRegisters.WrongOwnerWrites,
            DoorbellRegisters.FaultedWrites, DoorbellRegisters.Pending0, DoorbellRegisters.PendingSummary, DoorbellRegisters.Services,
            DoorbellRegisters.QueueFaults, DoorbellRegisters.LastFault, DoorbellRegisters.SlotsPerEngine,
        ];
        Assert.That(offsets, Is.EqualTo(new uint[] { 0x00, 0x04, 0x08, 0x0C, 0x10, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x30, 0x38, 0x40, 0x48, 0x68, 0x80, 0x88, 0x90, 0x98 }));
        Assert.That(((uint)DoorbellCommand.Register, (uint)DoorbellCommand.Unregister, (uint)DoorbellCommand.Allocate), Is.EqualTo((1u, 2u, 3u)));
        Assert.That((uint)DoorbellStatus.NoFreeDoorbell, Is.EqualTo(8u));
        Assert.That(((uint)DoorbellState.Free, (uint)DoorbellState.Registered, (uint)DoorbellState.Faulted), Is.EqualTo((0u, 1u, 2u)));
    }

    [Test]
    public void LastFaultRegister_PacksDoorbellReasonAndContext()
    {
        var f = new QueueFault(0x17, 0xDEADBEEF, QueueFaultReason.RunawayWritePtr, 0, 0);
        Assert.That(f.Register, Is.EqualTo(0xDEADBEEF_0000_0417UL));
        Assert.That((byte)QueueFaultReason.MalformedPacket, Is.EqualTo(7));
    }
}
