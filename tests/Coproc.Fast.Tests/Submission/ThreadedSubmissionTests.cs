using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Submission;

/// <summary>
/// <see cref="Machine.OpenContext"/> and <see cref="Machine.TrySubmit"/> from host threads while a threaded machine runs:
/// several processes open their contexts and submit at once, and <see cref="Machine.WaitUntilIdle"/> returns only once every
/// recording ran (timeouts only guard against a hang).
/// </summary>
[TestFixture]
public class ThreadedSubmissionTests
{
    private const int Processes = 3, Rounds = 8;

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenAThreadedMachine_WhenProcessesOpenAndSubmitFromHostThreadsAtOnce_ThenEveryRecordingRunsAndNoThreadFails(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Mode = MachineRunMode.Threaded, Device = ModelWorkload.Device() });
        var targets = new AllocationHandle[Processes];
        var fences = new AllocationHandle[Processes];
        for (int p = 0; p < Processes; p++)
        {
            targets[p] = m.Kmd.Allocate((uint)p + 1, 64 << 10, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
            fences[p] = m.Kmd.Allocate((uint)p + 1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        }
        m.Start();

        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, Processes).Select(p => new Thread(() =>
        {
            try
            {
                uint pid = (uint)p + 1;
                var context = m.OpenContext(pid);
                for (int round = 1; round <= Rounds; round++)
                {
                    uint value = (pid << 8) | (uint)round;
                    int r0 = round;
                    // A full ring is refused as a whole: try again once the machine made room (bounded by the guard below).
                    var guard = System.Diagnostics.Stopwatch.StartNew();
                    while (!m.TrySubmit(context, r => { r.Fill(targets[p], 0, value, 64 << 10); r.Fence(fences[p], 0, (ulong)r0); }))
                    {
                        if (guard.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("the ring never made room");
                        Thread.Yield();
                    }
                }
            }
            catch (Exception e) { failures.Enqueue(e); }
        }) { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        foreach (var t in threads) Assert.That(t.Join(TimeSpan.FromSeconds(120)), Is.True, "a submitting thread hung");

        Assert.That(failures, Is.Empty, string.Join("\n", failures));
        Assert.That(m.WaitUntilIdle(TimeSpan.FromSeconds(120)), Is.True);
        Assert.That(m.ThreadFailure, Is.Null);
        for (int p = 0; p < Processes; p++)
        {
            Assert.That(BitConverter.ToUInt64(ModelWorkload.Read(m, fences[p], 8)), Is.EqualTo((ulong)Rounds), $"process {p + 1}'s last fence");
            uint last = ((uint)(p + 1) << 8) | Rounds;
            Assert.That(ModelWorkload.Read(m, targets[p], 64 << 10).Chunk(4).Count(c => BitConverter.ToUInt32(c) != last), Is.Zero, $"process {p + 1}'s last fill");
        }
    }

    // Two host threads submit to the same context at once. The run lists (VaContext's lock) take both (the kernel path is
    // left out: it refuses at its outstanding-submissions quota with an exception, see SubmissionIsolationTests); the
    // user-queue path opens a ring writer at the published WritePtr per call, so two calls
    // in flight write the same ring slots and publish over each other: submissions reported queued (true) never run.
    // Advanced: fewer, as its path leaks a DMA buffer page per call (SubmissionIsolationTests).
    [TestCase(SchedulingModel.Advanced, 1000)]
    [TestCase(SchedulingModel.Hardware, 3000)]
    public void GivenTwoHostThreadsSubmittingToOneContext_ThenEveryRecordingReportedQueuedRuns(SchedulingModel model, int PerThread)
    {
        using var m = new Machine(new MachineOptions { Model = model, Mode = MachineRunMode.Threaded, Device = ModelWorkload.Device() });
        var counter = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);
        m.Start();

        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        using var go = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            try
            {
                go.SignalAndWait();
                var guard = System.Diagnostics.Stopwatch.StartNew();
                for (int i = 0; i < PerThread; i++)
                    while (!m.TrySubmit(context, r => { r.Signal(counter, 0); r.Trap(1); r.Trap(2); }))
                    {
                        // A ring the two writers corrupted faults the queue, and it never makes room again.
                        if (guard.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException("the ring never made room");
                        Thread.Yield();
                    }
            }
            catch (Exception e) { failures.Enqueue(e); }
        }) { IsBackground = true }).ToList();
        threads.ForEach(t => t.Start());
        foreach (var t in threads) Assert.That(t.Join(TimeSpan.FromSeconds(120)), Is.True, "a submitting thread hung");

        Assert.That(failures, Is.Empty, string.Join("\n", failures));
        Assert.That(m.WaitUntilIdle(TimeSpan.FromSeconds(120)), Is.True);
        Assert.That(BitConverter.ToUInt32(ModelWorkload.Read(m, counter, 4)), Is.EqualTo(2u * PerThread), "SIGNALs that ran");
    }
}
