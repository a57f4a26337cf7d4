using System.Runtime.InteropServices;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The cheapest real kernel transition available: <c>getppid</c> from libc (no arguments, no side effects, never
/// cached by glibc). Used by <see cref="Ring0GatePolicy.Real"/> and as the benchmarks' bare-transition baseline.
/// </summary>
public static partial class Ring0GateSyscall
{
    /// <summary>True where libc's <c>getppid</c> exists (Linux, macOS, other Unix).</summary>
    public static bool IsSupported => !OperatingSystem.IsWindows();

    /// <summary>Makes one ring-3 → ring-0 → ring-3 round trip; returns the parent process id.</summary>
    public static int Transition() => GetParentProcessId();

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentProcessId();
}
