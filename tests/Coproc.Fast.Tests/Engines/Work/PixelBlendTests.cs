using Coproc.Fast.Device.Engines.Work;

namespace Coproc.Fast.Tests.Engines.Work;

public class PixelBlendTests
{
    [Test]
    public void SourceOver_EqualsThePerChannelRoundedFormula_ForEveryAlphaAndChannelPair()
    {
        // Exhaustive over alpha and (thinned) source/destination channel values, every channel position at once.
        int mismatches = 0;
        for (uint a = 0; a < 256; a++)
        for (uint s = 0; s < 256; s += 3)
        for (uint d = 0; d < 256; d += 5)
        {
            uint src = (a << 24) | (s << 16) | (s << 8) | s, dst = (d << 24) | (d << 16) | (d << 8) | d;
            if (PixelBlend.SourceOver(dst, src) != DrawRectsReference.Blend(dst, src)) mismatches++;
        }
        Assert.That(mismatches, Is.Zero);
    }

    [Test]
    public void VectorAndScalarPaths_AreBitIdentical_ForRandomRowsOfEveryLength([Values(false, true)] bool swap)
    {
        var rng = new Random(12345);
        for (int n = 0; n < 70; n++)
        {
            var src = new uint[n];
            var dst = new uint[n];
            for (int i = 0; i < n; i++) { src[i] = (uint)rng.NextInt64(0, 1L << 32); dst[i] = (uint)rng.NextInt64(0, 1L << 32); }
            var vector = (uint[])dst.Clone();
            var scalar = (uint[])dst.Clone();
            PixelBlend.SourceOver(vector, src, swap);
            PixelBlend.SourceOverScalar(scalar, src, swap);
            Assert.That(vector, Is.EqualTo(scalar), $"n = {n}");
            for (int i = 0; i < n; i++)
                Assert.That(scalar[i], Is.EqualTo(DrawRectsReference.Blend(dst[i], swap ? DrawRectsReference.Swap(src[i]) : src[i])));
        }
    }

    [Test]
    public void ConstantBlend_EqualsBlendingTheSamePixelEverywhere()
    {
        var rng = new Random(99);
        var dst = Enumerable.Range(0, 37).Select(_ => (uint)rng.NextInt64(0, 1L << 32)).ToArray();
        var expected = dst.Select(d => DrawRectsReference.Blend(d, 0x7F123456)).ToArray();
        PixelBlend.SourceOverConstant(dst, 0x7F123456);
        Assert.That(dst, Is.EqualTo(expected));
    }
}
