using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Fair share by time among equals in the advanced model's run-list back end (seed 001 §5.5; docs/scheduling-policy.md
/// rule 2, "Run-list back end"), checked by the device as in the basic model's property
/// (<c>SchedulingPolicyProperties.FairShare_EqualsWithDifferentBufferLengthsFinishTogether_CheckedByTheDevice</c>):
/// equal-priority contexts each get the same total work cut into buffers of very different lengths, all queued at once.
/// Each buffer ends by writing how much of its context's work is done into the context's log slot, and each context's
/// last buffer copies every slot. Shared by time, when any context finishes every other one has done at least half of
/// its work (less one buffer: progress is written when a buffer ends).
/// </summary>
public class RunListFairShareTests
{
    [Test]
    public void EqualsWithDifferentBufferLengths_FinishTogether_CheckedByTheDevice(
        [Values(RunListMechanism.TwoElement, RunListMechanism.History)] RunListMechanism mechanism, [Range(1, 6)] int seed)
    {
        const ulong Work = 2_000_000;
        ulong[] lengths = [25_000, 50_000, 200_000, 1_000_000, 2_000_000];
        var rng = new Random(seed);
        using var rig = new AdvancedRig(new RigOptions { RunLists = mechanism, RunListLength = rng.Next(2, 5), QuantumCycles = 200_000 });
        int n = rng.Next(2, 5);
        int priority = rng.Next(0, 16);
        var p = rig.Scheduler.CreateProcess();
        var log = p.AllocatePinned(4096);
        var contexts = Enumerable.Range(0, n).Select(_ => rig.Scheduler.CreateContext(p, priority)).ToArray();
        var targets = contexts.Select(_ => p.AllocatePinned(1 << 20)).ToArray();
        var chosen = contexts.Select(_ => lengths[rng.Next(lengths.Length)]).ToArray();
        chosen[rng.Next(n)] = lengths[0]; // at least one short-buffer context: the case fairness by turns gets wrong
        chosen[(Array.IndexOf(chosen, lengths[0]) + 1) % n] = lengths[^1]; // and one that runs a whole quantum per buffer
        var last = new List<VaTicket>();
        for (int i = 0; i < n; i++)
        {
            ulong len = chosen[i], bytes = Math.Min(len * 64, 1UL << 20);
            int fills = (int)(len * 64 / bytes), count = (int)(Work / len);
            for (int k = 1; k <= count; k++)
            {
                int ci = i, seq = k;
                last.Add(rig.Submit(contexts[ci], (ref PacketWriter w) =>
                {
                    for (int f = 0; f < fills; f++) w.Fill(targets[ci].Va, (uint)f, (uint)bytes);
                    w.WriteData(log.Va + (ulong)ci * 4, (uint)((ulong)seq * len / 1000));       // kilocycles of work done
                    if (seq == count) w.Copy(log.Va + 256 + (ulong)ci * 64, log.Va, 64);          // everyone's progress at my finish
                }));
            }
        }

        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(last.All(t => t.IsComplete), Is.True, "every buffer completed");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                long bound = (long)(Work / 2) - (long)chosen[j];
                if (bound <= 0) continue;
                uint done = rig.Read32(log, 256 + (ulong)i * 64 + (ulong)j * 4);
                Assert.That(done, Is.GreaterThanOrEqualTo((uint)(bound / 1000)),
                    $"seed {seed}: when the context of {chosen[i]}-cycle buffers finished, the one of {chosen[j]}-cycle buffers had done {done} of {Work / 1000} kilocycles (lengths {string.Join(", ", chosen)})");
            }
    }
}
