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
    public void Readme_QuotesTheEmbeddingExampleVerbatim()
    {
        var readme = File.ReadAllText(Path.Combine(RepoFiles.Root, "README.md"));
        var source = File.ReadAllText(Path.Combine(RepoFiles.Root, "tests", "Coproc.Fast.Tests", "Cli", "EmbeddingExample.cs"));
        Assert.That(readme.Replace("\r\n", "\n"), Does.Contain(source.Replace("\r\n", "\n").Trim()));
    }
}
