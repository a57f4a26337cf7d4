namespace Coproc.Fast.Tests.Cli;

/// <summary>Finds files of the repository from the test's output folder.</summary>
internal static class RepoFiles
{
    public static string Root
    {
        get
        {
            for (var d = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); d is not null; d = d.Parent)
                if (Directory.Exists(Path.Combine(d.FullName, "tools", "scenarios"))) return d.FullName;
            throw new DirectoryNotFoundException("repository root (with tools/scenarios) not found above the test directory");
        }
    }

    public static string Scenario(string name) => Path.Combine(Root, "tools", "scenarios", name);
}
