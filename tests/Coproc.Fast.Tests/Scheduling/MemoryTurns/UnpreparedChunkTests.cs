using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.MemoryTurns;

/// <summary>
/// A lower-priority chunk that is prepared but not in a ring gives its memory up when higher-priority work of another
/// engine cannot become resident (seed 001 §5.5 strict priority and eviction policy; docs/scheduling-policy.md rule 7;
/// VidSchScheduler.Lending.cs invariant U): it is un-prepared — no engine changes hands, its paging already recorded
/// still runs in order — and prepared again later. Before, it kept the memory until it was launched.
/// </summary>
public class UnpreparedChunkTests
{
    private const ulong MiB = 1UL << 20;

    [Test]
    public void GivenALowContextsNextChunkPreparedButHeldOutOfItsRing_WhenAHighBufferOfAnotherEngineNeedsThatMemory_ThenOnlyThatChunkGivesItUp_AndEverythingCompletesInOrder()
    {
        // Without mid-buffer preemption nothing in a ring can lend its memory; a prepared chunk held back at a buffer
        // boundary (docs/scheduling-policy.md rule 5) can give it up.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, Preemption = false },
            localBytes: 8 * MiB, systemBytes: 64 * MiB, realResidency: true, engines: [EngineKind.Render, EngineKind.Copy]);
        var auditor = new SchedulingAuditor();
        foreach (var s in h.Machine.Schedulers) if (s is not null) auditor.Attach(s);
        var low = h.Machine.CreateContext(1, 2, EngineKind.Copy);
        var middle = h.Machine.CreateContext(3, 5, EngineKind.Copy);
        var high = h.Machine.CreateContext(2, 12, EngineKind.Render);
        var running = h.Machine.AllocateManaged(1, low, 2 * MiB);
        var next = h.Machine.AllocateManaged(1, low, 3 * MiB);
        var small = h.Machine.AllocateManaged(3, middle, 64 * 1024);
        var target = h.Machine.AllocateManaged(2, high, 4 * MiB);
        // 2 + 3 + 4 MiB do not fit in 8 MiB beside the kernel's structures; 2 + 4 do. Warm-up buffers make `next` and
        // `small` resident, so the buffers below need no paging (a paging buffer would take the engine at once).
        h.Submit(1, low, cb => cb.Fill(next, 0, 1, 3 * MiB));
        h.Submit(3, middle, cb => cb.Fill(small, 0, 1, 64 * 1024));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        long first = h.Submit(1, low, cb => { for (int i = 0; i < 40; i++) cb.Fill(running, 0, 0x100u + (uint)i, 2 * MiB); });
        h.Machine.RunFor(100_000);
        // A higher copy context waits for the low buffer's end, so the low context's next chunk, once prepared, is held
        // beside its ring (it would keep the ring from running empty): prepared, its 3 MiB pinned, not launched.
        long middleId = h.Submit(3, middle, cb => cb.Fill(small, 0, 0x3333_3333u, 64 * 1024));
        long second = h.Submit(1, low, cb => cb.Fill(next, 0, 0x0BAD_F00Du, 3 * MiB));
        h.Machine.RunFor(20_000);
        Assert.That(low.StatusOf(first), Is.EqualTo(SubmissionStatus.Pending), "the low context's first buffer is still running");

        long highId = h.Submit(2, high, cb => cb.Fill(target, 0, 0xABCD_0123u, 4 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "the machine goes idle");
        auditor.Finish(h.Machine.Now);

        Assert.That(new[] { low.StatusOf(first), low.StatusOf(second), middle.StatusOf(middleId), high.StatusOf(highId) },
            Is.All.EqualTo(SubmissionStatus.Completed));
        var done = h.Trace.Of(ScheduleEventKind.BufferCompleted).ToArray();
        ulong highDone = done.Single(e => e.ContextId == high.Id).Cycle;
        ulong firstDone = done.Single(e => e.ContextId == low.Id && e.SubmissionId == first).Cycle;
        ulong secondDone = done.Single(e => e.ContextId == low.Id && e.SubmissionId == second).Cycle;
        Assert.That(highDone, Is.LessThan(firstDone), "the high buffer did not wait for the low context's buffers");
        Assert.That(secondDone, Is.GreaterThan(firstDone), "the un-prepared buffer ran after the one before it");
        var copy = h.Machine.SchedulerFor(EngineKind.Copy);
        Assert.That(copy.Unprepared, Is.EqualTo(1), "the prepared, unlaunched chunk was un-prepared once");
        Assert.That((copy.MemoryLends, low.Preemptions), Is.EqualTo((0L, 0)), "the running chunk kept its memory and its engine");
        Assert.That(auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.IdleWithWork), Is.Empty, string.Join("\n", auditor.Findings));
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(running)).ToArray(), Is.All.EqualTo(0x100u + 39));
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(next)).ToArray(), Is.All.EqualTo(0x0BAD_F00Du),
            "the re-prepared buffer was patched with its memory's new place");
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(small)).ToArray(), Is.All.EqualTo(0x3333_3333u));
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(target)).ToArray(), Is.All.EqualTo(0xABCD_0123u));
    }
}
