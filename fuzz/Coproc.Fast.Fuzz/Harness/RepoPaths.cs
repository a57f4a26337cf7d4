namespace Coproc.Fast.Fuzz.Harness;

/// <summary>Finds files of the repository (the directory holding Coproc.Fast.sln) from wherever the fuzzer runs.</summary>
internal static class RepoPaths
{
    public static string Root
    {
        get
        {
            foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
                for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                    if (File.Exists(Path.Combine(d.FullName, "Coproc.Fast.sln"))) return d.FullName;
            throw new InvalidOperationException("cannot find the repository root (Coproc.Fast.sln) above the working directory");
        }
    }

    public static string Of(params string[] parts) => Path.Combine([Root, .. parts]);
}
