using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>
/// Threaded mode under memory pressure: paging buffers run in the device paging queue's context while submitting threads,
/// the scheduler, the worker and the free-running device race.
/// </summary>
[TestFixture]
public sealed class ThreadedPagingTests
{
    private const ulong Local = 4UL << 20;
    private const int Threads = 3, PerContext = 4, PerThread = 30;
    private const ulong Size = 512 * 1024; // 3 × 4 × 512 KiB = 6 MiB = 1.5 × local memory

    [Test]
    public void ThreadedMode_OversubscribedMemory_SeveralSubmitters_EveryBufferCompletes_EveryByteKept()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 20_000 }, mode: MachineRunMode.Threaded,
            localBytes: Local, realResidency: true);
        var ctx = Enumerable.Range(0, Threads).Select(i => h.Machine.CreateContext((uint)i + 1)).ToArray();
        var alloc = new AllocationHandle[Threads][];
        var model = new byte[Threads][][];
        for (int t = 0; t < Threads; t++)
        {
            alloc[t] = Enumerable.Range(0, PerContext).Select(_ => h.Machine.AllocateManaged((uint)t + 1, ctx[t], Size)).ToArray();
            model[t] = Enumerable.Range(0, PerContext).Select(_ => new byte[Size]).ToArray();
        }
        h.Machine.Start();

        var ids = new long[Threads][];
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var rng = new Random(100 + t);
            ids[t] = new long[PerThread];
            for (int i = 0; i < PerThread; i++)
            {
                int a = rng.Next(PerContext), d = rng.Next(PerContext);
                uint pattern = (uint)rng.Next();
                ulong at = (ulong)rng.Next(0, 64) * 4096, len = (ulong)rng.Next(1, 64) * 4096;
                ulong writeAt = (ulong)rng.Next(0, (int)(Size / 4)) * 4;
                uint word = (uint)rng.Next();
                ids[t][i] = h.Submit((uint)t + 1, ctx[t], cb =>
                {
                    cb.Fill(alloc[t][a], at, pattern, len, resourceId: 0);
                    cb.WriteData(alloc[t][d], writeAt, [word], resourceId: 1);
                });
                // The same operations on the CPU (a context's buffers run in submission order).
                for (ulong k = 0; k < len; k++) model[t][a][at + k] = (byte)(pattern >> (int)(((at + k) & 3) * 8));
                BitConverter.GetBytes(word).CopyTo(model[t][d], (int)writeAt);
            }
        })).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) Assert.That(w.Join(TimeSpan.FromSeconds(30)), Is.True, "submitters finished");
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "every buffer retired");

        for (int t = 0; t < Threads; t++)
        {
            Assert.That(ids[t].Select(ctx[t].StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
            for (int k = 0; k < PerContext; k++)
                Assert.That(SchedulingHarness.Checksum(h.Read(alloc[t][k])), Is.EqualTo(SchedulingHarness.Checksum(model[t][k])), $"context {t} allocation {k}");
        }
        Assert.That(h.Scheduler.PagingBuffersBuilt, Is.GreaterThan(Threads * PerContext), "allocations were evicted and paged in again");
        Assert.That(h.Machine.Paging.InFlight, Is.Zero, "every paging buffer's fence was seen reached");
        Assert.That(h.Machine.Paging.Completed, Is.EqualTo(h.Machine.Paging.LastSubmitted));
    }
}
