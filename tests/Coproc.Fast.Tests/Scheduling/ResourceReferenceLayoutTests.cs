using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Tests.Scheduling;

[TestFixture]
public sealed class ResourceReferenceLayoutTests
{
    [Test]
    public void ResourceReference_Is16Bytes_WithTheFieldsAtTheDocumentedOffsets()
    {
        Assert.That(Unsafe.SizeOf<ResourceReference>(), Is.EqualTo(16));
        var r = new ResourceReference(new AllocationHandle(0x11223344, 0x55667788), 0x99AABBCC, 0xDDEE, true);
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<ResourceReference>(in r));
        Assert.That(BitConverter.ToInt32(bytes[0..4]), Is.EqualTo(0x11223344));
        Assert.That(BitConverter.ToUInt32(bytes[4..8]), Is.EqualTo(0x55667788u));
        Assert.That(BitConverter.ToUInt32(bytes[8..12]), Is.EqualTo(0x99AABBCCu));
        Assert.That(BitConverter.ToUInt16(bytes[12..14]), Is.EqualTo(0xDDEE));
        Assert.That(bytes[14], Is.EqualTo(1));
    }
}
