using System.Text.Json;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidSch;
using CapturingSink = Coproc.Fast.Tests.Scheduling.CapturingSink;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;

namespace Coproc.Fast.Tests.Audit;

/// <summary>
/// Audit of the Coproc.Fast.Scenarios library used from code (docs/scenarios.md "From code") and of the threaded
/// machine through its public API (docs/concepts.md "Two ways to run", docs/embedding.md).
/// </summary>
public class ScenarioLibraryAuditTests
{
    private const string Tiny = """
    {
      "name": "tiny", "seed": 7, "duration_cycles": 4000000000,
      "options": { "vsync_period_cycles": 0, "local_memory_bytes": 67108864, "system_memory_bytes": 67108864 },
      "processes": [
        { "name": "app", "allocations": [ { "name": "b", "bytes": 1048576 } ],
          "contexts": [ { "name": "draw", "engine": "render", "priority": 8, "kind": "generic",
            "submission": { "path": "ring0", "count": 8, "bytes": 512, "period_cycles": 100000, "start_cycle": 0, "work_cycles": 50000,
                            "packets": { "draw_rects": 1, "fill": 1, "fence": 1 }, "buffers_in_flight": 2 } } ] }
      ]
    }
    """;

    private static ScenarioReport RunTiny(ulong? seed = null, CancellationToken cancellation = default) =>
        new VidSchScenarioRunner().Run(ScenarioLoader.Load(Tiny), new ScenarioRunOptions(new TraceRecorder(), Seed: seed) { TimeLimit = TimeSpan.FromMinutes(1) },
            progress: null, cancellation);

    [TestCase("")]
    [TestCase("   ")]
    [TestCase("null")]
    [TestCase("[]")]
    public void Load_EmptyOrNonObjectJson_ThrowsScenarioValidationException(string json)
    {
        Assert.That(() => ScenarioLoader.Load(json), Throws.TypeOf<ScenarioValidationException>());
    }

    [Test]
    public void Load_DeeplyNestedJson_ThrowsScenarioValidationException_NotAnotherException()
    {
        string json = "{\"name\":" + new string('[', 2000) + new string(']', 2000) + "}";
        Assert.That(() => ScenarioLoader.Load(json), Throws.TypeOf<ScenarioValidationException>());
    }

    [Test]
    public void SameScenarioAndSeed_GiveTheSameJsonReport()
    {
        static string Json(ScenarioReport r) { var w = new StringWriter(); ReportFormats.WriteJson(w, r, null); return w.ToString(); }
        var a = RunTiny(seed: 11);
        var b = RunTiny(seed: 11);
        Assert.That(a.Stop, Is.EqualTo(RunStop.Completed));
        Assert.That(a.Rows.Single().BuffersCompleted, Is.EqualTo(8));
        Assert.That(Json(b), Is.EqualTo(Json(a)));
        Assert.That(a.Seed, Is.EqualTo(11UL), "the options' seed overrides the scenario's");
    }

    [Test]
    public void AlreadyCancelledToken_StopsTheRun_AndTheReportSaysCancelled()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var report = RunTiny(cancellation: cts.Token);
        Assert.That(report.Stop, Is.EqualTo(RunStop.Cancelled));
        Assert.That(report.CyclesRun, Is.LessThan(report.DurationCycles));
    }

    [Test]
    [CancelAfter(120_000)] // failure guard only
    public void RunOptions_ModeModelAndTimeLimit_OverrideTheScenario_AndTheReportSaysSo()
    {
        var scenario = ScenarioLoader.Load(Tiny);
        var runner = new VidSchScenarioRunner();

        // A zero time limit stops the run before its first step, with a note.
        var zero = runner.Run(scenario, new ScenarioRunOptions(new TraceRecorder()) { TimeLimit = TimeSpan.Zero }, null, CancellationToken.None);
        Assert.That(zero.Stop, Is.EqualTo(RunStop.TimeLimit));
        Assert.That(zero.CyclesRun, Is.Zero);

        // Mode threaded with a token already cancelled: the report says threaded and cancelled.
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var threaded = runner.Run(scenario, new ScenarioRunOptions(new TraceRecorder(), Mode: RunMode.Threaded) { TimeLimit = TimeSpan.FromMinutes(1) }, null, cts.Token);
        Assert.That(threaded.Mode, Is.EqualTo(RunMode.Threaded));
        Assert.That(threaded.Stop, Is.EqualTo(RunStop.Cancelled));

        // The model option wins over the scenario's.
        var other = scenario.Model == SchedulingModel.Basic ? SchedulingModel.Advanced : SchedulingModel.Basic;
        var options = new ScenarioRunOptions(new TraceRecorder()) { TimeLimit = TimeSpan.FromMinutes(1), Model = other };
        Assert.That(runner.CheckSetup(scenario, options), Is.Empty);
        var modelled = runner.Run(scenario, options, null, CancellationToken.None);
        Assert.That(modelled.Model, Is.EqualTo(other));
        Assert.That(modelled.Rows.Single().BuffersCompleted, Is.EqualTo(8));
    }

    private const string Odd = "a \"quoted\", comma\r\nnew line \u00e9\u4e2d\U0001F600";

    [Test]
    public void WriteJson_OddNames_GiveValidJson_ThatRoundTripsTheNames()
    {
        var report = RunTiny();
        report = report with { ScenarioName = Odd, Rows = [report.Rows.Single() with { Process = Odd, Context = Odd + "\t\u0001" }], Notes = [Odd] };
        var w = new StringWriter();
        ReportFormats.WriteJson(w, report, new RenderedFiles(Odd, Odd, Odd, null));
        using var doc = JsonDocument.Parse(w.ToString());
        Assert.That(doc.RootElement.GetProperty("scenario").GetString(), Is.EqualTo(Odd));
        var row = doc.RootElement.GetProperty("contexts")[0];
        Assert.That(row.GetProperty("process").GetString(), Is.EqualTo(Odd));
        Assert.That(row.GetProperty("context").GetString(), Is.EqualTo(Odd + "\t\u0001"));
        Assert.That(doc.RootElement.GetProperty("files").GetProperty("frame_png").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public void WriteCsv_OddNames_AreQuotedPerRfc4180_AndParseBack()
    {
        var report = RunTiny();
        report = report with { Rows = [report.Rows.Single() with { Process = Odd, Context = "plain \u00e9" }] };
        foreach (bool many in new[] { false, true })
        {
            var w = new StringWriter();
            if (many) ReportFormats.WriteCsv(w, [report]); else ReportFormats.WriteCsv(w, report);
            var records = ParseCsv(w.ToString());
            int offset = many ? 1 : 0;
            Assert.That(records, Has.Count.EqualTo(2), "header and one row, the embedded newline quoted");
            Assert.That(records[1], Has.Count.EqualTo(records[0].Count));
            Assert.That(records[1][offset], Is.EqualTo(Odd));
            Assert.That(records[1][offset + 1], Is.EqualTo("plain \u00e9"));
        }
    }

    // A strict RFC 4180 reader: fields separated by commas, records by CRLF or LF outside quotes.
    private static List<List<string>> ParseCsv(string text)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"') { if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; } else quoted = false; }
                else field.Append(c);
                continue;
            }
            if (c == '"') { Assert.That(field.Length, Is.Zero, "a quote only opens a field"); quoted = true; any = true; }
            else if (c == ',') { record.Add(field.ToString()); field.Clear(); any = true; }
            else if (c == '\r' || c == '\n')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                record.Add(field.ToString()); field.Clear(); records.Add(record); record = []; any = false;
            }
            else { field.Append(c); any = true; }
        }
        Assert.That(quoted, Is.False, "every quote closed");
        if (any || field.Length > 0) { record.Add(field.ToString()); records.Add(record); }
        return records;
    }

    [Test]
    [CancelAfter(60_000)] // failure guard only
    public void ThreadedMachine_StartTwice_WaitZeroOrNegative_DeterministicCallsRefused_DisposeWhileRunning()
    {
        var machine = new Machine(new MachineOptions { Mode = MachineRunMode.Threaded });
        try
        {
            machine.Start();
            Assert.That(() => machine.Start(), Throws.Nothing, "a second Start is harmless");
            Assert.That(() => machine.WaitUntilIdle(TimeSpan.Zero), Throws.Nothing);
            Assert.That(() => machine.WaitUntilIdle(TimeSpan.FromMilliseconds(-5)), Throws.Nothing);
            Assert.That(machine.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "an empty machine is idle");
            Assert.That(() => machine.RunUntilIdle(), Throws.InvalidOperationException);
            Assert.That(() => machine.RunFor(10), Throws.InvalidOperationException);
            Assert.That(() => machine.RunUntil(() => true), Throws.InvalidOperationException);
        }
        finally { machine.Dispose(); }
        Assert.That(() => machine.Dispose(), Throws.Nothing, "Dispose twice");
        Assert.That(() => machine.Start(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => machine.WaitUntilIdle(TimeSpan.Zero), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(machine.ThreadFailure, Is.Null);
    }

    [Test]
    [CancelAfter(120_000)] // failure guard only
    public void ThreadedMachine_TwoThreadsSubmittingToOneContextAtOnce_EveryBufferCompletes()
    {
        const int PerThread = 40;
        using var machine = new Machine(new MachineOptions { Mode = MachineRunMode.Threaded });
        var ctx = machine.CreateContext(1);
        var mem = machine.AllocateManaged(1, ctx, 64 * 1024);
        machine.Start();
        var ids = new long[2][];
        using var go = new Barrier(2);
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            ids[t] = new long[PerThread];
            var sink = new CapturingSink();
            var b = new CommandBufferBuilder(sink, capacityDwords: 1024, capacityReferences: 64);
            go.SignalAndWait(TimeSpan.FromSeconds(30));
            for (int i = 0; i < PerThread; i++)
            {
                b.WriteData(mem, (ulong)(t * PerThread + i) * 4, [(uint)i]);
                b.Flush();
                ids[t][i] = machine.Kmd.Submit(1, ctx, sink.Commands, sink.References);
            }
        })).ToArray();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) Assert.That(th.Join(TimeSpan.FromSeconds(60)), Is.True, "submitters finished");
        Assert.That(machine.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True, "every buffer retired");
        var all = ids.SelectMany(x => x).ToArray();
        Assert.That(all, Is.Unique, "each submission has its own id");
        Assert.That(all.Select(ctx.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(machine.ThreadFailure, Is.Null);
    }

    // docs/embedding.md line 299: "A disposed machine throws ObjectDisposedException". Machine.Kmd.Submit after Dispose
    // threw PhysicalAccessFaultException ("outside System memory of 0x0 bytes") from the freed device memory instead;
    // fixed in DeviceMemory (a checked access to disposed memory throws ObjectDisposedException).
    [Test]
    [CancelAfter(60_000)] // failure guard only
    public void ThreadedMachine_SaveStateRefused_NothingWritten_AndSubmitAfterDisposeThrowsObjectDisposed()
    {
        var machine = new Machine(new MachineOptions { Mode = MachineRunMode.Threaded });
        var ctx = machine.CreateContext(1);
        var mem = machine.AllocateManaged(1, ctx, 64 * 1024);
        machine.Start();
        using (var stream = new MemoryStream())
        {
            Assert.That(() => machine.SaveState(stream), Throws.TypeOf<MachineStateException>());
            Assert.That(stream.Length, Is.Zero, "nothing written to the stream");
        }
        var sink = new CapturingSink();
        var b = new CommandBufferBuilder(sink, capacityDwords: 1024, capacityReferences: 64);
        b.WriteData(mem, 0, [1u]);
        b.Flush();
        machine.Dispose();
        Assert.That(() => machine.Kmd.Submit(1, ctx, sink.Commands, sink.References), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void DeterministicMachine_Start_ThrowsInvalidOperationException()
    {
        using var machine = new Machine(new MachineOptions());
        Assert.That(() => machine.Start(), Throws.InvalidOperationException);
        Assert.That(machine.RunUntilIdle(), Is.True);
    }
}

/// <summary>
/// A disposed device holds no memory, even when its system memory is the host's guest RAM in several ranges (which
/// Dispose leaves allocated: the host's): no accessor reaches any range afterwards, the device never writes the host's
/// RAM for a caller that still holds the disposed machine.
/// </summary>
public class DisposedGuestRamAuditTests
{
    [Test]
    public unsafe void ADisposedDevice_OverTwoHostRanges_ReachesNeitherRange()
    {
        using var low = Coproc.Fast.Device.Memory.NativeRegion.Allocate(1UL << 20);
        using var high = Coproc.Fast.Device.Memory.NativeRegion.Allocate(1UL << 20);
        var ranges = new[] { new Coproc.Fast.Device.Memory.GuestRamRange(0, low), new Coproc.Fast.Device.Memory.GuestRamRange(1UL << 32, high) };
        var device = new Coproc.Fast.Device.Core.Coprocessor(new Coproc.Fast.Device.Core.CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 2UL << 20 }, ranges);
        var memory = device.Memory;
        Assert.That(memory.TryPointer(Coproc.Fast.Device.Memory.MemoryLocation.System, (1UL << 32) + 16, 4) != null, "the high range is reachable while the device lives");

        device.Dispose();

        Assert.That(memory.TryPointer(Coproc.Fast.Device.Memory.MemoryLocation.System, 16, 4) == null, "the low range");
        Assert.That(memory.TryPointer(Coproc.Fast.Device.Memory.MemoryLocation.System, (1UL << 32) + 16, 4) == null, "the high range");
        Assert.That(high.Length, Is.EqualTo(1UL << 20), "the host's RAM stays the host's");
    }
}
