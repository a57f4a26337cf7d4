using System.Text.Json;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Diagnostics;

public class ChromeTraceWriterTests
{
    private static JsonElement[] Events(TraceSnapshot trace)
    {
        using var ms = new MemoryStream();
        ChromeTraceWriter.Write(ms, trace);
        using var doc = JsonDocument.Parse(ms.ToArray());
        return doc.RootElement.GetProperty("traceEvents").EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    private static string? Cat(JsonElement e) => e.TryGetProperty("cat", out var c) ? c.GetString() : null;

    [Test]
    public void Trace_IsValidJson_WithOneNamedThreadPerTrack_AndProcessNames()
    {
        var trace = SampleTrace.Build();
        var events = Events(trace);

        var threads = events.Where(e => e.GetProperty("ph").GetString() == "M" && e.GetProperty("name").GetString() == "thread_name")
            .Select(e => e.GetProperty("args").GetProperty("name").GetString()).ToArray();
        Assert.That(threads, Is.EquivalentTo(trace.Tracks.Select(t => t.Name)), "no track of the sample overlaps itself: one lane each");
        var processes = events.Where(e => e.GetProperty("name").GetString() == "process_name")
            .Select(e => e.GetProperty("args").GetProperty("name").GetString()).ToArray();
        Assert.That(processes, Is.EquivalentTo(new[] { "device", "compositor (pid 1)", "game & co (pid 2)" }));
    }

    [Test]
    public void Trace_HasTheExpectedPhases_WithMicrosecondTimestampsFromCyclesAt1GHz()
    {
        var events = Events(SampleTrace.Build());
        var phases = events.Select(e => e.GetProperty("ph").GetString()).Distinct().ToArray();
        Assert.That(phases, Is.EquivalentTo(new[] { "M", "X", "i", "C" }), "begin/end pairs are written as complete slices");
        var frame = events.Single(e => e.GetProperty("name").GetString() == "frame <1>" && e.GetProperty("pid").GetInt32() == ChromeTraceWriter.Pid(2));
        Assert.That(frame.GetProperty("ts").GetDouble(), Is.EqualTo(0.5));
        Assert.That(frame.GetProperty("dur").GetDouble(), Is.EqualTo(3.5));

        var paging = events.Single(e => Cat(e) == "paging_buffer");
        Assert.That(paging.GetProperty("ph").GetString(), Is.EqualTo("X"));
        Assert.That(paging.GetProperty("ts").GetDouble(), Is.EqualTo(2.0));   // 2,000 cycles at 1 GHz
        Assert.That(paging.GetProperty("dur").GetDouble(), Is.EqualTo(0.8));
        Assert.That(paging.GetProperty("tid").GetInt32(), Is.EqualTo(ChromeTraceWriter.Tid(1)));

        var counter = events.Where(e => e.GetProperty("ph").GetString() == "C").Last();
        Assert.That(counter.GetProperty("name").GetString(), Is.EqualTo("local memory resident"));
        Assert.That(counter.GetProperty("args").EnumerateObject().Single().Name, Is.EqualTo("bytes"), "the one key is the unit");
        Assert.That(counter.GetProperty("args").GetProperty("bytes").GetInt64(), Is.EqualTo(2 << 20));

        var fault = events.Single(e => e.GetProperty("ph").GetString() == "i" && Cat(e) == "fault");
        Assert.That(fault.GetProperty("s").GetString(), Is.EqualTo("t"));
        Assert.That(fault.GetProperty("args").GetProperty("context").GetUInt32(), Is.EqualTo(2u));
        Assert.That(fault.GetProperty("args").GetProperty("id").GetString(), Is.EqualTo("16384"), "ids are strings");
    }

    [Test]
    public void Trace_LinksEachQueuedBuffer_FromASubmitSliceAtItsSubmission_ToItsFirstEngineSlice()
    {
        var events = Events(SampleTrace.Build());
        var submit = events.Single(e => e.GetProperty("name").GetString() == "submit");
        Assert.That(submit.GetProperty("ts").GetDouble(), Is.EqualTo(0.0), "the compositor's buffer was submitted at cycle 0");
        Assert.That(submit.GetProperty("flow_out").GetBoolean(), Is.True);
        string id = submit.GetProperty("bind_id").GetString()!;
        var run = events.Single(e => e.TryGetProperty("flow_in", out _));
        Assert.That(run.GetProperty("bind_id").GetString(), Is.EqualTo(id));
        Assert.That(run.GetProperty("tid").GetInt32(), Is.EqualTo(ChromeTraceWriter.Tid(0)), "on the render engine");
        Assert.That(run.GetProperty("ts").GetDouble(), Is.EqualTo(1.0));
    }

    [Test]
    public void Trace_OfTheSampleSnapshot_PassesTheValidator()
    {
        using var ms = new MemoryStream();
        ChromeTraceWriter.Write(ms, SampleTrace.Build());
        var summary = TraceEventValidator.Validate(ms.ToArray());
        Assert.That(summary.Problems, Is.Empty, TraceEventValidator.Describe(summary));
    }

    [Test]
    public void Trace_OfTheSameSnapshot_IsByteIdentical()
    {
        var trace = SampleTrace.Build();
        using var a = new MemoryStream();
        using var b = new MemoryStream();
        ChromeTraceWriter.Write(a, trace);
        ChromeTraceWriter.Write(b, SampleTrace.Build());
        Assert.That(b.ToArray(), Is.EqualTo(a.ToArray()));
    }
}
