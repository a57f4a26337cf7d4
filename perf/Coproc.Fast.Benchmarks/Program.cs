using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace Coproc.Fast.Benchmarks;

/// <summary>BenchmarkDotNet entry: <c>dotnet run -c Release --project perf/Coproc.Fast.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected on the command line.</summary>
    /// <remarks>
    /// BenchmarkDotNet builds a generated project per run; on a loaded 2-core machine that build can pass its default
    /// two-minute limit, so the limit is ten minutes here (docs/performance.md, "How to run").
    /// <para><c>--interleaved-translation [ROUNDS]</c> runs <see cref="InterleavedTranslationRatios"/> instead (goal 5's
    /// ratios, interleaved in one process, fastest samples: usable on a loaded machine).</para>
    /// </remarks>
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == InterleavedTranslationRatios.Switch)
        {
            InterleavedTranslationRatios.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 300);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(TimeSpan.FromMinutes(10)));
    }
}
