using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;
using Coproc.Fast.Tests.VidMm;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// seed 001 §5.5 eviction policy: evict from the current context (splitting its buffers) before other contexts, lower
/// priorities before higher ones, and a back-to-back low-priority job never keeps higher-priority work from becoming
/// resident (docs/memory.md "Eviction order").
/// </summary>
[TestFixture]
public sealed class EvictionOrderTests
{
    [Test]
    public void GivenResidentSetsOfALowerAndAHigherPriorityContext_WhenAMiddlePriorityContextNeedsRoom_ThenTheLowerPrioritySetIsEvictedFirstEvenIfMoreRecent()
    {
        using var rig = new ResidencyRig();
        rig.Rm.SetContextPriority(1, 2);  // low
        rig.Rm.SetContextPriority(2, 12); // high
        rig.Rm.SetContextPriority(3, 6);  // the requester
        var high = Enumerable.Range(0, 3).Select(_ => rig.Rm.CreateAllocation(1 * MiB, 2)).ToArray();
        var low = Enumerable.Range(0, 3).Select(_ => rig.Rm.CreateAllocation(1 * MiB, 1)).ToArray();
        foreach (var h in high) rig.MakeResident(2, h); // least recently used
        foreach (var h in low) rig.MakeResident(1, h);  // more recent
        var need = rig.Rm.CreateAllocation(3 * MiB, 3);
        Assume.That(rig.Rm.ResidentBudget - rig.Rm.ResidentBytes, Is.LessThan(3 * MiB), "room must be made by evicting");

        var ops = rig.MakeResident(3, need);

        var evicted = ops.Where(o => o.Kind == PagingOperationKind.Evict).Select(o => o.Handle).Distinct().ToArray();
        Assert.That(evicted, Is.Not.Empty);
        Assert.That(evicted, Is.SubsetOf(low), "only the lower-priority context's working set was touched");
        Assert.That(high.All(rig.Rm.IsResident), Is.True);
    }

    [Test]
    public void GivenAnotherContextsAllocationResident_WhenABufferFitsOnlyIfSplit_ThenTheBufferIsSplitWithinItsOwnWorkingSetAndTheOtherStaysResident()
    {
        const ulong MiB = 1024 * 1024;
        using var h = new SchedulingHarness(localBytes: 8 * MiB, realResidency: true);
        var other = h.Machine.CreateContext(2);
        var mine = h.Machine.CreateContext(1);
        var theirs = h.Machine.AllocateManaged(2, other, 3 * MiB);
        h.Submit(2, other, cb => cb.Fill(theirs, 0, 0x09090909, 3 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        var a = h.Machine.AllocateManaged(1, mine, 3 * MiB);
        var b = h.Machine.AllocateManaged(1, mine, 3 * MiB);
        var rm = (ResidencyManager)h.Machine.Residency;
        Assume.That(rm.ResidentBudget - rm.ResidentBytes, Is.LessThan(6 * MiB), "the whole buffer does not fit beside the other context's set");

        long id = h.Submit(1, mine, cb => { cb.Fill(a, 0, 0x01010101, 3 * MiB, resourceId: 0); cb.Fill(b, 0, 0x02020202, 3 * MiB, resourceId: 0); });
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(mine.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Trace.Of(ScheduleEventKind.BufferSplit).Any(), Is.True, "split to fit its own working set");
        Assert.That(rm.IsResident(theirs), Is.True, "no memory was taken from the other context");
        Assert.That(h.Read(a).All(x => x == 1), Is.True);
        Assert.That(h.Read(b).All(x => x == 2), Is.True);
    }

    [Test]
    public void GivenABackToBackLowPriorityJobHoldingMemory_WhenHigherPriorityWorkCannotBecomeResidentBesideIt_ThenTheHigherPriorityWorkRunsBeforeTheJobQueueDrains()
    {
        const ulong MiB = 1024 * 1024;
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000 }, localBytes: 16 * MiB, realResidency: true);
        h.Machine.SetObserver(h.Trace);
        var batch = h.Machine.CreateContext(2, 1, EngineKind.Compute);
        var game = h.Machine.CreateContext(1, 8, EngineKind.Render);
        var data = h.Machine.AllocateManaged(2, batch, 8 * MiB);
        var target = h.Machine.AllocateManaged(1, game, 8 * MiB);
        const int Jobs = 12;
        var jobs = Enumerable.Range(0, Jobs).Select(i => h.Submit(2, batch, cb => cb.Fill(data, 0, 0x01010101u * (uint)i, 8 * MiB))).ToArray();
        h.Machine.RunFor(1_000); // the job queue is running and its data resident
        long frame = h.Submit(1, game, cb => cb.Fill(target, 0, 0x77777777, 8 * MiB));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(game.StatusOf(frame), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(jobs.Select(batch.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        var completions = h.Trace.Of(ScheduleEventKind.BufferCompleted).ToList();
        int frameAt = completions.FindIndex(e => e.ContextId == game.Id);
        int jobsBefore = completions.Take(frameAt).Count(e => e.ContextId == batch.Id);
        Assert.That(jobsBefore, Is.LessThan(Jobs / 2), "the frame waited only for the jobs already holding memory, not for the queue");
        Assert.That(h.Read(target).All(x => x == 0x77), Is.True);
        Assert.That(h.Read(data).All(x => x == Jobs - 1), Is.True);
    }
}
