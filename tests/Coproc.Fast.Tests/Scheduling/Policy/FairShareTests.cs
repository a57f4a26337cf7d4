using System.Globalization;
namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// Fair share by engine time among equals (seed 001 §5.5: the context keeps the coprocessor for its quantum across
/// consecutive short buffers — "pick the current context again" — and missed time is compensated, bounded;
/// docs/scheduling-policy.md rule 2). Tolerance: each of N backlogged equals gets 1/N of the engine ± 25 % of 1/N.
/// </summary>
[TestFixture]
public sealed class FairShareTests
{
    [Test]
    public void GivenShortBuffersAgainstOneLongJob_AtEqualPriority_ThenEachGetsAboutHalfTheEngine()
    {
        using var rig = new PolicyRig(quantum: 200_000);
        var shortBuffers = rig.Add(priority: 5, cyclesPerBuffer: 8_000);
        var longJob = rig.Add(priority: 5, cyclesPerBuffer: 3_000_000);

        rig.RunTo(30_000_000);

        AssertFair(rig, shortBuffers, longJob);
    }

    [Test]
    public void GivenFourEqualContextsWithDifferentBufferSizes_ThenEachGetsAQuarterOfTheEngine()
    {
        using var rig = new PolicyRig(quantum: 200_000);
        var workers = new[]
        {
            rig.Add(priority: 3, cyclesPerBuffer: 8_000),
            rig.Add(priority: 3, cyclesPerBuffer: 50_000),
            rig.Add(priority: 3, cyclesPerBuffer: 300_000),
            rig.Add(priority: 3, cyclesPerBuffer: 2_500_000),
        };

        rig.RunTo(40_000_000);

        AssertFair(rig, workers);
    }

    private static void AssertFair(PolicyRig rig, params PolicyRig.Worker[] workers)
    {
        var cycles = workers.Select(w => (double)rig.EngineCycles(w.Context)).ToArray();
        double total = cycles.Sum();
        Assert.That(total, Is.GreaterThan(0));
        double fair = 1.0 / workers.Length;
        for (int i = 0; i < workers.Length; i++)
            Assert.That(cycles[i] / total, Is.InRange(fair * 0.75, fair * 1.25),
                $"context {i} ({workers[i].FillBytes * (ulong)workers[i].FillsPerBuffer / 64} cycles per buffer) got {cycles[i] / total:P1} of the engine; all: {string.Join(", ", cycles.Select(c => (c / total).ToString("P1", CultureInfo.InvariantCulture)))}");
    }
}
