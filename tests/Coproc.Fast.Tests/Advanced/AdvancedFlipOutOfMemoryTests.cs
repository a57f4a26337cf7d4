using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Enforcement option 3 builds each flip's privileged commands in a kernel buffer (local, contiguous). With no local
/// memory left, a run-list context's flip through the present path must be refused like any flip that cannot be queued
/// (false, or a documented FlipRejectedException), not throw an undocumented VidMmException at its caller.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedFlipOutOfMemoryTests
{
    [Test]
    public void GivenOptionThreeAndNoLocalMemoryLeft_WhenARunListContextFlips_ThenTheFlipIsRefusedWithoutAVidMmException()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(privilege: PrivilegeEnforcement.IndirectBit) with
        {
            Device = AdvancedRig.Small().Device with { VsyncPeriodCycles = 400_000 },
        });
        var display = rig.Machine.Display;
        var mode = display.SetMode(64, 64);
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var surface = display.CreatePrimarySurface(p.Id);
        rig.Scheduler.MapPinnedAllocation(p, surface, mode.SurfaceBytes);
        display.CreateFlipChain(ctx, 3);
        int filled = 0;
        for (; filled < 100_000; filled++)
        {
            try { p.AllocatePinned(4096); }
            catch (VidMmException) { break; }
        }
        Assert.That(filled, Is.LessThan(100_000), "local memory is exhausted");

        bool queued = false;
        Assert.That(() => { try { queued = display.TryFlip(ctx, surface, FlipKind.Vsync, out _); } catch (FlipRejectedException) { } },
            Throws.Nothing, "TryFlip documents only FlipRejectedException; the scenario runner's PresentationTracker catches only that");
        Assert.That(queued, Is.False);
    }
}
