using System.Diagnostics;
using System.Globalization;
using System.Runtime;

// The runtime calls StartupHook.Initialize (no namespace, by that name) before the program's Main when the assembly is
// named in DOTNET_STARTUP_HOOKS. At exit it writes one line to standard error, so a program's own output is unchanged.
#pragma warning disable CA1050 // the runtime looks the type up by this exact name, outside any namespace

/// <summary>Prints the runtime's JIT, GC and CPU totals of the process when it exits (docs/performance.md goal 9).</summary>
internal static class StartupHook
{
    /// <summary>Called by the runtime before Main.</summary>
    public static void Initialize()
    {
        var started = Stopwatch.StartNew();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            using var self = Process.GetCurrentProcess();
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"runstats: {started.ElapsedMilliseconds} ms from Main to exit; CPU user {self.UserProcessorTime.TotalMilliseconds:F0} ms, " +
                $"system {self.PrivilegedProcessorTime.TotalMilliseconds:F0} ms; JIT {JitInfo.GetCompiledMethodCount()} methods, " +
                $"{JitInfo.GetCompiledILBytes() / 1024} KiB of IL, {JitInfo.GetCompilationTime().TotalMilliseconds:F0} ms (all threads); " +
                $"GC {GC.CollectionCount(0)} / {GC.CollectionCount(1)} / {GC.CollectionCount(2)} collections (gen 0 / 1 / 2), " +
                $"{GC.GetTotalPauseDuration().TotalMilliseconds:F0} ms paused, {GC.GetTotalAllocatedBytes() / (1 << 20)} MiB allocated"));
        };
    }
}
