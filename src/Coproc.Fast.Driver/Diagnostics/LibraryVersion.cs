using System.Reflection;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// The library's version as stamped at build time from the one place it is set — the latest git tag (MinVer,
/// Directory.Build.props) — without the "+commit" build metadata: e.g. <c>0.1.0-alpha.0.92</c>.
/// </summary>
internal static class LibraryVersion
{
    /// <summary>The informational version without build metadata; "0.0.0" if the attribute is missing.</summary>
    public static string Informational { get; } = Strip(
        typeof(LibraryVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);

    private static string Strip(string? version) =>
        string.IsNullOrEmpty(version) ? "0.0.0" : version.Split('+', 2)[0];
}
