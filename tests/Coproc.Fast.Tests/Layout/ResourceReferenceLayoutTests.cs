using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Tests.Layout;

/// <summary>The 16-byte resource-list entry checked against native-layout.md §16.1 (seed 001 §3.2, Fig. 5).</summary>
public class ResourceReferenceLayoutTests
{
    [Test]
    public void ResourceReference_GivenFields_WhenViewedAsBytes_ThenIs16BytesWithTheDocumentedOffsets()
    {
        var r = new ResourceReference(new AllocationHandle(0x0102_0304, 0xA0B0_C0D0), 0x0000_1F00, 0x0203, Write: true);
        Assert.That(Unsafe.SizeOf<ResourceReference>(), Is.EqualTo(16));
        ReadOnlySpan<byte> b = MemoryMarshal.AsBytes(MemoryMarshal.CreateReadOnlySpan(ref r, 1));
        Assert.That(BitConverter.ToInt32(b[0..4]), Is.EqualTo(0x0102_0304), "handle index");
        Assert.That(BitConverter.ToUInt32(b[4..8]), Is.EqualTo(0xA0B0_C0D0u), "handle generation");
        Assert.That(BitConverter.ToUInt32(b[8..12]), Is.EqualTo(0x0000_1F00u), "BufferOffset");
        Assert.That(BitConverter.ToUInt16(b[12..14]), Is.EqualTo((ushort)0x0203), "ResourceId");
        Assert.That(b[14], Is.EqualTo((byte)1), "Write");
    }
}
