namespace Coproc.Fast.Tests.Docs;

/// <summary>No tracked source or document keeps an unresolved merge-conflict marker (one slipped into docs/embedding.md once).</summary>
public class MergeMarkerTests
{
    private static readonly string[] Extensions = [".md", ".cs", ".json", ".txt", ".csproj", ".props", ".yml", ".sh"];
    private static readonly string[] Skipped = ["bin", "obj", ".git", "coproc-out", "node_modules"];

    [Test]
    public void NoFileInTheRepository_HasAConflictMarkerLine()
    {
        string root = MarkdownCodeBlocks.RepositoryRoot;
        var offenders = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(root, file);
            if (rel.Split(Path.DirectorySeparatorChar).Any(part => Skipped.Contains(part))) continue;
            if (!Extensions.Contains(Path.GetExtension(file))) continue;
            int n = 0;
            foreach (var line in File.ReadLines(file))
            {
                n++;
                if (line.StartsWith("<<<<<<< ", StringComparison.Ordinal) || line.StartsWith(">>>>>>> ", StringComparison.Ordinal) || line == "=======")
                    offenders.Add($"{rel}:{n}");
            }
        }
        Assert.That(offenders, Is.Empty);
    }
}
