using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Threaded mode (docs/concepts.md): device, scheduler and worker threads, several submitting threads.</summary>
[TestFixture]
public sealed class ThreadedStressTests
{
    [Test]
    public void ThreadedMode_SeveralSubmittingThreads_EveryBufferCompletesOnce_FencesInOrderPerContext()
    {
        const int Threads = 3, PerThread = 60;
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 20_000 }, mode: MachineRunMode.Threaded, realResidency: true);
        var ctx = Enumerable.Range(0, Threads).Select(i => h.Machine.CreateContext((uint)i + 1, priority: i % 2)).ToArray();
        var mem = Enumerable.Range(0, Threads).Select(i => h.Machine.AllocateManaged((uint)i + 1, ctx[i], 64 * 1024)).ToArray();
        h.Machine.Start();

        var ids = new long[Threads][];
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            ids[t] = new long[PerThread];
            for (int i = 0; i < PerThread; i++)
            {
                int k = i;
                ids[t][i] = h.Submit((uint)t + 1, ctx[t], cb =>
                {
                    cb.Fill(mem[t], 32 * 1024, (uint)k, 16 * 1024);
                    cb.WriteData(mem[t], (ulong)k * 4, [(uint)(k + 1000 * (t + 1))]);
                });
            }
        })).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) Assert.That(w.Join(TimeSpan.FromSeconds(30)), Is.True, "submitters finished");

        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "every buffer retired");

        var completed = h.Trace.Of(ScheduleEventKind.BufferCompleted).ToList();
        for (int t = 0; t < Threads; t++)
        {
            Assert.That(ids[t].Select(ctx[t].StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
            var mine = completed.Where(e => e.ContextId == ctx[t].Id).ToList();
            Assert.That(mine.Select(e => e.SubmissionId), Is.EqualTo(Enumerable.Range(1, PerThread).Select(i => (long)i)), "each exactly once, in order");
            Assert.That(mine.Select(e => e.Value), Is.Ordered.Ascending.And.Unique, "scheduler fence values reached in order");
        }
        h.Machine.Dispose(); // stop the threads before reading memory off the device thread
    }
}
