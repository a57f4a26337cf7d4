using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.MemoryTurns;

/// <summary>
/// Equals of different engines share memory by turns (seed 001 §5.5 fair share among equals, §13: an engine idle with
/// work queued is starvation; docs/scheduling-policy.md rule 7; VidSchScheduler.Lending.cs invariant E): an equal that
/// has had its turn with the memory — a quantum of its engine, and at least as long as its memory took to arrive —
/// lends it to an equal of another engine waiting for it, and gets it back in turn. Without this the waiting engine
/// idled until the holder's chunk retired.
/// </summary>
public class EqualMemoryTurnsTests
{
    private const ulong MiB = 1UL << 20;

    private static (SchedulingHarness H, SchedulingAuditor Auditor) Rig(ulong localBytes = 8 * MiB)
    {
        var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000 }, localBytes: localBytes, systemBytes: 64 * MiB,
            realResidency: true, engines: [EngineKind.Render, EngineKind.Copy]);
        var auditor = new SchedulingAuditor();
        foreach (var s in h.Machine.Schedulers) if (s is not null) auditor.Attach(s);
        return (h, auditor);
    }

    // One buffer of 16 overlapping fills of `target` (fill i writes pattern base + i from i × 320 KiB to the end, about
    // 1.3 M cycles in all); returns its submission id and fills `model` as the device should.
    private static long SubmitLongChunk(SchedulingHarness h, uint pid, VidSchContext ctx, AllocationHandle target, uint pattern, byte[] model)
    {
        long id = h.Submit(pid, ctx, cb =>
        {
            for (int i = 0; i < 16; i++) cb.Fill(target, (ulong)i * 320 * 1024, pattern + (uint)i, 5 * MiB - (ulong)i * 320 * 1024);
        });
        for (int i = 0; i < 16; i++)
            for (int o = i * 320 * 1024; o < model.Length; o += 4) BitConverter.TryWriteBytes(model.AsSpan(o), pattern + (uint)i);
        return id;
    }

    // Two equals (priority 8) on render (process 1) and copy (process 2) with 5 MiB of managed memory each: on 8 MiB of
    // local memory their working sets cannot be resident together.
    private static (VidSchContext Render, VidSchContext Copy, AllocationHandle RenderData, AllocationHandle CopyData) TwoEquals(SchedulingHarness h)
    {
        var render = h.Machine.CreateContext(1, 8, EngineKind.Render);
        var copy = h.Machine.CreateContext(2, 8, EngineKind.Copy);
        return (render, copy, h.Machine.AllocateManaged(1, render, 5 * MiB), h.Machine.AllocateManaged(2, copy, 5 * MiB));
    }

    private static ulong CompletedAt(SchedulingHarness h, VidSchContext c, long id) =>
        h.Trace.Of(ScheduleEventKind.BufferCompleted).Single(e => e.ContextId == c.Id && e.SubmissionId == id).Cycle;

    [Test]
    public void GivenAnEqualOfAnotherEngineHoldingTheMemoryForALongChunk_WhenItsTurnIsOver_ThenItLendsItToTheWaitingEqual_AndGetsItBack_AndBothResultsAreRight()
    {
        var (h, auditor) = Rig();
        using var _ = h;
        var (holder, waiter, data, target) = TwoEquals(h);
        var holderModel = new byte[5 * MiB];
        long holderId = SubmitLongChunk(h, 1, holder, data, 0x1000_0000u, holderModel);
        h.Machine.RunFor(300_000);
        Assert.That(holder.StatusOf(holderId), Is.EqualTo(SubmissionStatus.Pending), "the holder's chunk is still running when the equal's buffer arrives");

        long waiterId = h.Submit(2, waiter, cb => cb.Fill(target, 0, 0xABCD_0123u, 5 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "the machine goes idle");
        auditor.Finish(h.Machine.Now);

        Assert.That((holder.StatusOf(holderId), waiter.StatusOf(waiterId)), Is.EqualTo((SubmissionStatus.Completed, SubmissionStatus.Completed)));
        Assert.That(CompletedAt(h, waiter, waiterId), Is.LessThan(CompletedAt(h, holder, holderId)),
            "the waiting equal ran after the holder's turn, not after its whole chunk");
        var render = h.Machine.SchedulerFor(EngineKind.Render);
        Assert.That((render.EqualLends, render.MemoryReturns), Is.EqualTo((1L, 1L)), "the holder lent its memory to its equal once and got it back");
        Assert.That(auditor.Findings, Is.Empty, "no engine idled with runnable work:\n" + string.Join("\n", auditor.Findings));
        Assert.That(h.Read(data).AsSpan().SequenceEqual(holderModel), Is.True, "the lending buffer resumed where it stopped: its bytes equal the CPU model");
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(target)).ToArray(), Is.All.EqualTo(0xABCD_0123u));
    }

    [Test]
    public void GivenTwoEqualsOnTwoEnginesWithLongChunksWhoseWorkingSetsDoNotFitTogether_ThenTheyTakeTurnsWithTheMemory_NotOnePerQuantum_AndBothResultsAreRight()
    {
        var (h, auditor) = Rig();
        using var _ = h;
        var (first, second, a, b) = TwoEquals(h);
        var modelA = new byte[5 * MiB];
        var modelB = new byte[5 * MiB];
        long idA = SubmitLongChunk(h, 1, first, a, 0x1000_0000u, modelA);
        h.Machine.RunFor(10_000);
        long idB = SubmitLongChunk(h, 2, second, b, 0x2000_0000u, modelB);
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "the machine goes idle");
        auditor.Finish(h.Machine.Now);

        Assert.That((first.StatusOf(idA), second.StatusOf(idB)), Is.EqualTo((SubmissionStatus.Completed, SubmissionStatus.Completed)));
        long lendsFirst = h.Machine.SchedulerFor(EngineKind.Render).EqualLends;
        long lendsSecond = h.Machine.SchedulerFor(EngineKind.Copy).EqualLends;
        Assert.That(Math.Min(lendsFirst, lendsSecond), Is.GreaterThanOrEqualTo(1),
            $"each lent the memory to the other in turn (render {lendsFirst}, copy {lendsSecond})");
        // Each turn is at least a quantum of the holder's engine and as long as its memory took to arrive, so the memory
        // changes hands at most once per quantum of the run (and paging takes at most about half of the time).
        ulong makespan = Math.Max(CompletedAt(h, first, idA), CompletedAt(h, second, idB));
        Assert.That(lendsFirst + lendsSecond, Is.LessThanOrEqualTo((long)(makespan / 100_000)), "no ping-pong: one lend per turn at most");
        ulong firstFinished = Math.Min(CompletedAt(h, first, idA), CompletedAt(h, second, idB));
        var loadedSecondBefore = h.Trace.Of(ScheduleEventKind.ContextSwitched).Any(e => e.ContextId == second.Id && e.Cycle < CompletedAt(h, first, idA));
        Assert.That(loadedSecondBefore, Is.True, $"the second equal ran before the first finished (first finish at {firstFinished:N0})");
        Assert.That(auditor.Findings, Is.Empty, "no engine idled with runnable work:\n" + string.Join("\n", auditor.Findings));
        Assert.That(h.Read(a).AsSpan().SequenceEqual(modelA), Is.True, "the first buffer's bytes, across its lends");
        Assert.That(h.Read(b).AsSpan().SequenceEqual(modelB), Is.True, "the second buffer's bytes, across its lends");
    }

    [Test]
    [CancelAfter(120_000)]
    public void ThreadedMode_GivenTwoEqualsOnTwoEnginesWithLongChunksWhoseWorkingSetsDoNotFitTogether_ThenTheyTakeTurnsWithTheMemory_AndBothResultsAreRight()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000 }, MachineRunMode.Threaded, localBytes: 8 * MiB,
            systemBytes: 64 * MiB, realResidency: true, engines: [EngineKind.Render, EngineKind.Copy]);
        var auditor = new SchedulingAuditor(SchedulingAuditorOptions.Threaded);
        foreach (var s in h.Machine.Schedulers) if (s is not null) auditor.Attach(s);
        var (first, second, a, b) = TwoEquals(h);
        var modelA = new byte[5 * MiB];
        var modelB = new byte[5 * MiB];
        long idA = SubmitLongChunk(h, 1, first, a, 0x1000_0000u, modelA);
        long idB = SubmitLongChunk(h, 2, second, b, 0x2000_0000u, modelB);
        h.Machine.Start();
        Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True, "bounded: the machine goes idle");
        auditor.Finish(h.Machine.Device.Cycle);

        Assert.That((first.StatusOf(idA), second.StatusOf(idB)), Is.EqualTo((SubmissionStatus.Completed, SubmissionStatus.Completed)));
        long lends = h.Machine.SchedulerFor(EngineKind.Render).EqualLends + h.Machine.SchedulerFor(EngineKind.Copy).EqualLends;
        Assert.That(lends, Is.GreaterThanOrEqualTo(1), "the memory changed hands between the equals before either chunk ended");
        Assert.That(auditor.Findings, Is.Empty, string.Join("\n", auditor.Findings));
        Assert.That(h.Read(a).AsSpan().SequenceEqual(modelA), Is.True, "the first buffer's bytes, across its lends");
        Assert.That(h.Read(b).AsSpan().SequenceEqual(modelB), Is.True, "the second buffer's bytes, across its lends");
    }

    [Test]
    public void GivenAnEqualThatHasNotHadItsTurn_WhenAnEqualOfAnotherEngineNeedsItsMemory_ThenItKeepsTheMemoryForItsTurn()
    {
        // Lending at once would page the holder's memory out right after paging it in (thrash): the waiter waits for the
        // holder's turn, and the auditor does not report that wait.
        var (h, auditor) = Rig();
        using var _ = h;
        var (holder, waiter, data, target) = TwoEquals(h);
        var holderModel = new byte[5 * MiB];
        long holderId = SubmitLongChunk(h, 1, holder, data, 0x1000_0000u, holderModel);
        h.Machine.RunFor(5_000); // the holder's memory is on its way in; its chunk has not run yet
        long waiterId = h.Submit(2, waiter, cb => cb.Fill(target, 0, 7, 5 * MiB));
        h.Machine.RunFor(100_000);
        Assert.That(h.Machine.SchedulerFor(EngineKind.Render).EqualLends, Is.Zero, "within its turn the holder keeps its memory");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(h.Machine.Now);
        Assert.That((holder.StatusOf(holderId), waiter.StatusOf(waiterId)), Is.EqualTo((SubmissionStatus.Completed, SubmissionStatus.Completed)));
        Assert.That(auditor.Findings, Is.Empty, string.Join("\n", auditor.Findings));
        Assert.That(h.Read(data).AsSpan().SequenceEqual(holderModel), Is.True);
    }

    [Test]
    public void GivenAnEqualHeldOffItsEngineByAHigherPriority_ThenItLendsItsIdleMemoryToTheWaitingEqual_AndDoesNotTakeItBackWhileTheHigherRuns()
    {
        var (h, auditor) = Rig(12 * MiB);
        using var _ = h;
        var holder = h.Machine.CreateContext(1, 8, EngineKind.Render);
        var high = h.Machine.CreateContext(3, 12, EngineKind.Render);
        var waiter = h.Machine.CreateContext(2, 8, EngineKind.Copy);
        var data = h.Machine.AllocateManaged(1, holder, 5 * MiB);
        var highData = h.Machine.AllocateManaged(3, high, 2 * MiB);
        var target = h.Machine.AllocateManaged(2, waiter, 5 * MiB);
        var holderModel = new byte[5 * MiB];
        long holderId = SubmitLongChunk(h, 1, holder, data, 0x1000_0000u, holderModel);
        h.Machine.RunFor(400_000);
        // A long higher-priority job takes the render engine from the holder; its memory stays pinned, unused.
        long highId = h.Submit(3, high, cb => { for (int i = 0; i < 40; i++) cb.Fill(highData, 0, (uint)i, 2 * MiB); });
        h.Machine.RunFor(50_000);
        long waiterId = h.Submit(2, waiter, cb => cb.Fill(target, 0, 0x5555_AAAAu, 5 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(h.Machine.Now);

        Assert.That(new[] { holder.StatusOf(holderId), high.StatusOf(highId), waiter.StatusOf(waiterId) }, Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(CompletedAt(h, waiter, waiterId), Is.LessThan(CompletedAt(h, high, highId)),
            "the waiting equal used the memory while the higher priority kept its holder off the render engine");
        Assert.That(h.Machine.SchedulerFor(EngineKind.Render).EqualLends, Is.EqualTo(1));
        Assert.That(h.Machine.SchedulerFor(EngineKind.Copy).EqualLends, Is.Zero, "the holder did not ask for its memory back while it could not run");
        Assert.That(auditor.Findings, Is.Empty, string.Join("\n", auditor.Findings));
        Assert.That(h.Read(data).AsSpan().SequenceEqual(holderModel), Is.True);
    }
}
