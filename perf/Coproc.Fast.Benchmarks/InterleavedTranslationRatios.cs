using System.Diagnostics;
using System.Globalization;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 5, measured so that a loaded shared machine still gives a usable ratio: the bare TLB, the
/// full <c>GpuMmu.Translate</c> hit and the <c>TlbPort</c> hit of <see cref="TranslationBenchmarks"/> run in one process,
/// interleaved (A B C A B C …) in short samples, and each is summarised by its fastest sample and its 10th percentile —
/// the samples no other process interrupted — instead of a mean that swallows every preemption. Run it a few times:
/// the JIT does not lay the loops out alike in every process, and the ratios move with the layout (docs/performance.md,
/// goal 5).
/// <c>dotnet run -c Release --project perf/Coproc.Fast.Benchmarks -- --interleaved-translation [ROUNDS]</c>.
/// </summary>
internal static class InterleavedTranslationRatios
{
    /// <summary>The command-line switch that selects this measurement instead of BenchmarkDotNet.</summary>
    public const string Switch = "--interleaved-translation";

    private const int Translations = 4096;     // per call of a benchmark method (its OperationsPerInvoke)
    private const int CallsPerSample = 200;    // ~0.4–1 ms per sample
    private const int WarmUpMilliseconds = 3000; // long enough for tiered compilation to reach its final code

    /// <summary>Runs <paramref name="rounds"/> interleaved rounds after a warm-up and prints one line per method.</summary>
    public static void Run(int rounds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        var b = new TranslationBenchmarks();
        b.Setup();
        try
        {
            (string Name, Func<ulong> Run)[] methods =
            [
                (nameof(TranslationBenchmarks.AnchorTlb64Hit), b.AnchorTlb64Hit),
                (nameof(TranslationBenchmarks.TlbHit), b.TlbHit),
                (nameof(TranslationBenchmarks.TlbPortHit), b.TlbPortHit),
            ];
            ulong sink = 0;
            var warm = Stopwatch.StartNew();
            while (warm.ElapsedMilliseconds < WarmUpMilliseconds)
                foreach (var m in methods) sink += m.Run();
            var samples = new double[methods.Length][];
            for (int i = 0; i < methods.Length; i++) samples[i] = new double[rounds];
            for (int r = 0; r < rounds; r++)
            {
                for (int i = 0; i < methods.Length; i++)
                {
                    long start = Stopwatch.GetTimestamp();
                    for (int k = 0; k < CallsPerSample; k++) sink += methods[i].Run();
                    samples[i][r] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / (CallsPerSample * (double)Translations);
                }
            }
            foreach (var s in samples) Array.Sort(s);
            double anchorMin = samples[0][0], anchorP10 = samples[0][rounds / 10];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rounds} interleaved rounds of {CallsPerSample} x {Translations} translations; load average {LoadAverage()}"));
            for (int i = 0; i < methods.Length; i++)
            {
                double min = samples[i][0], p10 = samples[i][rounds / 10], median = samples[i][rounds / 2];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{methods[i].Name,-15} min {min:F3} ns  p10 {p10:F3} ns  median {median:F3} ns  rate vs {methods[0].Name}: {anchorMin / min:F2}x (min), {anchorP10 / p10:F2}x (p10)"));
            }
            GC.KeepAlive(sink);
        }
        finally
        {
            b.Cleanup();
        }
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "n/a"; }
        catch (UnauthorizedAccessException) { return "n/a"; }
    }
}
