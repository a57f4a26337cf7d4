using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>
/// Paging across engines (SchedulerGroup (2); seed 001 §3.6 "in dependency order"): every engine's paging buffers run
/// in the machine's one device paging queue, in the order VidMm recorded them (here on render, the paging engine when the
/// copy engine is not scheduled); a chunk waits on the queue's paging fence only for the paging buffers that moved what it
/// references or touch its memory, whichever engine's chunk recorded them.
/// </summary>
[TestFixture]
public sealed class CrossEnginePagingTests
{
    private const ulong MiB = 1024 * 1024;

    private static SchedulingHarness Rig() => new(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true,
        localBytes: 64 * MiB, systemBytes: 96 * MiB, engines: [EngineKind.Render, EngineKind.Compute]);

    [Test]
    public void GivenABigPageInOnRender_WhenComputeRunsABufferOnOtherMemory_ThenItCompletesBeforeThatPageInExecutes()
    {
        using var h = Rig();
        var render = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var compute = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        var big = h.Machine.AllocateManaged(1, render, 24 * MiB);
        var small = h.Machine.AllocateManaged(2, compute, 4096);
        var renderScheduler = h.Machine.SchedulerFor(EngineKind.Render);
        // Compute's memory is resident and stays put (a page-in of its own would queue behind render's on the one
        // channel, as it must: paging runs in record order).
        long c0 = h.Submit(2, compute, cb => cb.Fill(small, 0, 0x21, 4096));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(compute.StatusOf(c0), Is.EqualTo(SubmissionStatus.Completed));

        long r = h.Submit(1, render, cb => cb.Fill(big, 0, 0x11, 4096));
        long c = h.Submit(2, compute, cb => cb.Fill(small, 0, 0x22, 4096));
        bool computeDone = h.Machine.RunUntil(() => compute.StatusOf(c) == SubmissionStatus.Completed);

        Assert.That(computeDone, Is.True);
        Assert.That(renderScheduler.PagingBuffersBuilt, Is.GreaterThan(0), "render recorded the 24 MiB page-in first");
        Assert.That(renderScheduler.Paging.Completed, Is.LessThan(renderScheduler.Paging.LastSubmitted),
            "compute's buffer, which touches none of that memory, did not wait for render's page-in");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(render.StatusOf(r), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(small, 0), Is.EqualTo(0x22u));
        Assert.That(h.Read32(big, 0), Is.EqualTo(0x11u));
    }

    [Test]
    public void GivenAPageInOnRender_WhenComputeWritesTheSameAllocation_ThenComputeWaitsForThatPageInAndTheWriteIsKept()
    {
        using var h = Rig();
        var render = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var compute = h.Machine.CreateContext(1, 0, EngineKind.Compute);
        var shared = h.Machine.AllocateManaged(1, render, 24 * MiB);
        var renderOut = h.Machine.AllocateManaged(1, render, 4096);

        // Render's buffer pages `shared` in (a 24 MiB copy); compute's buffer writes it while that page-in runs. A device
        // that copies progressively would lose a write that lands behind the copy, so the chunk waits on render's paging
        // fence (this device copies a packet at once, so the bytes alone would not show the order: it is asserted).
        var renderScheduler = h.Machine.SchedulerFor(EngineKind.Render);
        long r = h.Submit(1, render, cb => cb.Copy(shared, 4096, renderOut, 0, 4096));
        bool copying = h.Machine.RunUntil(() => h.Trace.Events.Any(e =>
            e.Kind == ScheduleEventKind.ContextSwitched && e.ContextId == renderScheduler.PagingContextId));
        Assert.That(copying, Is.True, "the paging queue's context took render, the paging engine (precondition)");
        h.Machine.RunFor(20_000); // inside the 24 MiB copy, past its first pages
        Assert.That(renderScheduler.Paging.Completed, Is.LessThan(renderScheduler.Paging.LastSubmitted), "the page-in is still running (precondition)");
        long c = h.Submit(1, compute, cb => cb.Fill(shared, 0, 0xC0DE_CAFEu, 4096));
        Assert.That(h.Machine.RunUntil(() => compute.StatusOf(c) == SubmissionStatus.Completed), Is.True);
        Assert.That(renderScheduler.Paging.Completed, Is.EqualTo(renderScheduler.Paging.LastSubmitted),
            "compute's buffer ran only after render's page-in of the allocation it writes had executed");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(new[] { render.StatusOf(r), compute.StatusOf(c) }, Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(shared, 0), Is.EqualTo(0xC0DE_CAFEu), "compute's write survived the page-in");
        Assert.That(h.Read32(shared, 4092), Is.EqualTo(0xC0DE_CAFEu));
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenItsFreedMemoryHoldsAnAllocationAnotherEngineFills_ThenTheFillWaitsAndTheEvictedBytesSurvive()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true,
            localBytes: 32 * MiB, systemBytes: 96 * MiB, engines: [EngineKind.Render, EngineKind.Compute]);
        var r = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var r2 = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var c = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        var y = h.Machine.AllocateManaged(1, r, 16 * MiB);
        var g = h.Machine.AllocateManaged(1, r, 8 * MiB);
        var v = h.Machine.AllocateManaged(1, r, 8 * MiB);
        var big = h.Allocate(1, 24 * MiB, PlacementHint.SystemOnly);
        var render = h.Machine.SchedulerFor(EngineKind.Render);

        h.Submit(1, r, cb => cb.Fill(y, 0, 0x11111111, 16 * MiB));
        h.Submit(1, r, cb => cb.Fill(g, 0, 0x22222222, 8 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // (The free memory that a recorded eviction hands back to VidMm at once may go to a pinned allocation before the
        // eviction's copy has read it; a chunk of another engine filling that allocation must wait for the eviction.)
        // Keep render (the paging engine) busy with a long packet so the paging queue's context cannot take it at once.
        long longId = h.Submit(1, r2, cb => cb.Fill(big, 0, 0x33333333, 24 * MiB));
        Assert.That(h.Machine.RunUntil(() => h.Trace.Of(ScheduleEventKind.BufferStarted).Any(e => e.ContextId == r2.Id)), Is.True);
        h.Machine.RunFor(5_000);
        long built = render.PagingBuffersBuilt;
        // g then v: y is LRU, evicted for v (local = y16 + g8 + v8 needs 32 -> some eviction)
        h.Submit(1, r, cb => { cb.Fill(g, 0, 0x44444444, 4096); cb.Fill(v, 0, 0x55555555, 4096); });
        Assert.That(h.Machine.RunUntil(() => render.PagingBuffersBuilt > built), Is.True);
        Assert.That(render.Paging.Completed, Is.LessThan(render.Paging.LastSubmitted), "eviction recorded, not executed");

        var z = h.Allocate(2, 8 * MiB, PlacementHint.LocalOnly);
        long cz = h.Submit(2, c, cb => cb.Fill(z, 0, 0xBADBAD00, 8 * MiB));
        Assert.That(h.Machine.RunUntil(() => c.StatusOf(cz) == SubmissionStatus.Completed), Is.True);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        var bytes = h.Read(y); // y evicted: its backing store
        int bad = 0;
        for (int i = 0; i < bytes.Length; i += 4) if (BitConverter.ToUInt32(bytes, i) != 0x11111111) bad++;
        Assert.That(bad, Is.EqualTo(0), "Y's evicted contents intact");
    }
}
