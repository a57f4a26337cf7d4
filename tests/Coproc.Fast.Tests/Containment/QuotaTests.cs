using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Containment;

/// <summary>Per-process quotas and DMA buffers sized to their content (docs/containment.md "Quotas").</summary>
public class QuotaTests
{
    [Test]
    public void ProcessAtItsOutstandingSubmissionQuota_IsRefusedWithQuotaExceeded_WhileOtherProcessesStillSubmit()
    {
        using var h = new SchedulingHarness(new VidSchOptions { TimeoutCycles = 1_000_000 }, quotas: new KmdQuotas { MaxOutstandingSubmissions = 8 });
        var greedy = h.Machine.CreateContext(1);
        var polite = h.Machine.CreateContext(2);
        var counter = h.Allocate(1);
        var data = h.Allocate(2);
        for (int i = 0; i < 8; i++) h.Submit(1, greedy, cb => cb.Wait(counter, 0));

        var e = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, greedy, cb => cb.Wait(counter, 0)));
        Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.QuotaExceeded));
        Assert.That(h.Kmd.Process(1).QuotaRejections, Is.EqualTo(1));

        long ok = h.Submit(2, polite, cb => cb.Fill(data, 0, 3, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(polite.StatusOf(ok), Is.EqualTo(SubmissionStatus.Completed));
        // Once its work has finished (here: failed by the reset), the process may submit again.
        Assert.That(h.Kmd.Process(1).Outstanding, Is.Zero);
        Assert.DoesNotThrow(() => h.Submit(1, greedy, cb => cb.Nop()));
    }

    [Test]
    public void SmallCommandBuffers_UseOnePageDmaBuffers_AndTheKernelMemoryQuotaBoundsThem()
    {
        using var h = new SchedulingHarness(new VidSchOptions { TimeoutCycles = 1_000_000 }, quotas: new KmdQuotas { MaxKernelMemoryBytes = 16 * 4096 });
        var ctx = h.Machine.CreateContext(1);
        var counter = h.Allocate(1);
        h.Submit(1, ctx, cb => cb.Wait(counter, 0));
        Assert.That(h.Kmd.Process(1).KernelBytes, Is.EqualTo(4096UL), "sized to its content, not 64 KiB");
        for (int i = 1; i < 16; i++) h.Submit(1, ctx, cb => cb.Wait(counter, 0));

        var e = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, ctx, cb => cb.Wait(counter, 0)));

        Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.QuotaExceeded));
        Assert.That(h.Kmd.Process(1).KernelBytes, Is.EqualTo(16 * 4096UL));
    }

    [Test]
    public void SystemMemoryExhausted_SubmitGivesOutOfKernelMemory_NeverAVidMmException()
    {
        // Given system memory taken up to its last pages by another process's allocations.
        using var h = new SchedulingHarness(systemBytes: 8UL << 20);
        var ctx = h.Machine.CreateContext(1);
        var own = h.Allocate(1);
        while (true)
        {
            try { h.Allocate(2, 64 * 1024, PlacementHint.SystemOnly); }
            catch (VidMmException) { break; }
        }
        while (true)
        {
            try { h.Allocate(2, 4096, PlacementHint.SystemOnly); }
            catch (VidMmException) { break; }
        }

        var e = Assert.Throws<CommandBufferRejectedException>(() => h.Submit(1, ctx, cb => cb.Fill(own, 0, 1, 16)));

        Assert.That(e!.Reason, Is.EqualTo(CommandBufferRejection.OutOfKernelMemory));
        Assert.That(h.Kmd.Process(1).Outstanding, Is.Zero);
    }
}
