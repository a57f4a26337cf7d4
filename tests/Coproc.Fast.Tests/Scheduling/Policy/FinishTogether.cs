using System.Buffers.Binary;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// The device-checked fair-share-by-time workload every model's property uses (basic: <see cref="SchedulingPolicyProperties"/>;
/// advanced: <c>Advanced/RunListFairShareTests</c>; hardware: <c>Ring3/UserQueueFairShareTests</c>): equals each get
/// <see cref="Work"/> cycles of work cut into pieces of very different lengths; after each piece a context writes its
/// progress (kilocycles) into its log slot (byte 4 × i), and its last piece copies the first 64 bytes of the log to
/// byte 256 + 64 × i. Shared by time, when any context finishes every other one has done at least half of its work,
/// less one piece (progress is written when a piece ends).
/// </summary>
internal static class FinishTogether
{
    /// <summary>Cycles of work per context.</summary>
    public const ulong Work = 2_000_000;

    /// <summary>The piece lengths drawn from (cycles).</summary>
    public static readonly ulong[] Lengths = [25_000, 50_000, 200_000, 1_000_000, 2_000_000];

    /// <summary>
    /// Piece lengths for <paramref name="n"/> equals: random, with at least one of the shortest (the case fairness by
    /// turns gets wrong) and one of the longest (a whole quantum or more per piece).
    /// </summary>
    public static ulong[] Choose(Random rng, int n)
    {
        var chosen = Enumerable.Range(0, n).Select(_ => Lengths[rng.Next(Lengths.Length)]).ToArray();
        chosen[rng.Next(n)] = Lengths[0];
        chosen[(Array.IndexOf(chosen, Lengths[0]) + 1) % n] = Lengths[^1];
        return chosen;
    }

    /// <summary>FILL size and count of one piece of <paramref name="length"/> cycles (64 bytes per cycle, at most 1 MiB per FILL).</summary>
    public static (ulong Bytes, int Fills) Fills(ulong length)
    {
        ulong bytes = Math.Min(length * 64, 1UL << 20);
        return (bytes, (int)(length * 64 / bytes));
    }

    /// <summary>Asserts from the log's copies that every context had done at least half its work when any other finished.</summary>
    public static void AssertFinishedTogether(ReadOnlySpan<byte> log, ulong[] chosen, string what)
    {
        int n = chosen.Length;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                long bound = (long)(Work / 2) - (long)chosen[j];
                if (bound <= 0) continue;
                uint done = BinaryPrimitives.ReadUInt32LittleEndian(log[(256 + i * 64 + j * 4)..]);
                Assert.That(done, Is.GreaterThanOrEqualTo((uint)(bound / 1000)),
                    $"{what}: when the context of {chosen[i]}-cycle pieces finished, the one of {chosen[j]}-cycle pieces had done {done} of {Work / 1000} kilocycles (lengths {string.Join(", ", chosen)})");
            }
    }
}
