namespace Coproc.Fast.Tests.Cli;

public class EmbeddingExampleTests
{
    [Test]
    public void EmbeddingExample_FenceLandsInGuestRam_AndRaisesTheHostInterruptPin()
    {
        var (fence, edges, cycles) = EmbeddingExample.Run();
        Assert.That(fence, Is.EqualTo(0x1234UL), "the interrupt's value and the bytes in guest RAM agree");
        Assert.That(edges, Is.GreaterThanOrEqualTo(1));
        Assert.That(cycles, Is.GreaterThan(0UL).And.LessThanOrEqualTo(100_000UL));
    }

    [Test]
    public void EmbeddingPage_QuotesTheEmbeddingExampleVerbatim()
    {
        // The README keeps a short sample (compiled by Docs/CodeSamplesTests); docs/embedding.md quotes this whole file.
        var page = Path.Combine(RepoFiles.Root, "docs", "embedding.md");
        if (!File.Exists(page)) Assert.Ignore("docs/embedding.md is not in this checkout");
        var source = File.ReadAllText(Path.Combine(RepoFiles.Root, "tests", "Coproc.Fast.Tests", "Cli", "EmbeddingExample.cs"));
        Assert.That(File.ReadAllText(page).Replace("\r\n", "\n"), Does.Contain(source.Replace("\r\n", "\n").Trim()));
    }
}
