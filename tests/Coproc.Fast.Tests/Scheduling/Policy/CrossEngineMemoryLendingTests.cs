using Coproc.Fast.Device.Engines;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling.Policy;

/// <summary>
/// A pinned lower-priority chunk lends its memory to higher-priority work of another engine (seed 001 §5.5 strict
/// priority and eviction policy, §3.5; docs/scheduling-policy.md rule 7; VidSchScheduler.Lending.cs invariant L): the
/// lower context is switched off its engine mid-buffer, its memory is evicted for the higher buffer, paged in again
/// afterwards, and the interrupted buffer resumes exactly where it stopped — its bytes equal a CPU model.
/// </summary>
public class CrossEngineMemoryLendingTests
{
    private const ulong MiB = 1UL << 20;

    [Test]
    public void GivenALongLowPriorityCopyChunkPinningMemory_WhenAHighPriorityRenderBufferNeedsThatMemory_ThenTheLowChunkLendsIt_AndBothResultsAreRight()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000 }, localBytes: 8 * MiB, systemBytes: 64 * MiB,
            realResidency: true, engines: [EngineKind.Render, EngineKind.Copy]);
        var auditor = new SchedulingAuditor();
        foreach (var s in h.Machine.Schedulers) if (s is not null) auditor.Attach(s);
        var low = h.Machine.CreateContext(1, 2, EngineKind.Copy);
        var high = h.Machine.CreateContext(2, 12, EngineKind.Render);
        // 5 MiB each on 8 MiB of local memory: the two working sets cannot be resident together.
        var data = h.Machine.AllocateManaged(1, low, 5 * MiB);
        var target = h.Machine.AllocateManaged(2, high, 5 * MiB);

        // One chunk of 16 overlapping fills (about 1.3 M cycles): fill i writes pattern i from i × 320 KiB to the end.
        var lowModel = new byte[5 * MiB];
        long lowId = h.Submit(1, low, cb =>
        {
            for (int i = 0; i < 16; i++) cb.Fill(data, (ulong)i * 320 * 1024, 0x1000_0000u + (uint)i, 5 * MiB - (ulong)i * 320 * 1024);
        });
        for (int i = 0; i < 16; i++)
            for (int o = i * 320 * 1024; o < lowModel.Length; o += 4) BitConverter.TryWriteBytes(lowModel.AsSpan(o), 0x1000_0000u + (uint)i);
        h.Machine.RunFor(300_000); // the low chunk is running on the copy engine, its 5 MiB pinned
        Assert.That(low.StatusOf(lowId), Is.EqualTo(SubmissionStatus.Pending), "the low chunk is still running when the high buffer arrives");

        long highId = h.Submit(2, high, cb => cb.Fill(target, 0, 0xABCD_0123u, 5 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "the machine goes idle");
        auditor.Finish(h.Machine.Now);

        Assert.That(low.StatusOf(lowId), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(high.StatusOf(highId), Is.EqualTo(SubmissionStatus.Completed));
        ulong lowDone = h.Trace.Of(ScheduleEventKind.BufferCompleted).Single(e => e.ContextId == low.Id).Cycle;
        ulong highDone = h.Trace.Of(ScheduleEventKind.BufferCompleted).Single(e => e.ContextId == high.Id).Cycle;
        Assert.That(highDone, Is.LessThan(lowDone), "the higher priority did not wait for the lower chunk to retire");
        var copy = h.Machine.SchedulerFor(EngineKind.Copy);
        Assert.That((copy.MemoryLends, copy.MemoryReturns), Is.EqualTo((1L, 1L)), "the low context lent its memory once and got it back");
        Assert.That(low.Preemptions, Is.EqualTo(1), "switched off its engine mid-buffer once");
        Assert.That(auditor.Findings, Is.Empty, string.Join("\n", auditor.Findings));

        var highModel = new byte[5 * MiB];
        for (int o = 0; o < highModel.Length; o += 4) BitConverter.TryWriteBytes(highModel.AsSpan(o), 0xABCD_0123u);
        Assert.That(h.Read(target).AsSpan().SequenceEqual(highModel), Is.True, "the high buffer's bytes");
        Assert.That(h.Read(data).AsSpan().SequenceEqual(lowModel), Is.True, "the preempted buffer resumed where it stopped: its bytes equal the CPU model");
    }

    [Test]
    public void GivenNoMidBufferPreemption_WhenAHighPriorityBufferNeedsALowChunksMemory_ThenTheLowChunkDoesNotLend_AndTheHighBufferWaitsForIt()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, Preemption = false }, localBytes: 8 * MiB, systemBytes: 64 * MiB,
            realResidency: true, engines: [EngineKind.Render, EngineKind.Copy]);
        var low = h.Machine.CreateContext(1, 2, EngineKind.Copy);
        var high = h.Machine.CreateContext(2, 12, EngineKind.Render);
        var data = h.Machine.AllocateManaged(1, low, 5 * MiB);
        var target = h.Machine.AllocateManaged(2, high, 5 * MiB);
        long lowId = h.Submit(1, low, cb => { for (int i = 0; i < 16; i++) cb.Fill(data, 0, (uint)i, 5 * MiB); });
        h.Machine.RunFor(300_000);
        long highId = h.Submit(2, high, cb => cb.Fill(target, 0, 0xABCD_0123u, 5 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True, "the machine goes idle");

        Assert.That((low.StatusOf(lowId), high.StatusOf(highId)), Is.EqualTo((SubmissionStatus.Completed, SubmissionStatus.Completed)));
        ulong lowDone = h.Trace.Of(ScheduleEventKind.BufferCompleted).Single(e => e.ContextId == low.Id).Cycle;
        ulong highDone = h.Trace.Of(ScheduleEventKind.BufferCompleted).Single(e => e.ContextId == high.Id).Cycle;
        Assert.That(highDone, Is.GreaterThan(lowDone), "lending takes the engine mid-buffer: without preemption the low chunk keeps its memory");
        Assert.That(h.Machine.SchedulerFor(EngineKind.Copy).MemoryLends, Is.Zero);
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(data)).ToArray(), Is.All.EqualTo(15u), "the low buffer's last fill");
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Read(target)).ToArray(), Is.All.EqualTo(0xABCD_0123u), "the high buffer's bytes");
    }
}
