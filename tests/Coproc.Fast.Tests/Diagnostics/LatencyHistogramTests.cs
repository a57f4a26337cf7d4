using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// The bounded latency histogram behind the report's p50 / p99: exact for small values, within 1/128 above the
/// exact nearest-rank value otherwise, and no memory per sample.
/// </summary>
public class LatencyHistogramTests
{
    private static ulong NearestRank(ulong[] samples, double p)
    {
        var sorted = samples.Order().ToArray();
        long rank = Math.Clamp((long)Math.Ceiling(p / 100 * sorted.Length), 1, sorted.Length);
        return sorted[rank - 1];
    }

    [Test]
    public void GivenNoSamples_EveryPercentileIsZero()
    {
        var h = new LatencyHistogram();
        Assert.That((h.Percentile(50), h.Percentile(100), h.Count, h.Max), Is.EqualTo((0UL, 0UL, 0L, 0UL)));
    }

    [Test]
    public void GivenValuesBelow256_PercentilesAreExact()
    {
        var h = new LatencyHistogram();
        ulong[] samples = [0, 1, 5, 5, 7, 100, 255, 3, 3, 200];
        foreach (var s in samples) h.Record(s);
        foreach (var p in new[] { 1.0, 10, 25, 50, 75, 90, 99, 100 })
            Assert.That(h.Percentile(p), Is.EqualTo(NearestRank(samples, p)), $"p{p}");
    }

    [Test]
    public void GivenWideRangingValues_APercentileIsNeverBelowTheExactOne_NorMoreThanABucketAbove()
    {
        var random = new Random(20261207);
        for (int run = 0; run < 50; run++)
        {
            var h = new LatencyHistogram();
            var samples = new ulong[1 + random.Next(2_000)];
            for (int i = 0; i < samples.Length; i++)
            {
                samples[i] = (ulong)random.NextInt64(1, long.MaxValue) >> random.Next(63); // all magnitudes
                h.Record(samples[i]);
            }
            foreach (var p in new[] { 0.1, 1, 50, 90, 99, 99.9, 100 })
            {
                ulong exact = NearestRank(samples, p), got = h.Percentile(p);
                Assert.That(got, Is.GreaterThanOrEqualTo(exact), $"run {run} p{p}");
                Assert.That((double)(got - exact), Is.LessThanOrEqualTo(exact / 128.0), $"run {run} p{p}: {got} vs {exact}");
            }
            Assert.That(h.Percentile(100), Is.EqualTo(samples.Max()), "p100 is the exact maximum");
            Assert.That(h.Count, Is.EqualTo(samples.Length));
        }
    }

    [Test]
    public void RecordingIntoSeenOctaves_AllocatesNothing()
    {
        var h = new LatencyHistogram();
        for (ulong v = 1; v < 1UL << 30; v <<= 1) h.Record(v + 3); // touch every octave up to 2^30 once
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000_000; i++) h.Record((ulong)(i * 997) % (1UL << 30));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(h.Count, Is.EqualTo(1_000_030));
    }

    [Test]
    public void APercentileOutsideZeroToHundred_IsRejected()
    {
        var h = new LatencyHistogram();
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Percentile(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Percentile(100.5));
    }
}
