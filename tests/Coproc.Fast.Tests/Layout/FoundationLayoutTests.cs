using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Tests.Layout;

/// <summary>Struct layouts checked against native-layout.md.</summary>
public class FoundationLayoutTests
{
    [Test]
    public void PageTableEntry_IsEightBytes_WithBitsAsDocumented()
    {
        Assert.That(Unsafe.SizeOf<PageTableEntry>(), Is.EqualTo(8));
        var e = PageTableEntry.Create(MemoryLocation.System, 0x12345000, writable: true, privileged: true, largePage: false, CacheType.WriteCombined, software: 5);
        Assert.That(e.Raw, Is.EqualTo(0x1UL | 0x2 | 0x4 | (1UL << 3) | (2UL << 6) | (5UL << 9) | 0x12345000));
        Assert.That(e.IsValid && e.IsWritable && e.IsPrivileged && !e.IsLargePage, Is.True);
        Assert.That(e.Location, Is.EqualTo(MemoryLocation.System));
        Assert.That(new PageTableEntry(e.Raw | (1UL << 52)).IsValid, Is.False, "reserved bits make an entry invalid");
        Assert.That(new PageTableEntry(1UL | (3UL << 3)).IsValid, Is.False, "location 3 is reserved");
    }

    [Test]
    public void AddressSpaceDescriptor_Is32Bytes_WithDocumentedOffsets()
    {
        Assert.That(Unsafe.SizeOf<AddressSpaceDescriptor>(), Is.EqualTo(32));
        Assert.That(Marshal.OffsetOf<AddressSpaceDescriptor>(nameof(AddressSpaceDescriptor.RootTable)).ToInt32(), Is.EqualTo(0));
        Assert.That(Marshal.OffsetOf<AddressSpaceDescriptor>(nameof(AddressSpaceDescriptor.Format)).ToInt32(), Is.EqualTo(8));
        Assert.That(Marshal.OffsetOf<AddressSpaceDescriptor>(nameof(AddressSpaceDescriptor.Flags)).ToInt32(), Is.EqualTo(12));
        Assert.That(Marshal.OffsetOf<AddressSpaceDescriptor>(nameof(AddressSpaceDescriptor.FlatLimit)).ToInt32(), Is.EqualTo(16));
        Assert.That(Marshal.OffsetOf<AddressSpaceDescriptor>(nameof(AddressSpaceDescriptor.Asid)).ToInt32(), Is.EqualTo(24));
    }

    [Test]
    public void PhysicalAddress_EncodesLocationInTopBits_AndRejectsReservedBits()
    {
        Assert.That(PhysicalAddress.System(0x1000).Encoded, Is.EqualTo(0x4000_0000_0000_1000UL));
        Assert.That(PhysicalAddress.Local(0x2000).Encoded, Is.EqualTo(0x2000UL));
        Assert.That(PhysicalAddress.Decode(0x4000_0000_0000_1000UL), Is.EqualTo(PhysicalAddress.System(0x1000)));
        Assert.That(PhysicalAddress.TryDecode(1UL << 50, out _), Is.False);
        Assert.That(PhysicalAddress.TryDecode(0x8000_0000_0000_0000UL, out _), Is.False, "location 2 has no physical address");
    }
}
