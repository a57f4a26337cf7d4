using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// An operand patched into a DMA buffer covers its allocation's bytes and nothing else, even when the allocation lies
/// in several physical extents (seed 002: portions need not be contiguous; docs/memory.md "Contiguity and extents").
/// </summary>
[TestFixture]
public sealed class ExtentPatchingTests
{
    private const ulong Hole = 16 * 1024;

    // Fills local memory with 16 KiB allocations of the victim process and frees every other one: free local memory
    // is then only 16 KiB holes, each between two live victim allocations.
    private static List<AllocationHandle> FragmentLocalMemory(SchedulingHarness h, uint victim)
    {
        var all = new List<AllocationHandle>();
        while (h.Machine.VidMm.Local.FreeBytes >= Hole) all.Add(h.Allocate(victim, Hole, PlacementHint.LocalOnly));
        var kept = new List<AllocationHandle>();
        for (int i = 0; i < all.Count; i++)
        {
            if (i % 2 == 0) h.Machine.VidMm.Free(all[i]);
            else kept.Add(all[i]);
        }
        return kept;
    }

    [Test]
    public void GivenFragmentedLocalMemory_WhenAProcessFillsItsWholeDiscontiguousAllocation_ThenEveryOwnByteIsWrittenAndNoOtherProcesssByte()
    {
        using var h = new SchedulingHarness(localBytes: 4UL << 20, realResidency: true);
        var victims = FragmentLocalMemory(h, victim: 2);
        for (int i = 0; i < victims.Count; i++) h.Write(victims[i], Enumerable.Repeat((byte)(i + 1), (int)Hole).ToArray());
        var before = victims.Select(v => SchedulingHarness.Checksum(h.Read(v))).ToArray();

        var mine = h.Allocate(1, 64 * 1024, PlacementHint.LocalOnly);
        Assert.That(h.Machine.VidMm.ExtentsOf(mine), Has.Length.GreaterThan(1), "precondition: the allocation is scattered");
        var ctx = h.Machine.CreateContext(1);
        long id = h.Submit(1, ctx, cb => cb.Fill(mine, 0, 0xA5A5A5A5, 64 * 1024));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(mine).All(x => x == 0xA5), Is.True, "all of its own bytes");
        Assert.That(victims.Select(v => SchedulingHarness.Checksum(h.Read(v))).ToArray(), Is.EqualTo(before), "none of anyone else's");
    }

    [Test]
    public void GivenADiscontiguousAllocation_WhenACopyCrossesItsExtentBoundaries_ThenTheBytesLandInOrder()
    {
        using var h = new SchedulingHarness(localBytes: 4UL << 20, realResidency: true);
        var victims = FragmentLocalMemory(h, victim: 2);
        var before = victims.Select(v => SchedulingHarness.Checksum(h.Read(v))).ToArray();
        var source = h.Allocate(1, 64 * 1024, PlacementHint.SystemOnly);
        var data = Enumerable.Range(0, 64 * 1024).Select(i => (byte)(i * 7 + (i >> 12))).ToArray();
        h.Write(source, data);
        var target = h.Allocate(1, 64 * 1024, PlacementHint.LocalOnly);
        Assert.That(h.Machine.VidMm.ExtentsOf(target), Has.Length.GreaterThan(1), "precondition: the target is scattered");
        var ctx = h.Machine.CreateContext(1);
        // Starts in the middle of the first extent, so the packet crosses every boundary at an odd place.
        long id = h.Submit(1, ctx, cb => cb.Copy(source, 4096, target, 4096, 60 * 1024));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(target).AsSpan(4096).ToArray(), Is.EqualTo(data.AsSpan(4096).ToArray()));
        Assert.That(h.Read(target).AsSpan(0, 4096).ToArray().All(x => x == 0), Is.True);
        Assert.That(victims.Select(v => SchedulingHarness.Checksum(h.Read(v))).ToArray(), Is.EqualTo(before));
    }

    [Test]
    public void GivenADiscontiguousAllocationThatWasPatched_WhenItIsFreed_ThenItHasNoMappingLeftAndItsMemoryReturns()
    {
        using var h = new SchedulingHarness(localBytes: 4UL << 20, realResidency: true);
        FragmentLocalMemory(h, victim: 2);
        var mine = h.Allocate(1, 64 * 1024, PlacementHint.LocalOnly);
        var ctx = h.Machine.CreateContext(1);
        h.Submit(1, ctx, cb => cb.Fill(mine, 0, 1, 64 * 1024));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        ulong free = h.Machine.VidMm.Local.FreeBytes;

        Assert.That(h.Machine.VidMm.MapCountOf(mine), Is.Zero, "the kernel's alias is not a caller's mapping");
        h.Machine.VidMm.Free(mine);

        Assert.That(h.Machine.VidMm.Local.FreeBytes, Is.EqualTo(free + 64 * 1024));
        Assert.That(h.Machine.VidMm.IsLive(mine), Is.False);
    }
}
