using System.Buffers.Binary;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// The scheduling policy's outcome properties in threaded mode (device, scheduler and preparation threads; the test
/// thread submits while the machine runs), over random mixes of priorities, buffer lengths, in-flight bounds and hung
/// contexts (FsCheck, fixed replay seed). Wall time is bounded: every run must go idle within a guard, and the property
/// as a whole is cancelled after a generous limit (a failure guard only, never a measurement). Outcome properties only —
/// they hold whatever the threads' interleaving: every buffer ends Completed or in a typed failure, no healthy context
/// is reset (waiting for a turn is never a hang, docs/scheduling-policy.md, docs/containment.md), and every healthy
/// context's bytes equal a CPU model of its fills.
/// </summary>
public class ThreadedSchedulingPolicyProperties
{
    [FsProperty(MaxTest = 6, Replay = "(2026120721,9091)")]
    [CancelAfter(240_000)]
    public void ThreadedMode_EveryBufferEndsTyped_NoHealthyContextIsReset_AndBytesEqualACpuModel(int seed)
    {
        var rng = new Random(seed);
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = 3_000_000, MaxInFlight = rng.Next(1, 4) },
            MachineRunMode.Threaded, localBytes: 32UL << 20);
        int n = rng.Next(2, 6);
        const int TargetBytes = 256 * 1024;
        var contexts = Enumerable.Range(1, n).Select(p => h.Machine.CreateContext((uint)p, rng.Next(0, 16))).ToArray();
        var targets = contexts.Select(c => h.Allocate(c.ProcessId, TargetBytes)).ToArray();
        var counters = contexts.Select(c => h.Allocate(c.ProcessId, 4096)).ToArray();
        var hangs = contexts.Select(_ => rng.Next(4) == 0).ToArray(); // about one context in four submits a WAIT nobody signals
        var models = contexts.Select(_ => new byte[TargetBytes]).ToArray();
        var ids = new List<(int Index, long Id)>();

        h.Machine.Start();
        for (int k = 0; k < 6 * n; k++)
        {
            int i = rng.Next(n);
            var c = contexts[i];
            if (hangs[i] && rng.Next(3) == 0)
            {
                ids.Add((i, h.Submit(c.ProcessId, c, cb => cb.Wait(counters[i], 0))));
                continue;
            }
            int fills = rng.Next(1, 10);
            var plan = Enumerable.Range(0, fills).Select(_ => (Offset: (ulong)rng.Next(0, 64) * 64, Pattern: (uint)rng.Next(),
                Bytes: (ulong)rng.Next(1, 128) * 1024)).ToArray();
            ids.Add((i, h.Submit(c.ProcessId, c, cb =>
            {
                foreach (var f in plan) cb.Fill(targets[i], f.Offset, f.Pattern, f.Bytes);
            })));
            foreach (var f in plan)
                for (ulong o = f.Offset; o < f.Offset + f.Bytes; o += 4) BinaryPrimitives.WriteUInt32LittleEndian(models[i].AsSpan((int)o), f.Pattern);
            if (rng.Next(4) == 0) Thread.Yield(); // let the machine run between some submissions
        }

        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True, $"seed {seed}: bounded: the machine goes idle");

        SubmissionStatus[] typed = [SubmissionStatus.Completed, SubmissionStatus.FailedTimeout, SubmissionStatus.FailedFault, SubmissionStatus.FailedDoesNotFit];
        foreach (var (i, id) in ids)
            Assert.That(contexts[i].StatusOf(id), Is.AnyOf(typed.Cast<object>().ToArray()), $"seed {seed}: context {i} submission {id}");
        for (int i = 0; i < n; i++)
        {
            if (hangs[i]) continue;
            Assert.That(contexts[i].Resets, Is.Zero, $"seed {seed}: healthy context {i} (priority {contexts[i].Priority}) was reset");
            Assert.That(ids.Where(x => x.Index == i).Select(x => contexts[i].StatusOf(x.Id)), Is.All.EqualTo(SubmissionStatus.Completed),
                $"seed {seed}: healthy context {i}");
            Assert.That(h.Read(targets[i]), Is.EqualTo(models[i]), $"seed {seed}: context {i}'s bytes differ from the CPU model");
        }
    }

    /// <summary>
    /// Strict priority in threaded mode, checked by the device itself: contexts of distinct priorities (one process, so
    /// they share a log allocation) each end every buffer by writing its sequence number into its log slot, and each
    /// context's first buffer starts by copying every slot. With all work queued before the machine starts, a context
    /// must first run only after every higher-priority context finished all its buffers, whatever the thread timing.
    /// </summary>
    [FsProperty(MaxTest = 6, Replay = "(2026120722,5151)")]
    [CancelAfter(240_000)]
    public void ThreadedMode_StrictPriority_ALowerLevelFirstRunsOnlyAfterEveryHigherLevelFinished(int seed)
    {
        var rng = new Random(seed);
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, MaxInFlight = rng.Next(1, 4) },
            MachineRunMode.Threaded, localBytes: 32UL << 20);
        int n = rng.Next(2, 5);
        var priorities = Enumerable.Range(0, 16).OrderBy(_ => rng.Next()).Take(n).ToArray();
        var contexts = priorities.Select(p => h.Machine.CreateContext(1, p)).ToArray();
        var log = h.Allocate(1, 4096);
        var scratch = h.Allocate(1, 1 << 20);
        var buffers = contexts.Select(_ => rng.Next(2, 7)).ToArray();
        for (int i = 0; i < n; i++)
            for (int j = 1; j <= buffers[i]; j++)
            {
                int ci = i, seq = j, fills = rng.Next(1, 8);
                ulong bytes = (ulong)rng.Next(1, 256) * 1024;
                h.Submit(1, contexts[ci], cb =>
                {
                    if (seq == 1) cb.Copy(log, 0, log, 256 + (ulong)ci * 64, 64); // what every other level had finished
                    for (int f = 0; f < fills; f++) cb.Fill(scratch, 0, (uint)f, bytes);
                    cb.WriteData(log, (ulong)ci * 4, [(uint)seq]);
                });
            }

        h.Machine.Start();
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True, $"seed {seed}: bounded: the machine goes idle");

        var bytesLog = h.Read(log);
        for (int lo = 0; lo < n; lo++)
            for (int hi = 0; hi < n; hi++)
            {
                if (priorities[hi] <= priorities[lo]) continue;
                uint seen = BinaryPrimitives.ReadUInt32LittleEndian(bytesLog.AsSpan(256 + lo * 64 + hi * 4));
                Assert.That(seen, Is.EqualTo((uint)buffers[hi]),
                    $"seed {seed}: priority {priorities[lo]} first ran when priority {priorities[hi]} had finished {seen} of {buffers[hi]} buffers");
            }
    }

    /// <summary>
    /// Fair share by engine time among equals in threaded mode (the deterministic property's body,
    /// SchedulingPolicyProperties.EqualsFinishTogether): all work queued before the machine starts, so every context is
    /// backlogged; the host threads' latency between a short buffer's end and its context's next launch must not be
    /// charged to that context's quantum.
    /// </summary>
    [FsProperty(MaxTest = 6, Replay = "(2026120724,6063)")]
    [CancelAfter(240_000)]
    public void ThreadedMode_FairShare_EqualsWithDifferentBufferLengthsFinishTogether_CheckedByTheDevice(int seed) =>
        SchedulingPolicyProperties.EqualsFinishTogether(seed, MachineRunMode.Threaded);
}
