using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

[TestFixture]
public sealed class ReadmeExampleTests
{
    [Test]
    public void ReadmeExample_FillsASurfaceThroughTheWholeStack()
    {
        using var m = new Machine();
        var ctx = m.CreateContext(processId: 1, priority: 0);
        var surface = m.AllocateManaged(1, ctx, 64 * 1024);
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(1, ctx));
        umd.Fill(surface, 0, 0xFF00FF00, 64 * 1024);
        umd.Flush();
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(ctx.StatusOf(1), Is.EqualTo(SubmissionStatus.Completed));
        var at = m.VidMm.PhysicalAddressOf(surface, 0x100);
        Assert.That(m.VidMm.Memory.Read32(at), Is.EqualTo(0xFF00FF00u));
        Assert.That(m.Gate.EntriesOf(1), Is.EqualTo(1));
    }
}
