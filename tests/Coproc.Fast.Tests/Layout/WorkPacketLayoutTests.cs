using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines.Work;

namespace Coproc.Fast.Tests.Layout;

/// <summary>WorkState and the work packets checked against native-layout.md §8A.</summary>
public class WorkPacketLayoutTests
{
    [Test]
    public void WorkState_Is32Bytes_WithDocumentedOffsets()
    {
        Assert.That(Unsafe.SizeOf<WorkState>(), Is.EqualTo(32));
        Assert.That(Marshal.OffsetOf<WorkState>(nameof(WorkState.Step)).ToInt32(), Is.EqualTo(0));
        Assert.That(Marshal.OffsetOf<WorkState>(nameof(WorkState.SubStep)).ToInt32(), Is.EqualTo(4));
        Assert.That(Marshal.OffsetOf<WorkState>(nameof(WorkState.Scratch0)).ToInt32(), Is.EqualTo(8));
        Assert.That(Marshal.OffsetOf<WorkState>(nameof(WorkState.Scratch1)).ToInt32(), Is.EqualTo(16));
        Assert.That(Marshal.OffsetOf<WorkState>(nameof(WorkState.Scratch2)).ToInt32(), Is.EqualTo(24));
    }

    [Test]
    public void DrawRects_DwordsAreWhereSection8A2PutsThem()
    {
        var p = new uint[20];
        var target = new Surface(0x0000_1234_5678_9ABC, 0x2000, 0x700, 0x400, PixelFormat.Rgba8888);
        var source = new Surface(0x0000_0001_0000_0040, 0x100, 0x40, 0x20, PixelFormat.Bgra8888);
        int n = DrawRectsPacket.Encode(p, target, source, [RectPrimitive.Copy(-5, 7, 9, 11, 3, 4)]);
        Assert.That(n, Is.EqualTo(20));
        Assert.That(p, Is.EqualTo(new uint[]
        {
            0x0014_0010,
            0x5678_9ABC, 0x1234, 0x2000, 0x700, 0x400, 1,
            0x0000_0040, 0x0001, 0x100, 0x40, 0x20, 0,
            1,
            unchecked((uint)-5), 7, 9, 11, 1, 0x0004_0003,
        }));
    }

    [Test]
    public void Dispatch_And_Video_DwordsAreWhereSections8A3And8A4PutThem()
    {
        var d = new uint[9];
        DispatchPacket.Encode(d, DispatchKernel.Crc32C, 100, 16, 0x0000_0002_0000_0010, 0x0000_0003_0000_0020, 0xABCD);
        Assert.That(d, Is.EqualTo(new uint[] { 0x0009_0011, 3, 100, 16, 0x10, 2, 0x20, 3, 0xABCD }));

        var v = new uint[10];
        VideoDecodePacket.Encode(v, 0x0000_0004_0000_0100, 555, new Surface(0x0000_0005_0000_0000, 64, 16, 8, PixelFormat.Bgra8888));
        Assert.That(v, Is.EqualTo(new uint[] { 0x000A_0012, 0x100, 4, 555, 0, 5, 64, 16, 8, 0 }));

        var e = new uint[12];
        VideoEncodePacket.Encode(e, new Surface(0x0000_0005_0000_0000, 64, 16, 8, PixelFormat.Rgba8888), 0x0000_0006_0000_0008, 999, 0x0000_0007_0000_000C);
        Assert.That(e, Is.EqualTo(new uint[] { 0x000C_0013, 0, 5, 64, 16, 8, 1, 8, 6, 999, 0xC, 7 }));
    }
}
