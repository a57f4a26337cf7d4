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
    /// </remarks>
    public static void Main(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(TimeSpan.FromMinutes(10)));
}
