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
    public void EmbeddingPage_PointsAtThePowerOnExample_ThatUsesOnlyWhatAGuestHas()
    {
        // docs/embedding.md sends host authors to the guest driver that reaches local memory only through its BARs
        // (Embedding/PowerOnExample.cs, run by PowerOnTests), not to this file, which writes local memory from the host.
        var page = File.ReadAllText(Path.Combine(RepoFiles.Root, "docs", "embedding.md"));
        const string example = "tests/Coproc.Fast.Tests/Embedding/PowerOnExample.cs";
        Assert.That(page, Does.Contain(example));
        Assert.That(File.Exists(Path.Combine(RepoFiles.Root, example)), Is.True);
        Assert.That(File.ReadAllText(Path.Combine(RepoFiles.Root, example)), Does.Not.Contain("Memory.Local.Ref"));
    }
}
