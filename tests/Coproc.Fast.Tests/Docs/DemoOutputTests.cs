using System.Text.RegularExpressions;
using Coproc.Cli;
using Coproc.Cli.Commands;

namespace Coproc.Fast.Tests.Docs;

/// <summary>
/// What README.md quotes from the deterministic demo is what the demo prints. Each quoted block follows a
/// <c>&lt;!-- coproc-demo-output: ARGS --&gt;</c> line; the test runs <c>coproc ARGS</c> in-process (same runner, same
/// built-in scenario, its files written to a temporary folder) and requires every quoted line — every number in
/// it — to be a line of the output, table borders and column spacing aside.
/// </summary>
public partial class DemoOutputTests
{
    private const string MarkerPrefix = "coproc-demo-output:";

    private static IEnumerable<TestCaseData> QuotedOutputs() =>
        MarkdownCodeBlocks.Parse("README.md", File.ReadAllText(Path.Combine(MarkdownCodeBlocks.RepositoryRoot, "README.md")))
            .Where(b => b.Marker is not null && b.Marker.StartsWith(MarkerPrefix, StringComparison.Ordinal))
            .Select(b => new TestCaseData(b).SetArgDisplayNames($"{b} ({b.Marker![MarkerPrefix.Length..].Trim()})"));

    [Test]
    public void TheReadme_QuotesTheDemoWithAndWithoutPreemption()
    {
        var args = QuotedOutputs().Select(t => ((MarkdownCodeBlock)t.Arguments[0]!).Marker![MarkerPrefix.Length..].Trim()).ToList();
        Assert.That(args, Is.SupersetOf(new[] { "demo", "demo --no-preemption" }));
    }

    [TestCaseSource(nameof(QuotedOutputs))]
    public void EveryLineTheReadmeQuotes_IsPrintedByTheDemo(MarkdownCodeBlock block)
    {
        var args = block.Marker![MarkerPrefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(args[0], Is.AnyOf("demo", "compare"), "only the deterministic demo (and its comparison across models) is quoted");
        var outDir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "readme-demo-" + string.Join('_', args).Replace("-", ""));
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run([.. args, "--out", outDir], CliConsole.To(o, e));
        Assert.That(code, Is.Zero, e.ToString());

        var printed = o.ToString().Split('\n').Select(Normalize).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal);
        var missing = block.Code.Split('\n').Select(Normalize).Where(l => l.Length > 0 && !printed.Contains(l)).ToList();
        Assert.That(missing, Is.Empty,
            $"{block}: README lines the demo did not print (update the block from `coproc {string.Join(' ', args)}`):\n" +
            string.Join("\n", missing) + "\n--- printed:\n" + o);
    }

    [Test]
    public void Normalize_IgnoresBordersAndSpacing_ButNotNumbers()
    {
        Assert.That(Normalize("│ game │   frames │  70.6% │"), Is.EqualTo(Normalize("| game | frames | 70.6% |")));
        Assert.That(Normalize("╭───┬───╮"), Is.Empty);
        Assert.That(Normalize("compose: 59 frames presented"), Is.Not.EqualTo(Normalize("compose: 58 frames presented")));
    }

    /// <summary>The line's words, single-spaced, without table borders or colour codes.</summary>
    public static string Normalize(string line) =>
        string.Join(' ', Borders().Replace(Ansi().Replace(line, ""), " ").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex Ansi();

    [GeneratedRegex(@"[│║╭╮╰╯─┬┴┼├┤|+]")]
    private static partial Regex Borders();
}
