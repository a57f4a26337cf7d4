using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>
/// Paging buffers run in the machine's device paging queue, a kernel context of its own on the paging engine (seed 001
/// §3.6, §5.6; Paging/OnePagingChannelTests.cs): a context that hangs cannot hold the paging order — and so every other
/// context's next chunk — behind its own unfinished work.
/// </summary>
[TestFixture]
public sealed class PagingIsolationTests
{
    private const ulong Timeout = 50_000_000; // 50 ms at 1 GHz

    [Test]
    public void HungContext_ThatSubmitsABufferNeedingPaging_DoesNotStallAnotherContextsPagedWork()
    {
        // Given A hung on a WAIT that is never signalled, then A submits a buffer whose source must be paged in.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = Timeout });
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var counter = h.Allocate(1);
        var srcA = h.Allocate(1);
        var dstA = h.Allocate(1);
        var patternA = Pattern(0x11);
        long stuck = h.Submit(1, a, cb => cb.Wait(counter, 0));
        h.Machine.RunUntil(() => a.Loaded);
        h.Residency!.StagePageIn(srcA, patternA);
        long afterHang = h.Submit(1, a, cb => cb.Copy(srcA, 0, dstA, 0, 4096));
        h.Machine.RunUntil(() => h.Scheduler.PagingBuffersBuilt == 1);

        // When B (same engine) submits three buffers, each needing its own paging buffer.
        var srcB = new[] { h.Allocate(2), h.Allocate(2), h.Allocate(2) };
        var dstB = new[] { h.Allocate(2), h.Allocate(2), h.Allocate(2) };
        var ids = new long[3];
        for (int i = 0; i < 3; i++)
        {
            h.Residency.StagePageIn(srcB[i], Pattern((byte)(0x20 + i)));
            int k = i;
            ids[i] = h.Submit(2, b, cb => cb.Copy(srcB[k], 0, dstB[k], 0, 4096));
        }
        Assert.That(h.Machine.RunUntil(() => ids.All(id => b.StatusOf(id) == SubmissionStatus.Completed)), Is.True);

        // Then B's work completed long before A's reset, with every byte right.
        ulong bDone = h.Machine.Now;
        Assert.That(bDone, Is.LessThan(Timeout / 10), "B finished within a tenth of A's timeout");
        Assert.That(a.Resets, Is.Zero, "A has not been reset yet");
        Assert.That(h.Scheduler.PagingBuffersBuilt, Is.EqualTo(4));
        for (int i = 0; i < 3; i++) Assert.That(h.Read(dstB[i]), Is.EqualTo(Pattern((byte)(0x20 + i))));

        // And A's reset fails only A's work; its paging (VidMm recorded the moves) ran anyway.
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(a.StatusOf(stuck), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(a.StatusOf(afterHang), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(h.Read(srcA), Is.EqualTo(patternA), "A's paging buffer executed");
        Assert.That(h.Read(dstA), Is.All.Zero, "A's DMA buffer never ran");
        Assert.That(b.Resets, Is.Zero);
    }

    private static byte[] Pattern(byte seed) => Enumerable.Range(0, 4096).Select(i => (byte)(i * 3 + seed)).ToArray();
}
