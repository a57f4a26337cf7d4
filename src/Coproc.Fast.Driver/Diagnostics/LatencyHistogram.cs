using System.Numerics;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// A bounded log-linear histogram of latencies in device cycles, so a long run's percentiles cost memory in
/// proportion to the range of values seen, not to the number of samples.
/// </summary>
/// <remarks>
/// Design: values below 256 are counted exactly. Above, each power of two [2^e, 2^(e+1)) is one octave split into
/// 128 equal buckets, so a bucket's width is at most 1/128 of its lower bound: a percentile is reported as the
/// highest value of its bucket, clamped to the largest value recorded, and is never below the exact nearest-rank
/// value nor more than 1/128 (0.8 %) above it. An octave's 128 counters are allocated when its first value
/// arrives (at most 57 octaves of 1 KiB for the whole 64-bit range; a run whose latencies span 1 µs … 100 ms
/// at 1 GHz uses 18); recording into a seen octave allocates nothing.
/// </remarks>
internal sealed class LatencyHistogram
{
    private const int ExactLimit = 256;          // values below are their own bucket
    private const int SubBits = 7;               // 2^7 = 128 buckets per octave above
    private const int FirstOctave = 8;           // 2^8 = ExactLimit
    private readonly long[] _exact = new long[ExactLimit];
    private readonly long[]?[] _octaves = new long[]?[64 - FirstOctave];

    /// <summary>Values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Largest value recorded (0 when none).</summary>
    public ulong Max { get; private set; }

    /// <summary>Counts one value.</summary>
    public void Record(ulong value)
    {
        Count++;
        if (value > Max) Max = value;
        if (value < ExactLimit)
        {
            _exact[value]++;
            return;
        }
        int e = BitOperations.Log2(value);
        var octave = _octaves[e - FirstOctave] ??= new long[1 << SubBits];
        octave[(int)(value >> (e - SubBits)) & ((1 << SubBits) - 1)]++;
    }

    /// <summary>
    /// The nearest-rank <paramref name="percentile"/> (0 &lt; p ≤ 100): exact below 256 cycles, otherwise the highest
    /// value of the bucket holding that rank (at most 1/128 above the exact value), never above <see cref="Max"/>;
    /// 0 when nothing was recorded.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The percentile is not in (0, 100].</exception>
    public ulong Percentile(double percentile)
    {
        if (percentile is <= 0 or > 100) throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "expected 0 < p ≤ 100");
        if (Count == 0) return 0;
        long rank = Math.Clamp((long)Math.Ceiling(percentile / 100 * Count), 1, Count);
        long seen = 0;
        for (int v = 0; v < ExactLimit; v++)
            if ((seen += _exact[v]) >= rank) return (ulong)v;
        for (int o = 0; o < _octaves.Length; o++)
        {
            if (_octaves[o] is not { } octave) continue;
            int e = o + FirstOctave;
            for (int b = 0; b < octave.Length; b++)
            {
                if ((seen += octave[b]) < rank) continue;
                ulong low = (1UL << e) + ((ulong)b << (e - SubBits));
                ulong high = low + (1UL << (e - SubBits)) - 1;
                return Math.Min(high, Max);
            }
        }
        return Max; // unreachable: the counts add up to Count
    }
}
