using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Tests.Scheduling;

[TestFixture]
public sealed class SteadyStateAllocationTests
{
    [Test]
    public void Ring0SubmitToRetire_SteadyState_AllocatesNothingOnTheManagedHeap()
    {
        using var h = new SchedulingHarness(realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var target = h.Machine.AllocateManaged(1, ctx, 4096);
        var cmds = new uint[64];
        var w = new PacketWriter(cmds);
        w.WriteData(0, 1u);
        w.Fill(64, 0x01020304, 256);
        w.Nop(cmds.Length - w.Written);
        var refs = new[] { new ResourceReference(target, 0, 0, true), new ResourceReference(target, 16, 0, true) };
        h.Machine.Scheduler.Observer = null;
        for (int i = 0; i < 300; i++) { h.Kmd.Submit(1, ctx, cmds, refs); h.Machine.RunUntilIdle(); }

        long submit = 0, drain = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            long a = GC.GetAllocatedBytesForCurrentThread();
            h.Kmd.Submit(1, ctx, cmds, refs);
            long b = GC.GetAllocatedBytesForCurrentThread();
            h.Machine.RunUntilIdle();
            long c = GC.GetAllocatedBytesForCurrentThread();
            submit += b - a;
            drain += c - b;
        }
        long after = GC.GetAllocatedBytesForCurrentThread();


        Assert.That(ctx.Completed, Is.EqualTo(500));
        Assert.That((submit, drain), Is.EqualTo((0L, 0L)), "submission (gate, validation, DMA buffer, queueing) and the pipeline behind it");
        Assert.That(after - before, Is.Zero);
    }
}
