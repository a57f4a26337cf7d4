using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// Memory that exists can be used: a managed allocation up to the local memory not held by pinned allocations becomes
/// resident (discontiguous residency through the page tables), and a split chunk keeps resident only what it uses
/// (seed 001 §3.4–§3.5; docs/memory.md).
/// </summary>
[TestFixture]
public sealed class LargeAllocationResidencyTests
{
    private const ulong KiB = 1024, MiB = 1024 * 1024;

    [Test]
    public void GivenEightMiBOfLocalMemory_WhenA4100KiBManagedAllocationIsUsed_ThenItBecomesResidentAndTheBufferCompletes()
    {
        using var h = new SchedulingHarness(localBytes: 8 * MiB, realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var big = h.Machine.AllocateManaged(1, ctx, 4100 * KiB);
        var seed = Enumerable.Range(0, (int)(4100 * KiB)).Select(i => (byte)(i * 13 + (i >> 12))).ToArray();
        h.Write(big, seed); // into its backing store: the page-in must carry it
        long id = h.Submit(1, ctx, cb => cb.Fill(big, 4096 * KiB, 0x5A5A5A5A, 4 * KiB)); // the last 4 KiB, past the first 4 MiB

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        var rm = (Coproc.Fast.Driver.VidMm.Residency.ResidencyManager)h.Machine.Residency;
        Assert.That(rm.IsResident(big), Is.True);
        var bytes = h.Read(big);
        Assert.That(bytes.AsSpan(0, (int)(4096 * KiB)).SequenceEqual(seed.AsSpan(0, (int)(4096 * KiB))), Is.True, "paged in intact");
        Assert.That(bytes.AsSpan((int)(4096 * KiB)).ToArray().All(x => x == 0x5A), Is.True, "the FILL reached the allocation's end");
    }

    [Test]
    public void GivenThree4MiBTargetsUsedInTurnOnEightMiB_WhenTheBufferIsSplit_ThenEveryChunkCompletesWithOnlyItsOwnTargetResident()
    {
        using var h = new SchedulingHarness(localBytes: 8 * MiB, realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var targets = Enumerable.Range(0, 3).Select(_ => h.Machine.AllocateManaged(1, ctx, 4 * MiB)).ToArray();
        // One buffer, the same render-target slot bound to each target in turn: two never fit beside the kernel's pages.
        long id = h.Submit(1, ctx, cb =>
        {
            for (int i = 0; i < targets.Length; i++) cb.Fill(targets[i], 0, 0x01010101u * (uint)(i + 1), 4 * MiB, resourceId: 0);
        });

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        for (int i = 0; i < targets.Length; i++) Assert.That(h.Read(targets[i]).All(x => x == i + 1), Is.True, $"target {i}");
        Assert.That(h.Trace.Of(ScheduleEventKind.BufferSplit).Count(), Is.GreaterThanOrEqualTo(2), "split into a chunk per target");
    }
}
