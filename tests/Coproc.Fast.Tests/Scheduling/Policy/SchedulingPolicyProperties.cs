using System.Globalization;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// The scheduling policy (docs/scheduling-policy.md) over random mixes of priorities and buffer lengths (FsCheck, fixed
/// replay seeds): strict priority between levels, fair share by engine time among equals, and every submitted buffer
/// ends Completed or in a typed failure.
/// </summary>
public class SchedulingPolicyProperties
{
    private static readonly ulong[] Lengths = [8_000, 20_000, 60_000, 250_000, 900_000, 2_500_000];

    [FsProperty(MaxTest = 12, Replay = "(2026120711,31337)")]
    public void StrictPriority_ALowerLevelGetsNoEngineTime_WhileAHigherOneAlwaysHasWork(int seed)
    {
        var rng = new Random(seed);
        using var rig = new PolicyRig(quantum: 100_000);
        int n = rng.Next(2, 5);
        var workers = Enumerable.Range(0, n).Select(_ => rig.Add(rng.Next(0, 16), Lengths[rng.Next(Lengths.Length)])).ToArray();
        int top = workers.Max(w => w.Context.Priority);
        rig.RunTo(1_000_000);
        var before = workers.Select(w => rig.EngineCycles(w.Context)).ToArray();

        rig.RunTo(8_000_000);

        for (int i = 0; i < n; i++)
            if (workers[i].Context.Priority < top)
                Assert.That(rig.EngineCycles(workers[i].Context) - before[i], Is.Zero,
                    $"priority {workers[i].Context.Priority} ran while priority {top} had work (seed {seed})");
        Assert.That(workers.Where(w => w.Context.Priority == top).Sum(w => (long)(rig.EngineCycles(w.Context))), Is.GreaterThan(6_000_000L));
    }

    [FsProperty(MaxTest = 12, Replay = "(2026120712,4243)")]
    public void FairShare_EqualsGetAboutOneNthOfTheEngine_WhateverTheirBufferLengths(int seed)
    {
        var rng = new Random(seed);
        using var rig = new PolicyRig(quantum: 200_000);
        int n = rng.Next(2, 5);
        int priority = rng.Next(0, 16);
        var workers = Enumerable.Range(0, n).Select(_ => rig.Add(priority, Lengths[rng.Next(Lengths.Length)])).ToArray();

        rig.RunTo(40_000_000);

        var cycles = workers.Select(w => (double)rig.EngineCycles(w.Context)).ToArray();
        double total = cycles.Sum(), fair = 1.0 / n;
        for (int i = 0; i < n; i++)
            Assert.That(cycles[i] / total, Is.InRange(fair * 0.75, fair * 1.25),
                $"seed {seed}: lengths {string.Join(", ", workers.Select(w => w.FillBytes * (ulong)w.FillsPerBuffer / 64))}; shares {string.Join(", ", cycles.Select(c => (c / total).ToString("P1", CultureInfo.InvariantCulture)))}");
    }

    [FsProperty(MaxTest = 12, Replay = "(2026120713,777)")]
    public void EverySubmittedBuffer_EndsCompletedOrInATypedFailure(int seed)
    {
        var rng = new Random(seed);
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = 3_000_000, MaxInFlight = rng.Next(1, 4) });
        int n = rng.Next(2, 6);
        var contexts = Enumerable.Range(1, n).Select(p => h.Machine.CreateContext((uint)p, rng.Next(0, 16))).ToArray();
        var targets = contexts.Select(c => h.Allocate(c.ProcessId, 256 * 1024)).ToArray();
        var ids = new List<(VidSchContext Context, long Id)>();
        for (int k = 0; k < 6 * n; k++)
        {
            int i = rng.Next(n);
            var c = contexts[i];
            var x = targets[i];
            int kind = rng.Next(10);
            long id = kind switch
            {
                0 => h.Submit(c.ProcessId, c, cb => cb.Wait(x, 0)), // a hang: reset by the timeout
                _ => h.Submit(c.ProcessId, c, cb =>
                {
                    int fills = rng.Next(1, 12);
                    for (int f = 0; f < fills; f++) cb.Fill(x, 64, (uint)f, (ulong)rng.Next(1, 256) * 1024 - 64);
                }),
            };
            ids.Add((c, id));
            if (rng.Next(3) == 0) h.Machine.RunFor((ulong)rng.Next(1, 400_000));
        }

        Assert.That(h.Machine.RunUntilIdle(200_000_000), Is.True, $"seed {seed}: the scheduler never went idle");

        SubmissionStatus[] typed = [SubmissionStatus.Completed, SubmissionStatus.FailedTimeout, SubmissionStatus.FailedFault, SubmissionStatus.FailedDoesNotFit];
        foreach (var (c, id) in ids)
            Assert.That(c.StatusOf(id), Is.AnyOf(typed.Cast<object>().ToArray()), $"seed {seed}: context {c.Id} submission {id}");
    }
    /// <summary>
    /// Fair share by time among equals (deterministic mode), checked by the device itself: equal-priority contexts each get
    /// the same total work (2 M cycles) cut into buffers of very different lengths, all queued before the machine starts.
    /// Each buffer ends by writing how much of its context's work is done into the context's log slot, and each context's
    /// last buffer then copies every slot. Shared by time, the contexts finish close together, so when any of them
    /// finishes every other one has done at least half of its work; shared by turns (one short buffer against a long
    /// buffer's whole quantum) the short-buffer context would have done a fraction.
    /// </summary>
    [FsProperty(MaxTest = 6, Replay = "(2026120724,6063)")]
    public void FairShare_EqualsWithDifferentBufferLengthsFinishTogether_CheckedByTheDevice(int seed) =>
        EqualsFinishTogether(seed, MachineRunMode.Deterministic);

    /// <summary>The body of the fair-share-by-time property, in either run mode (threaded: ThreadedSchedulingPolicyProperties).</summary>
    internal static void EqualsFinishTogether(int seed, MachineRunMode mode)
    {
        var rng = new Random(seed);
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000, MaxInFlight = rng.Next(1, 4) },
            mode, localBytes: 32UL << 20);
        int n = rng.Next(2, 5);
        int priority = rng.Next(0, 16);
        var contexts = Enumerable.Range(0, n).Select(_ => h.Machine.CreateContext(1, priority)).ToArray();
        var log = h.Allocate(1, 4096);
        var chosen = FinishTogether.Choose(rng, n);
        var targets = contexts.Select(_ => h.Allocate(1, 1 << 20)).ToArray();
        for (int i = 0; i < n; i++)
        {
            ulong len = chosen[i];
            var (bytes, fills) = FinishTogether.Fills(len);
            int count = (int)(FinishTogether.Work / len);
            for (int k = 1; k <= count; k++)
            {
                int ci = i, seq = k;
                h.Submit(1, contexts[ci], cb =>
                {
                    for (int f = 0; f < fills; f++) cb.Fill(targets[ci], 0, (uint)f, bytes);
                    cb.WriteData(log, (ulong)ci * 4, [(uint)((ulong)seq * len / 1000)]); // kilocycles of work done
                    if (seq == count) cb.Copy(log, 0, log, 256 + (ulong)ci * 64, 64);  // everyone's progress at my finish
                });
            }
        }

        if (mode == MachineRunMode.Threaded)
        {
            h.Machine.Start();
            Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True, $"seed {seed}: bounded: the machine goes idle");
        }
        else Assert.That(h.Machine.RunUntilIdle(), Is.True, $"seed {seed}: the machine goes idle");

        FinishTogether.AssertFinishedTogether(h.Read(log), chosen, $"seed {seed}");
    }
}
