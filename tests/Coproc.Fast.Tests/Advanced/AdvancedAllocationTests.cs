using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

[TestFixture]
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedAllocationTests
{
    private VaTicket _ticket;

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void SubmitToRetire_WithoutResources_AllocatesNothingInSteadyState(RunListMechanism runLists)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(runLists) with { EventLogCapacity = 8 });
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var log = p.AllocatePinned(4096);
        var buf = p.CreateDmaBuffer(64);
        var w = buf.Writer();
        w.WriteData(log.Va, 7);
        int dwords = w.Written;
        Func<bool> done = () => _ticket.IsComplete;
        for (int i = 0; i < 200; i++)
        {
            rig.Scheduler.TrySubmit(ctx, buf, dwords, [], out _ticket);
            rig.Machine.RunUntil(done);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            rig.Scheduler.TrySubmit(ctx, buf, dwords, [], out _ticket);
            rig.Machine.RunUntil(done);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(_ticket.IsComplete, Is.True);
        Assert.That(allocated, Is.Zero);
    }
}
