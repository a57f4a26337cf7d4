using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>The scheduler with VidMm's real <see cref="ResidencyManager"/>: paging under memory pressure (seed 001 §3.5–§3.6, §5.5).</summary>
[TestFixture]
public sealed class OversubscriptionTests
{
    private const ulong Local = 8UL << 20;
    private const int Contexts = 4, PerContext = 8;
    private const ulong Size = 512 * 1024; // 4 × 8 × 512 KiB = 16 MiB = 2 × local memory

    [Test]
    public void MemoryOversubscription_TwiceLocalMemory_TouchedInRandomOrder_KeepsEveryByte()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 20_000 }, localBytes: Local, realResidency: true);
        var rm = (ResidencyManager)h.Machine.Residency;
        var rng = new Random(1234);
        var ctx = Enumerable.Range(0, Contexts).Select(i => h.Machine.CreateContext((uint)i + 1)).ToArray();
        var alloc = new AllocationHandle[Contexts, PerContext];
        var model = new byte[Contexts, PerContext][];
        for (int c = 0; c < Contexts; c++)
            for (int k = 0; k < PerContext; k++)
            {
                alloc[c, k] = h.Machine.AllocateManaged((uint)c + 1, ctx[c], Size);
                model[c, k] = new byte[Size];
            }

        var ids = new List<(VidSchContext, long)>();
        for (int n = 0; n < 48; n++)
        {
            int c = rng.Next(Contexts);
            int a = rng.Next(PerContext), b = rng.Next(PerContext), d = rng.Next(PerContext);
            while (b == a) b = rng.Next(PerContext);
            uint pattern = (uint)rng.Next();
            ulong fillAt = (ulong)rng.Next(0, 64) * 4096, fillLen = (ulong)rng.Next(1, 64) * 4096;
            ulong copyFrom = (ulong)rng.Next(0, 64) * 4096, copyTo = (ulong)rng.Next(0, 64) * 4096, copyLen = (ulong)rng.Next(1, 64) * 4096;
            ulong writeAt = (ulong)rng.Next(0, (int)(Size / 4)) * 4;
            uint word = (uint)rng.Next();
            ids.Add((ctx[c], h.Submit((uint)c + 1, ctx[c], cb =>
            {
                cb.Fill(alloc[c, a], fillAt, pattern, fillLen, resourceId: 0);
                cb.Copy(alloc[c, a], copyFrom, alloc[c, b], copyTo, copyLen, sourceId: 2, destinationId: 0);
                cb.WriteData(alloc[c, d], writeAt, [word], resourceId: 1);
            })));
            // Model: the same operations on the CPU.
            var fa = model[c, a];
            for (ulong i = 0; i < fillLen; i++) fa[fillAt + i] = (byte)(pattern >> (int)(((fillAt + i) & 3) * 8));
            Array.Copy(model[c, a], (long)copyFrom, model[c, b], (long)copyTo, (long)copyLen);
            BitConverter.GetBytes(word).CopyTo(model[c, d], (int)writeAt);
            if (rng.Next(4) == 0) h.Machine.RunFor((ulong)rng.Next(1, 50_000));
        }

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ids.Select(x => x.Item1.StatusOf(x.Item2)), Is.All.EqualTo(SubmissionStatus.Completed));
        for (int c = 0; c < Contexts; c++)
            for (int k = 0; k < PerContext; k++)
                Assert.That(SchedulingHarness.Checksum(h.Read(alloc[c, k])), Is.EqualTo(SchedulingHarness.Checksum(model[c, k])), $"context {c} allocation {k}");
        var paging = h.Trace.Of(ScheduleEventKind.PagingBuffer).ToList();
        Assert.That(paging.Sum(e => (long)e.Value), Is.GreaterThan(Contexts * PerContext), "allocations were evicted and paged in again");
        Assert.That(rm.ResidentBytes, Is.LessThanOrEqualTo(Local));
    }

    [Test]
    public void Behaviour10_PostFences_AreAggregated_FewerPagingInterruptsThanOperations()
    {
        using var h = new SchedulingHarness(localBytes: Local, realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var a = Enumerable.Range(0, 5).Select(_ => h.Machine.AllocateManaged(1, ctx, 1 << 20)).ToArray();
        long id = h.Submit(1, ctx, cb => { foreach (var x in a) cb.Fill(x, 0, 0x77777777, 1 << 20, resourceId: 0); });

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        var pb = h.Trace.Of(ScheduleEventKind.PagingBuffer).Single();
        Assert.That(pb.Value, Is.EqualTo(5UL), "five page-ins, each with a post fence");
        Assert.That(pb.Extra, Is.EqualTo(1UL), "their post fences collapse into one ending fence (one interrupt)");
        foreach (var x in a) Assert.That(h.Read(x).All(v => v == 0x77), Is.True);
    }
}
