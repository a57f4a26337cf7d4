namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>Nearest-rank percentiles of latency samples (deterministic, no interpolation).</summary>
public static class LatencyPercentiles
{
    /// <summary>The nearest-rank <paramref name="percentile"/> (0 &lt; p ≤ 100) of <paramref name="samples"/>; 0 for none. Sorts the span in place.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The percentile is not in (0, 100].</exception>
    public static ulong Of(Span<ulong> samples, double percentile)
    {
        if (percentile is <= 0 or > 100) throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "expected 0 < p ≤ 100");
        if (samples.IsEmpty) return 0;
        samples.Sort();
        int rank = (int)Math.Ceiling(percentile / 100 * samples.Length);
        return samples[Math.Clamp(rank, 1, samples.Length) - 1];
    }
}
