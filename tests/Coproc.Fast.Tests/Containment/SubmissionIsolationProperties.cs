using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Containment;

/// <summary>
/// The isolation promise through the submission path seam (<see cref="Machine.TrySubmit"/>, docs/models.md "One
/// submission call"), in every model: a well-behaved process fills and copies inside its own allocations while an
/// attacker's context, opened the same way, submits recordings that name the victim's allocations, its own allocations at
/// offsets and sizes past their ends, huge fills, waits that never come, and random mixes of these. A recording naming
/// an allocation its process may not use is refused with a typed error before anything is written; the rest only ever
/// reaches the attacker's own memory or faults the attacker alone. The victim reaches its last fence and its
/// allocations equal their CPU model. Deterministic; bounded by cycle budgets.
/// </summary>
public class SubmissionIsolationProperties
{
    private const int Bytes = 64 << 10;

    private static IEnumerable<TestCaseData> Cases() =>
        from model in new[] { SchedulingModel.Basic, SchedulingModel.Advanced, SchedulingModel.Hardware }
        from seed in Enumerable.Range(1, 16)
        select new TestCaseData(model, seed);

    [TestCaseSource(nameof(Cases))]
    public void GivenAnAttackerSubmittingThroughTheSameCall_ThenTheVictimsWorkCompletesWithItsCpuModelBytes(SchedulingModel model, int seed)
    {
        var rng = new Random(seed);
        using var m = new Machine(new MachineOptions
        {
            Model = model, Device = ModelWorkload.Device(),
            Scheduler = new Driver.VidSch.VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 5_000_000 },
        });
        var victim = new[] { Allocate(m, 1), Allocate(m, 1) };
        var victimFence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var attacker = new[] { Allocate(m, 2), Allocate(m, 2) };
        var attackerCounter = m.Kmd.Allocate(2, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var good = m.OpenContext(1);
        var evil = m.OpenContext(2, priority: rng.Next(0, 2));
        var cpu = new[] { new byte[Bytes], new byte[Bytes] };
        ulong fence = 0;
        int refusals = 0;

        for (int step = 0; step < 30; step++)
        {
            if (rng.Next(2) == 0)
            {
                // The victim: in-bounds FILLs and COPYs of its own, then its fence.
                var ops = new List<Action<WorkRecorder>>();
                int n = rng.Next(1, 4);
                for (int i = 0; i < n; i++)
                {
                    int dst = rng.Next(2), off = rng.Next(0, Bytes / 256) * 256, len = rng.Next(1, Math.Min(16, (Bytes - off) / 256) + 1) * 256;
                    if (rng.Next(2) == 0)
                    {
                        uint pattern = (uint)rng.Next();
                        ops.Add(r => r.Fill(victim[dst], (ulong)off, pattern, (ulong)len));
                        for (int b = 0; b < len; b += 4) BitConverter.TryWriteBytes(cpu[dst].AsSpan(off + b), pattern);
                    }
                    else
                    {
                        int src = 1 - dst;
                        ops.Add(r => r.Copy(victim[dst], (ulong)off, victim[src], (ulong)off, (ulong)len));
                        cpu[src].AsSpan(off, len).CopyTo(cpu[dst].AsSpan(off, len));
                    }
                }
                ulong value = ++fence;
                Assert.That(m.TrySubmit(good, r => { foreach (var op in ops) op(r); r.Fence(victimFence, 0, value); }), Is.True, "the victim's ring has room");
            }
            else
            {
                // The attacker: anything.
                try
                {
                    m.TrySubmit(evil, r =>
                    {
                        int n = rng.Next(1, 5);
                        for (int i = 0; i < n; i++)
                        {
                            var target = rng.Next(2) == 0 ? victim[rng.Next(2)] : attacker[rng.Next(2)];
                            ulong off = rng.Next(8) == 0 ? (ulong)rng.NextInt64(Bytes, 1L << 32) : (ulong)rng.Next(0, Bytes);
                            ulong len = rng.Next(8) == 0 ? (ulong)rng.NextInt64(Bytes, 1L << 30) : (ulong)rng.Next(4, Bytes) & ~3UL;
                            switch (rng.Next(16))
                            {
                                case < 6: r.Fill(target, off, 0x66666666u, len); break;
                                case < 10: r.Copy(target, off, attacker[rng.Next(2)], 0, len); break;
                                case < 15: r.WriteData(target, off, 0x77777777u); break;
                                default: r.Wait(attackerCounter, 0); break; // never signalled: the attacker's later work waits
                            }
                        }
                    });
                }
                catch (Exception e) when (e is AllocationNotSharedException or CommandBufferRejectedException)
                {
                    refusals++;
                }
            }
            m.RunFor((ulong)rng.Next(10_000, 200_000));
        }

        Assert.That(m.RunUntil(() => m.Device.Memory.Read64(m.VidMm.PhysicalAddressOf(victimFence, 0)) == fence, 2_000_000_000), Is.True,
            $"{model} seed {seed}: the victim reached fence {fence}");
        Assert.That(good.IsStopped, Is.False);
        for (int i = 0; i < 2; i++)
            Assert.That(ModelWorkload.Read(m, victim[i], Bytes).SequenceEqual(cpu[i]), Is.True, $"{model} seed {seed}: victim allocation {i} equals its CPU model");
        TestContext.Out.WriteLine($"{model} seed {seed}: {refusals} attacker recordings refused, attacker stopped: {evil.IsStopped}");
    }

    private static AllocationHandle Allocate(Machine m, uint process) =>
        m.Kmd.Allocate(process, Bytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
}
