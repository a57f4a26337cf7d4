using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Quanta, mid-buffer preemption and resume (seed 000 claim 11, seed 001 §5.5), behaviour 11.</summary>
[TestFixture]
public sealed class PreemptionTests
{
    // Context A: an order-dependent chain of FILL and COPY packets over X; context B: fills of Y.
    private static (uint X, uint Y, long Preemptions, int AStarts) Run(ulong quantum)
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = quantum }, localBytes: 4UL << 20, systemBytes: 4UL << 20);
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var x = h.Allocate(1, 256 * 1024);
        var y = h.Allocate(2, 64 * 1024);
        h.Submit(1, a, cb =>
        {
            for (int i = 0; i < 24; i++)
            {
                ulong block = (ulong)(i % 8) * 32768;
                cb.Fill(x, block, (uint)(0x01010101 * (i + 1)), 16384 + (ulong)i * 512);
                cb.Copy(x, block, x, ((ulong)(i + 3) % 8) * 32768 + 64, 8192 + (ulong)i * 256);
            }
        });
        for (int k = 0; k < 6; k++)
        {
            int kk = k;
            h.Submit(2, b, cb => { cb.Fill(y, (ulong)kk * 8192, (uint)kk * 0x11111111, 8192); cb.Copy(y, (ulong)kk * 8192, y, 56 * 1024, 4096); });
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(a.Completed + b.Completed, Is.EqualTo(7));
        return (SchedulingHarness.Checksum(h.Read(x)), SchedulingHarness.Checksum(h.Read(y)), h.Scheduler.PreemptionCount,
            h.Trace.Of(ScheduleEventKind.ContextSwitched).Count(e => e.ContextId == a.Id));
    }

    [Test]
    public void PreemptionAtManyPoints_GivesByteIdenticalMemoryToAnUninterruptedRun()
    {
        var reference = Run(quantum: 1UL << 40);
        Assert.That(reference.Preemptions, Is.Zero);
        long preempted = 0;
        foreach (ulong q in new ulong[] { 700, 1_100, 1_900, 2_600, 3_300, 4_700, 6_100, 9_000, 13_000, 21_000 })
        {
            var r = Run(q);
            Assert.That((r.X, r.Y), Is.EqualTo((reference.X, reference.Y)), $"quantum {q}");
            preempted += r.Preemptions;
        }
        Assert.That(preempted, Is.GreaterThan(20), "the runs really were preempted mid-buffer");
    }

    [Test]
    public void QuantumExpiry_PreemptsMidBuffer_OnlyForEqualOrHigherPriority()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 5_000 });
        var busy = h.Machine.CreateContext(1, priority: 5);
        var lower = h.Machine.CreateContext(2, priority: 1);
        var x = h.Allocate(1, 4 << 20);
        var y = h.Allocate(2);
        long big = h.Submit(1, busy, cb => { for (int i = 0; i < 8; i++) cb.Fill(x, 0, (uint)i, 4 << 20); });
        long small = h.Submit(2, lower, cb => cb.Fill(y, 0, 3, 4096));

        h.Machine.RunUntilIdle();

        Assert.That(busy.Preemptions, Is.Zero, "a lower-priority waiter does not preempt");
        var done = h.Trace.Of(ScheduleEventKind.BufferCompleted).Select(e => e.ContextId).ToArray();
        Assert.That(done, Is.EqualTo(new[] { busy.Id, lower.Id }));
        Assert.That(busy.StatusOf(big), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(lower.StatusOf(small), Is.EqualTo(SubmissionStatus.Completed));
    }

    [Test]
    public void Behaviour11_PagingBuffer_IsNotInterrupted_WhenTheQuantumExpires()
    {
        // The paging engine is the contexts' own (render), so a switch request for one of them meets the paging buffer.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 2_000 }, pagingEngine: Coproc.Fast.Device.Engines.EngineKind.Render);
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var x = h.Allocate(1, 4 << 20);
        var big = h.Allocate(2, 2 << 20);
        var dst = h.Allocate(2);
        var content = Enumerable.Range(0, 2 << 20).Select(i => (byte)(i * 13 + 1)).ToArray();
        h.Submit(1, a, cb => { for (int i = 0; i < 4; i++) cb.Fill(x, 0, (uint)i, 4 << 20); });
        h.Residency!.StagePageIn(big, content);
        long id = h.Submit(2, b, cb => cb.Copy(big, 0, dst, 0, 4096));

        var mmio = h.Machine.Device.Mmio;
        uint engine = Coproc.Fast.Device.Mmio.MmioMap.EngineBase;
        ulong paging = h.Machine.Paging.Context.SaveArea.Encoded;
        bool Deferred() => (mmio.Read32(engine + 0x20) & 64) != 0;
        Assert.That(h.Machine.RunUntil(() => mmio.Read64(engine + 0x08) == paging && (mmio.Read32(engine + 0x20) & 128) != 0), Is.True,
            "the paging queue's context runs B's paging buffer");
        // A's quantum has long expired: its switch request (what a quantum end writes) arrives inside the paging buffer.
        mmio.Write64(engine + 0x00, a.SaveArea.Encoded);
        Assert.That(h.Machine.RunUntil(Deferred), Is.True, "the switch request was deferred");
        Assert.That(mmio.Read64(engine + 0x08), Is.EqualTo(paging), "the paging context keeps the engine");
        Assert.That(h.Machine.RunUntil(() => mmio.Read64(engine + 0x08) != paging), Is.True);
        Assert.That(h.Read(big).AsSpan().SequenceEqual(content), Is.True, "the whole paging buffer ran before the switch");

        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(b.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(dst), Is.EqualTo(content.AsSpan(0, 4096).ToArray()));
    }
}

[TestFixture]
public sealed class CompensationAndLimitsTests
{
    [Test]
    public void PagingBuffer_RunsInTheKernelPagingContext_AndIsNotChargedToTheSubmittersSlice()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 4_000 });
        var a = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var x = h.Allocate(1, 4 << 20);
        var big = h.Allocate(2, 2 << 20);
        var y = h.Allocate(2, 4 << 20);
        h.Submit(1, a, cb => { for (int i = 0; i < 6; i++) cb.Fill(x, 0, (uint)i, 4 << 20); });
        h.Residency!.StagePageIn(big, new byte[2 << 20]);
        h.Submit(2, b, cb => { cb.Copy(big, 0, y, 0, 4096); for (int i = 0; i < 6; i++) cb.Fill(y, 0, (uint)i, 4 << 20); });

        long? balanceAtFirstPreemption = null;
        h.Machine.RunUntil(() =>
        {
            if (b.Preemptions > 0 && !b.Loaded && balanceAtFirstPreemption is null) balanceAtFirstPreemption = b.QuantumBalance;
            return balanceAtFirstPreemption is not null;
        });

        // The 2 MiB page-in (≈ 65,000 cycles, 16 quanta) ran in the paging queue's context, not in B's slice (seed 001 §3.6).
        Assert.That(balanceAtFirstPreemption, Is.GreaterThanOrEqualTo(0), "B did not pay for the paging buffer");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(a.Completed + b.Completed, Is.EqualTo(2));
    }

    [Test]
    public void BufferThatCannotFitEvenAlone_FailsWithDoesNotFit_OthersContinue()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var other = h.Machine.CreateContext(2);
        var a = h.Allocate(1, 8192);
        var c = h.Allocate(2);
        h.Residency!.FitLimit = 4096;
        long id = h.Submit(1, ctx, cb => cb.Copy(a, 0, a, 4096, 4096, sourceId: 0, destinationId: 0));
        long ok = h.Submit(2, other, cb => cb.Fill(c, 0, 5, 4096));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.FailedDoesNotFit));
        Assert.That(other.StatusOf(ok), Is.EqualTo(SubmissionStatus.Completed));
    }

    [Test]
    public void CommandBufferLargerThanADmaBuffer_IsRejectedAsTooLarge()
    {
        using var h = new SchedulingHarness(new VidSchOptions { DmaBufferDwords = 64 });
        var ctx = h.Machine.CreateContext(1);
        var cmds = new uint[65];
        new Coproc.Fast.Device.Packets.PacketWriter(cmds).Nop(65);
        var ex = Assert.Throws<Coproc.Fast.Driver.Kernel.CommandBufferRejectedException>(() => h.Kmd.Submit(1, ctx, cmds, []));
        Assert.That(ex!.Reason, Is.EqualTo(Coproc.Fast.Driver.Kernel.CommandBufferRejection.TooLarge));
        Assert.That(ctx.Submitted, Is.Zero);
    }
}

[TestFixture]
public sealed class RingCapacityTests
{
    [Test]
    public void FullKernelRing_HoldsBackLaunches_UntilChunksRetire_AndWrapsWithPadding()
    {
        using var h = new SchedulingHarness(new VidSchOptions { RingBytes = 4096, MaxInFlight = 512, PrepareBaseCycles = 1, PreparePerItemCycles = 0 });
        var ctx = h.Machine.CreateContext(1);
        var a = h.Allocate(1, 64 * 1024);
        var ids = Enumerable.Range(0, 300).Select(i => h.Submit(1, ctx, cb =>
        {
            cb.Fill(a, 32 * 1024, (uint)i, 32 * 1024);
            cb.WriteData(a, (ulong)i * 4, [(uint)i + 1]);
        })).ToArray();

        int most = 0;
        Assert.That(h.Machine.RunUntil(() => { most = Math.Max(most, ctx.InFlight.Count); return h.Scheduler.IsIdle; }), Is.True);

        // Each ring entry is 9 dwords (INDIRECT + FENCE): a 4 KiB ring holds at most 113 of them.
        Assert.That(most, Is.InRange(100, 113), "launches were held back by the full ring");
        Assert.That(ids.Select(ctx.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        for (int i = 0; i < 300; i++) Assert.That(h.Read32(a, (ulong)i * 4), Is.EqualTo((uint)i + 1));
        Assert.That(ctx.FenceIssued, Is.EqualTo(300UL));
    }
}
