using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

[TestFixture]
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedSubmissionTests
{
    [Test]
    public void UserBufferAtInvariantVa_RunsAsIs_AfterItsResourcesArePagedIn()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var surface = p.AllocateSurface(64 << 10);

        var t = rig.Submit(ctx, (ref PacketWriter w) => w.Fill(surface.Va, 0xA1B2C3D4, 64 << 10), surface.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(t.IsComplete, Is.True);
        AdvancedRig.AssertBytes(rig.Read(surface), AdvancedRig.Pattern(0xA1B2C3D4, 64 << 10));
        Assert.That(ctx.PageFaults, Is.Zero, "the listed resource was prefetched, so nothing faulted");
        Assert.That(rig.Scheduler.Events.Any(e => e.Kind == RunListEventKind.Prefetched), Is.True);
    }
}
