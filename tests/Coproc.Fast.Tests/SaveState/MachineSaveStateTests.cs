using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;
using Coproc.Fast.Tests.Scheduling;
using FsCheck;
using FsProperty = FsCheck.NUnit.PropertyAttribute;

namespace Coproc.Fast.Tests.SaveState;

/// <summary>
/// Machine save-state (docs/embedding.md, "Machine save-state"): a deterministic machine saved between any two steps and
/// restored into a fresh instance continues exactly as the uninterrupted machine — every allocation's bytes, the
/// interrupt records its service routine drains, the scheduling trace, and the whole state at the end (its own
/// save-state) are identical.
/// </summary>
public class MachineSaveStateTests
{
    private sealed record Run(List<ScheduleEvent> Trace, List<string> Interrupts, List<byte[]> Bytes, byte[] FinalState, ulong SubmittedAt, ulong EndedAt);

    private static Run Uninterrupted()
    {
        var trace = new TraceRecorder();
        InterruptLog? log = null;
        var (m, allocations, submissions, _) = MachineSaveStateWorkload.Build(trace, x => log = new InterruptLog(x));
        using (m)
        {
            ulong submitted = m.Now;
            Assert.That(m.RunUntilIdle(), Is.True);
            foreach (var (c, id) in submissions)
                Assert.That(m.Scheduler.FindContext(c)?.StatusOf(id) ?? m.Schedulers.First(s => s?.FindContext(c) is not null)!.FindContext(c)!.StatusOf(id),
                    Is.EqualTo(SubmissionStatus.Completed));
            return new Run(trace.Events, log!.Records, allocations.Select(a => MachineSaveStateWorkload.Read(m, a)).ToList(),
                MachineSaveStateWorkload.Save(m), submitted, m.Now);
        }
    }

    private static readonly Lazy<Run> Reference = new(Uninterrupted);

    [Test]
    public void GivenTheWorkload_WhenRunUninterrupted_ThenItPagesSwitchesWaitsOnTheMutexAndFlips()
    {
        var r = Reference.Value;
        Assert.That(r.Trace.Count(e => e.Kind == ScheduleEventKind.PagingBuffer), Is.GreaterThan(5), "managed allocations exceed local memory");
        Assert.That(r.Trace.Count(e => e.Kind == ScheduleEventKind.ContextSwitched), Is.GreaterThan(10));
        Assert.That(r.Trace.Count(e => e.Kind == ScheduleEventKind.ContextWaiting), Is.GreaterThan(0), "a context waited on the mutex");
        Assert.That(r.Interrupts.Count, Is.GreaterThan(20));
        Assert.That(r.EndedAt - r.SubmittedAt, Is.GreaterThan(100_000UL));
        Assert.That(r.Interrupts.Count(i => i.Contains("Source = 6,", StringComparison.Ordinal)), Is.GreaterThan(2), "vsync interrupts (the flips)");
    }

    [FsProperty(MaxTest = 10, Replay = "(2026120710,3571)")]
    public bool GivenASnapshotAtAnyCycle_WhenRestoredIntoAFreshMachine_ThenBytesInterruptsAndTraceEqualTheUninterruptedRun(PositiveInt at)
    {
        var r = Reference.Value;
        Check(r.SubmittedAt + (ulong)at.Get * 7919 % (r.EndedAt - r.SubmittedAt));
        return true;
    }

    [TestCase(0.0)]
    [TestCase(0.5)]
    [TestCase(0.999)]
    public void GivenASnapshotRightAfterSubmissionMidRunOrAtTheEnd_WhenRestored_ThenItContinuesAsTheUninterruptedRun(double fraction)
    {
        var r = Reference.Value;
        Check(r.SubmittedAt + (ulong)((r.EndedAt - r.SubmittedAt) * fraction));
    }

    [Test]
    public void GivenARestoredMachine_WhenSavedAgain_ThenTheStreamIsIdenticalAndSoIsTheNextRoundTrip()
    {
        var r = Reference.Value;
        var (m, _, _, _) = MachineSaveStateWorkload.Build(new TraceRecorder(), x => new InterruptLog(x));
        byte[] first;
        using (m)
        {
            m.RunUntil(() => m.Now >= r.SubmittedAt + (r.EndedAt - r.SubmittedAt) / 3);
            first = MachineSaveStateWorkload.Save(m);
            SameBytes(MachineSaveStateWorkload.Save(m), first, "saving does not change the machine");
        }
        byte[] second, third;
        using (var restored = MachineSaveStateWorkload.Restore(first)) second = MachineSaveStateWorkload.Save(restored);
        using (var again = MachineSaveStateWorkload.Restore(second)) third = MachineSaveStateWorkload.Save(again);
        SameBytes(second, first, "a restored machine saves the stream it was restored from");
        SameBytes(third, first, "and so does the next round trip");
    }

    [Test]
    public void GivenARestoredMachine_WhenLookingUpTheSavedObjects_ThenContextsProcessesAllocationsAndSubmissionsAreThereUnderTheirIds()
    {
        var r = Reference.Value;
        var (m, allocations, submissions, mutex) = MachineSaveStateWorkload.Build(new TraceRecorder(), x => new InterruptLog(x));
        byte[] state;
        using (m)
        {
            m.RunUntil(() => m.Now >= r.SubmittedAt + (r.EndedAt - r.SubmittedAt) / 2);
            state = MachineSaveStateWorkload.Save(m);
        }
        using var restored = MachineSaveStateWorkload.Restore(state);

        Assert.That(restored.InterruptTap, Is.Null, "host attachments are not saved");
        foreach (var (c, id) in submissions)
        {
            var ctx = restored.Schedulers.Select(s => s?.FindContext(c)).Single(x => x is not null)!;
            Assert.That(ctx.StatusOf(id), Is.Not.EqualTo(SubmissionStatus.Unknown), $"context {c} submission {id}");
            Assert.That(restored.Kmd.Process(ctx.ProcessId).TryGetSize(allocations[0], out _) || ctx.ProcessId != 1, Is.True);
        }
        foreach (var a in allocations) Assert.That(restored.VidMm.IsLive(a), Is.True, $"{a} is live under its saved handle");
        Assert.That(restored.Scheduler.QuerySynchronizationObject(mutex).Kind, Is.EqualTo(SyncObjectKind.Mutex), "the mutex under its saved handle");
        Assert.That(restored.RunUntilIdle(), Is.True);
        foreach (var (c, id) in submissions)
            Assert.That(restored.Schedulers.Select(s => s?.FindContext(c)).Single(x => x is not null)!.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));

        // The caller goes on with the restored objects: a new submission on a looked-up context, under the mutex.
        var (firstContext, _) = submissions.First(x => restored.Scheduler.FindContext(x.Context)?.ProcessId == 1);
        var context = restored.Scheduler.FindContext(firstContext)!;
        var target = allocations.First(a => restored.Kmd.Process(1).TryGetSize(a, out _));
        restored.Kmd.WaitOnSingleObject(1, context, mutex);
        var sink = new CapturingSink();
        var builder = new Coproc.Fast.Driver.Umd.CommandBufferBuilder(sink);
        builder.Fill(target, 0, 0x600D_F00Du, 4096, resourceId: 0);
        builder.Flush();
        long next = restored.Kmd.Submit(1, context, sink.Commands, sink.References);
        restored.Kmd.SignalObject(1, context, mutex);
        Assert.That(restored.RunUntilIdle(), Is.True);
        Assert.That(context.StatusOf(next), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(MachineSaveStateWorkload.Read(restored, target).Take(4096).Chunk(4).Select(b => BitConverter.ToUInt32(b)), Is.All.EqualTo(0x600D_F00Du));
    }

    private static void Check(ulong at)
    {
        var r = Reference.Value;
        var trace = new TraceRecorder();
        InterruptLog? log = null;
        var (m, allocations, _, _) = MachineSaveStateWorkload.Build(trace, x => log = new InterruptLog(x));
        byte[] state;
        int traceBefore;
        using (m)
        {
            m.RunUntil(() => m.Now >= at);
            state = MachineSaveStateWorkload.Save(m);
            traceBefore = trace.Events.Count;
        }
        Assert.That(trace.Events, Is.EqualTo(r.Trace.Take(traceBefore)), "the run before the snapshot is the reference's");

        using var restored = MachineSaveStateWorkload.Restore(state);
        var traceAfter = new TraceRecorder();
        var logAfter = new InterruptLog(restored);
        restored.SetObserver(traceAfter);
        restored.InterruptTap = logAfter;
        Assert.That(restored.RunUntilIdle(), Is.True);

        Assert.That(log!.Records.Concat(logAfter.Records), Is.EqualTo(r.Interrupts), $"interrupts after a snapshot at {at}");
        Assert.That(traceAfter.Events, Is.EqualTo(r.Trace.Skip(traceBefore)), $"trace after a snapshot at {at}");
        for (int i = 0; i < allocations.Count; i++)
            SameBytes(MachineSaveStateWorkload.Read(restored, allocations[i]), r.Bytes[i], $"allocation {allocations[i]} after a snapshot at {at}");
        SameBytes(MachineSaveStateWorkload.Save(restored), r.FinalState, $"the whole state at the end after a snapshot at {at}");
    }

    // Byte arrays of tens of MiB: compared as spans, reporting the first difference.
    internal static void SameBytes(byte[] actual, byte[] expected, string what)
    {
        int n = Math.Min(actual.Length, expected.Length);
        int first = actual.AsSpan(0, n).CommonPrefixLength(expected.AsSpan(0, n));
        Assert.That(first == n && actual.Length == expected.Length, Is.True,
            $"{what}: lengths {actual.Length} / {expected.Length}, first difference at byte {first}");
    }
}
