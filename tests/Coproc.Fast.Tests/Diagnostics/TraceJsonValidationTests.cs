using System.Text;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// The trace.json of every shipped scenario obeys the trace-event rules viewers enforce (see
/// <see cref="TraceEventValidator"/>), and the validator itself rejects what it must.
/// </summary>
public class TraceJsonValidationTests
{
    private static IEnumerable<string> Scenarios() => ShippedScenarioTraces.Names();

    [TestCaseSource(nameof(Scenarios))]
    public void ShippedScenario_TraceJson_NestsOnEveryThread_NamesEveryThread_AndLinksSubmissionsToExecution(string scenario)
    {
        // Given a shipped scenario run as `coproc run` runs it,
        var (report, files) = ShippedScenarioTraces.Get(scenario);
        // when its trace.json is validated,
        var summary = TraceEventValidator.Validate(File.ReadAllBytes(files.TraceJson));
        // then nothing breaks the format's rules, and buffers that ran have arrows from their submission.
        Assert.That(summary.Problems, Is.Empty, TraceEventValidator.Describe(summary));
        Assert.That(summary.Slices, Is.GreaterThan(0));
        if (report.Rows.Sum(r => r.BuffersCompleted) > 0) Assert.That(summary.Flows, Is.GreaterThan(0), "flows from submission to execution");
    }

    [Test]
    public void OverlappingQueuedBuffers_GoToSeparateThreads_SoEveryThreadNests()
    {
        // Given three buffers outstanding at once in one context's queue (the case Perfetto dropped),
        var r = new TraceRecorder();
        int q = r.DefineTrack(TraceTrackKind.ContextQueue, "game / ctx 2", 2, "game", 2);
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "queued", 0, 100, 2, 2, id: 1));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "queued", 10, 100, 2, 2, id: 2));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "queued", 20, 100, 2, 2, id: 3));
        r.Emit(TraceEvent.Slice(q, TraceCategory.DmaBuffer, "queued", 100, 50, 2, 2, id: 4));
        // when written,
        using var ms = new MemoryStream();
        ChromeTraceWriter.Write(ms, r.Snapshot());
        var summary = TraceEventValidator.Validate(ms.ToArray());
        // then the slices sit on three named threads ("game / ctx 2", "#2", "#3") and nest on each.
        Assert.That(summary.Problems, Is.Empty, TraceEventValidator.Describe(summary));
        Assert.That(summary.Threads, Is.EqualTo(3));
        string json = Encoding.UTF8.GetString(ms.ToArray());
        Assert.That(json, Does.Contain("\"game / ctx 2 #3\""));
    }

    [Test]
    public void Validator_RejectsOverlapWithoutNesting_LargeIntegers_NumericIds_UnnamedThreads_AndRepeatedCounterNames()
    {
        const string bad = """
            {"traceEvents":[
              {"name":"process_name","ph":"M","pid":1,"args":{"name":"device"}},
              {"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"render"}},
              {"name":"a","cat":"x","ph":"X","ts":0,"dur":10,"pid":1,"tid":1,"args":{}},
              {"name":"b","cat":"x","ph":"X","ts":5,"dur":10,"pid":1,"tid":1,"args":{"id":4611686018427387904}},
              {"name":"c","cat":"x","ph":"X","ts":5,"dur":1,"pid":1,"tid":7,"args":{}},
              {"name":"resident_bytes","cat":"x","ph":"C","ts":5,"pid":1,"args":{"resident_bytes":3}}
            ]}
            """;
        var problems = TraceEventValidator.Validate(Encoding.UTF8.GetBytes(bad)).Problems;
        Assert.That(problems, Has.Some.Contains("without nesting"));
        Assert.That(problems, Has.Some.Contains("beyond 2^53"));
        Assert.That(problems, Has.Some.Contains("args.id is not a string"));
        Assert.That(problems, Has.Some.Contains("thread 7 of process 1 has no thread_name"));
        Assert.That(problems, Has.Some.Contains("repeats the name"));
    }
}
