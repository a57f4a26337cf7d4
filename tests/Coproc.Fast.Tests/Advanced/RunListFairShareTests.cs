using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Scheduling.Policy;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// Fair share by time among equals in the advanced model's run-list back end (seed 001 §5.5; docs/scheduling-policy.md
/// rule 2, "Run-list back end"), checked by the device as in the basic model's property
/// (<c>SchedulingPolicyProperties.FairShare_EqualsWithDifferentBufferLengthsFinishTogether_CheckedByTheDevice</c>):
/// equal-priority contexts each get the same work cut into buffers of very different lengths, all queued at once
/// (<see cref="FinishTogether"/>).
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class RunListFairShareTests
{
    [Test]
    public void EqualsWithDifferentBufferLengths_FinishTogether_CheckedByTheDevice(
        [Values(RunListMechanism.TwoElement, RunListMechanism.History)] RunListMechanism mechanism, [Range(1, 6)] int seed)
    {
        var rng = new Random(seed);
        using var rig = new AdvancedRig(new RigOptions { RunLists = mechanism, RunListLength = rng.Next(2, 5), QuantumCycles = 200_000 });
        int n = rng.Next(2, 5);
        int priority = rng.Next(0, 16);
        var p = rig.Scheduler.CreateProcess();
        var log = p.AllocatePinned(4096);
        var contexts = Enumerable.Range(0, n).Select(_ => rig.Scheduler.CreateContext(p, priority)).ToArray();
        var targets = contexts.Select(_ => p.AllocatePinned(1 << 20)).ToArray();
        var chosen = FinishTogether.Choose(rng, n);
        var last = new List<VaTicket>();
        for (int i = 0; i < n; i++)
        {
            ulong len = chosen[i];
            var (bytes, fills) = FinishTogether.Fills(len);
            int count = (int)(FinishTogether.Work / len);
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
        FinishTogether.AssertFinishedTogether(rig.Machine.VidMm.Memory.GetSpan(rig.Machine.VidMm.PhysicalAddressOf(log.Handle, 0), 4096), chosen,
            $"{mechanism}, seed {seed}");
    }
}
