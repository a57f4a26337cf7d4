using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Timeout detection and recovery, and determinism of the virtual-clock mode.</summary>
[TestFixture]
public sealed class RecoveryTests
{
    [Test]
    public void HungContext_WaitingOnACounterNeverSignalled_IsResetAfterTheTimeout_WhileTwoOthersFinish()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = 3_000_000 });
        var hung = h.Machine.CreateContext(1);
        var b = h.Machine.CreateContext(2);
        var c = h.Machine.CreateContext(3);
        var counter = h.Allocate(1);
        var mark = h.Allocate(1);
        var yb = h.Allocate(2, 1 << 20);
        var yc = h.Allocate(3, 1 << 20);
        long stuck = h.Submit(1, hung, cb => { cb.Wait(counter, 0); cb.WriteData(mark, 0, [0xDEAD]); });
        long queued = h.Submit(1, hung, cb => cb.WriteData(mark, 4, [0xBEEF]));
        var bIds = new List<long>();
        var cIds = new List<long>();
        for (int i = 0; i < 5; i++)
        {
            int k = i;
            bIds.Add(h.Submit(2, b, cb => cb.Fill(yb, (ulong)k * 4096, 0xB0 + (uint)k, 4096)));
            cIds.Add(h.Submit(3, c, cb => cb.Fill(yc, (ulong)k * 4096, 0xC0 + (uint)k, 4096)));
        }

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(hung.StatusOf(stuck), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(hung.StatusOf(queued), Is.EqualTo(SubmissionStatus.FailedTimeout), "its queued work fails too");
        Assert.That(hung.Resets, Is.EqualTo(1));
        Assert.That(h.Read32(mark, 0), Is.Zero, "nothing after the hung WAIT ran");
        Assert.That(bIds.Select(b.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(cIds.Select(c.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        for (int i = 0; i < 5; i++)
        {
            Assert.That(h.Read32(yb, (ulong)i * 4096), Is.EqualTo(0xB0 + (uint)i));
            Assert.That(h.Read32(yc, (ulong)i * 4096), Is.EqualTo(0xC0 + (uint)i));
        }
        Assert.That(b.Resets + c.Resets, Is.Zero);

        // The reset context is usable again.
        long again = h.Submit(1, hung, cb => cb.WriteData(mark, 8, [7]));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(hung.StatusOf(again), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(mark, 8), Is.EqualTo(7u));
    }

    [Test]
    public void DeterministicMode_SameInputs_GiveIdenticalResultsOrderAndTrace()
    {
        var first = Scenario(seed: 42);
        var second = Scenario(seed: 42);
        Assert.That(second.Trace, Is.EqualTo(first.Trace));
        Assert.That(second.Checksums, Is.EqualTo(first.Checksums));
        Assert.That(first.Trace.Count(e => e.Kind == ScheduleEventKind.ContextPreempted), Is.GreaterThan(0));
        var other = Scenario(seed: 7);
        Assert.That(other.Trace, Is.Not.EqualTo(first.Trace), "the trace depends on the inputs");
    }

    private static (List<ScheduleEvent> Trace, uint[] Checksums) Scenario(int seed)
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 1_000 }, localBytes: 4UL << 20, systemBytes: 4UL << 20);
        var rng = new Random(seed);
        var ctx = Enumerable.Range(0, 3).Select(i => h.Machine.CreateContext((uint)i + 1, priority: i == 2 ? 1 : 0)).ToArray();
        var mem = Enumerable.Range(0, 3).Select(i => h.Allocate((uint)i + 1, 256 * 1024)).ToArray();
        for (int n = 0; n < 18; n++)
        {
            int c = rng.Next(3);
            int ops = rng.Next(2, 9);
            var values = Enumerable.Range(0, ops).Select(_ => (Off: (ulong)rng.Next(16) * 4096, Pat: (uint)rng.Next(), Len: (ulong)rng.Next(1, 17) * 4096)).ToArray();
            h.Submit((uint)c + 1, ctx[c], cb => { foreach (var v in values) cb.Fill(mem[c], v.Off, v.Pat, v.Len); });
            if (rng.Next(3) == 0) h.Machine.RunFor((ulong)rng.Next(1, 20_000));
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        return (h.Trace.Events.ToList(), mem.Select(m => SchedulingHarness.Checksum(h.Read(m))).ToArray());
    }
}
