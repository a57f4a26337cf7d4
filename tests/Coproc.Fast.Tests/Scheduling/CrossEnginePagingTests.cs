using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>
/// Paging across engines (SchedulerGroup (2); seed 001 §3.6 "in dependency order"): each engine's paging buffers run in
/// its own paging context with its own paging fence; a chunk waits only for the paging buffers that moved what it
/// references, on whichever engine they run, and a paging buffer only for other engines' earlier ones that touch the
/// same memory.
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

        long r = h.Submit(1, render, cb => cb.Fill(big, 0, 0x11, 4096));
        long c = h.Submit(2, compute, cb => cb.Fill(small, 0, 0x22, 4096));
        bool computeDone = h.Machine.RunUntil(() => compute.StatusOf(c) == SubmissionStatus.Completed);

        Assert.That(computeDone, Is.True);
        Assert.That(renderScheduler.PagingBuffersBuilt, Is.GreaterThan(0), "render recorded the 24 MiB page-in first");
        Assert.That(renderScheduler.PagingCompletedInMemory, Is.LessThan(renderScheduler.PagingIssuedUnlocked),
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
        Assert.That(copying, Is.True, "render's paging context took the engine (precondition)");
        h.Machine.RunFor(20_000); // inside the 24 MiB copy, past its first pages
        Assert.That(renderScheduler.PagingCompletedInMemory, Is.LessThan(renderScheduler.PagingIssuedUnlocked), "the page-in is still running (precondition)");
        long c = h.Submit(1, compute, cb => cb.Fill(shared, 0, 0xC0DE_CAFEu, 4096));
        Assert.That(h.Machine.RunUntil(() => compute.StatusOf(c) == SubmissionStatus.Completed), Is.True);
        Assert.That(renderScheduler.PagingCompletedInMemory, Is.EqualTo(renderScheduler.PagingIssuedUnlocked),
            "compute's buffer ran only after render's page-in of the allocation it writes had executed");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(new[] { render.StatusOf(r), compute.StatusOf(c) }, Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(shared, 0), Is.EqualTo(0xC0DE_CAFEu), "compute's write survived the page-in");
        Assert.That(h.Read32(shared, 4092), Is.EqualTo(0xC0DE_CAFEu));
    }
}
