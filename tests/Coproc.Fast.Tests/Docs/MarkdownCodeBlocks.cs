namespace Coproc.Fast.Tests.Docs;

/// <summary>One fenced code block of a Markdown file.</summary>
/// <param name="File">Path relative to the repository root.</param>
/// <param name="Line">1-based line of the opening fence.</param>
/// <param name="Language">First word of the info string (<c>csharp</c>, <c>text</c>, …); empty when none.</param>
/// <param name="Flags">The rest of the info string's words (e.g. <c>fragment</c>).</param>
/// <param name="Marker">The HTML comment on the line right before the fence (<c>&lt;!-- … --&gt;</c> content), or null.</param>
/// <param name="Code">The block's lines, joined with '\n'.</param>
public sealed record MarkdownCodeBlock(string File, int Line, string Language, IReadOnlyList<string> Flags, string? Marker, string Code)
{
    /// <summary>A short name for test output: <c>README.md:42</c>.</summary>
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>
/// The Markdown files whose samples are checked — README.md and docs/*.md — and their fenced code blocks
/// (backtick or tilde fences of three or more, closed by a fence of the same kind at least as long; CommonMark).
/// </summary>
public static class MarkdownCodeBlocks
{
    /// <summary>The repository root, found from the test assembly's folder (it holds tools/scenarios and docs).</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "README.md")) && Directory.Exists(Path.Combine(d.FullName, "docs")))
                    return d.FullName;
            throw new DirectoryNotFoundException("repository root (README.md and docs/) not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>README.md and every docs/*.md, relative to the root, in a stable order.</summary>
    public static IEnumerable<string> DocumentFiles()
    {
        string root = RepositoryRoot;
        yield return "README.md";
        foreach (var f in Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal))
            yield return Path.GetRelativePath(root, f).Replace('\\', '/');
    }

    /// <summary>Every fenced block of every document file.</summary>
    public static IEnumerable<MarkdownCodeBlock> All() =>
        DocumentFiles().SelectMany(f => Parse(f, File.ReadAllText(Path.Combine(RepositoryRoot, f))));

    /// <summary>The fenced blocks of one Markdown text.</summary>
    public static IEnumerable<MarkdownCodeBlock> Parse(string file, string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var (fence, info) = Fence(lines[i]);
            if (fence is null) continue;
            int open = i;
            var body = new List<string>();
            for (i++; i < lines.Length; i++)
            {
                var (close, rest) = Fence(lines[i]);
                if (close is not null && close[0] == fence[0] && close.Length >= fence.Length && rest.Length == 0) break;
                body.Add(lines[i]);
            }
            var words = info.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            yield return new MarkdownCodeBlock(file, open + 1, words.Length > 0 ? words[0] : "", words.Skip(1).ToArray(),
                MarkerBefore(lines, open), string.Join('\n', body));
        }
    }

    private static (string? Fence, string Info) Fence(string line)
    {
        var t = line.TrimStart(' ');
        if (line.Length - t.Length > 3 || t.Length < 3 || (t[0] != '`' && t[0] != '~')) return (null, "");
        int n = 0;
        while (n < t.Length && t[n] == t[0]) n++;
        return n < 3 ? (null, "") : (t[..n], t[n..].Trim());
    }

    private static string? MarkerBefore(string[] lines, int fenceLine)
    {
        if (fenceLine == 0) return null;
        var prev = lines[fenceLine - 1].Trim();
        return prev.StartsWith("<!--", StringComparison.Ordinal) && prev.EndsWith("-->", StringComparison.Ordinal)
            ? prev[4..^3].Trim() : null;
    }
}
