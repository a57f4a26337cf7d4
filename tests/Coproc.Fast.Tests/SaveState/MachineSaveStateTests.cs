using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
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
        var (m, allocations, submissions) = MachineSaveStateWorkload.Build(trace, x => log = new InterruptLog(x));
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
    public void GivenTheWorkload_WhenRunUninterrupted_ThenItPagesSwitchesAndWaitsOnTheMutex()
    {
        var r = Reference.Value;
        Assert.That(r.Trace.Count(e => e.Kind == ScheduleEventKind.PagingBuffer), Is.GreaterThan(5), "managed allocations exceed local memory");
        Assert.That(r.Trace.Count(e => e.Kind == ScheduleEventKind.ContextSwitched), Is.GreaterThan(10));
        Assert.That(r.Trace.Count(e => e.Kind == ScheduleEventKind.ContextWaiting), Is.GreaterThan(0), "a context waited on the mutex");
        Assert.That(r.Interrupts.Count, Is.GreaterThan(20));
        Assert.That(r.EndedAt - r.SubmittedAt, Is.GreaterThan(100_000UL));
    }

    [Test]
    public void GivenASnapshotMidRun_WhenRestored_ThenItContinuesAsTheUninterruptedRun()
    {
        var r = Reference.Value;
        Check(r.SubmittedAt + (r.EndedAt - r.SubmittedAt) / 2);
    }

    private static void Check(ulong at)
    {
        var r = Reference.Value;
        var trace = new TraceRecorder();
        InterruptLog? log = null;
        var (m, allocations, _) = MachineSaveStateWorkload.Build(trace, x => log = new InterruptLog(x));
        byte[] state;
        int traceBefore, interruptsBefore;
        using (m)
        {
            m.RunUntil(() => m.Now >= at);
            state = MachineSaveStateWorkload.Save(m);
            traceBefore = trace.Events.Count;
            interruptsBefore = log!.Records.Count;
        }
        Assert.That(trace.Events, Is.EqualTo(r.Trace.Take(traceBefore)), "the run before the snapshot is the reference's");

        using var restored = MachineSaveStateWorkload.Restore(state);
        var traceAfter = new TraceRecorder();
        var logAfter = new InterruptLog(restored);
        restored.SetObserver(traceAfter);
        restored.InterruptTap = logAfter;
        Assert.That(restored.RunUntilIdle(), Is.True);

        Assert.That(log.Records.Concat(logAfter.Records), Is.EqualTo(r.Interrupts), $"interrupts after a snapshot at {at}");
        Assert.That(traceAfter.Events, Is.EqualTo(r.Trace.Skip(traceBefore)), $"trace after a snapshot at {at}");
        for (int i = 0; i < allocations.Count; i++)
            Assert.That(MachineSaveStateWorkload.Read(restored, allocations[i]), Is.EqualTo(r.Bytes[i]), $"allocation {allocations[i]} after a snapshot at {at}");
        Assert.That(MachineSaveStateWorkload.Save(restored), Is.EqualTo(r.FinalState), $"the whole state at the end after a snapshot at {at}");
    }
}
