using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Tests.Memory;

public class NativeRegionAllocationTests
{
    [TestCase(4096UL, 4096)]
    [TestCase(4UL << 20, 2 << 20)]
    [TestCase(3UL << 20, 64 << 10)]
    public unsafe void GivenAFreshRegion_WhenRead_ThenEveryByteIsZero_AndTheBaseIsAligned(ulong length, int alignment)
    {
        using var region = NativeRegion.Allocate(length, (nuint)alignment);
        Assert.That((ulong)region.Base % (ulong)alignment, Is.Zero);
        for (ulong off = 0; off < length; off += int.MaxValue / 2)
        {
            int n = (int)Math.Min(length - off, int.MaxValue / 2);
            Assert.That(region.Slice(off, n).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), $"non-zero byte in [0x{off:X}, +0x{n:X})");
        }
    }

    [Test]
    public void GivenRegionsFreedAfterBeingWritten_WhenNewOnesAreAllocated_ThenTheyStillReadZero()
    {
        // Reused heap memory must come back zeroed too, not only fresh pages.
        for (int i = 0; i < 8; i++)
        {
            using var region = NativeRegion.Allocate(1 << 20, 4096);
            Assert.That(region.Slice(0, 1 << 20).IndexOfAnyExcept((byte)0), Is.EqualTo(-1), $"allocation {i}");
            region.Slice(0, 1 << 20).Fill(0xA5);
        }
    }

    [Test]
    public unsafe void GivenAnOwnedRegion_WhenDisposedTwice_ThenTheSecondDisposeDoesNothing()
    {
        var region = NativeRegion.Allocate(8192, 4096);
        region.Dispose();
        Assert.DoesNotThrow(region.Dispose);
        Assert.That(region.Base == null, Is.True);
    }
}
