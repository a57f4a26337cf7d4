using System.Diagnostics.Metrics;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Tests.Cli;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// The meter as dotnet-counters and OpenTelemetry see it during a run: <c>coproc.device_cycles</c> moves while a
/// threaded run is under way (not in one lump at its end), and the submit-to-start latency histogram records each
/// buffer as it starts.
/// </summary>
[NonParallelizable] // the meter is process-wide
public class LiveMetricsTests
{
    private const string Threaded = """
    {
      "name": "live-counters", "seed": 9, "mode": "threaded", "duration_cycles": 4000000000,
      "options": { "vsync_period_cycles": 0, "local_memory_bytes": 67108864, "system_memory_bytes": 67108864 },
      "processes": [
        { "name": "app", "allocations": [ { "name": "b", "bytes": 1048576, "count": 2 } ],
          "contexts": [ { "name": "draw", "engine": "render", "priority": 8, "kind": "generic",
            "submission": { "path": "ring0", "count": 48, "bytes": 512, "period_cycles": 100000, "start_cycle": 0, "work_cycles": 200000,
                            "packets": { "draw_rects": 1, "fill": 1, "fence": 1 }, "buffers_in_flight": 2 } } ] }
      ]
    }
    """;

    private static MeterListener Listen(string instrumentName, List<long> values)
    {
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == CoprocMetrics.MeterName && instrument.Name == instrumentName) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => { lock (values) values.Add(value); });
        listener.Start();
        return listener;
    }

    [Test]
    [CancelAfter(120_000)] // a failure guard only: the run takes well under a second
    public void ThreadedRun_DeviceCycles_IsAddedAsTheDeviceAdvances_AndSumsToTheCyclesRun()
    {
        // Given a threaded run of 48 buffers of 200,000 cycles, two in flight at a time (the device advances in many steps),
        var values = new List<long>();
        ScenarioReport report;
        using (Listen("coproc.device_cycles", values))
        {
            // when it runs with a listener attached,
            report = new VidSchScenarioRunner().Run(ScenarioLoader.Load(Threaded), new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        }
        // then the counter was added to many times during the run, adding up to exactly the cycles the run reports.
        Assert.That(report.Rows.Single().BuffersCompleted, Is.EqualTo(48));
        Assert.That(values, Has.Count.GreaterThan(1), "added during the run, not once at its end");
        Assert.That(values, Has.All.GreaterThan(0));
        Assert.That(values.Sum(), Is.EqualTo((long)report.CyclesRun));
    }

    [Test]
    public void ShortDemo_LatencyHistogram_RecordsEachStartedBuffer_InDeviceCycles()
    {
        var values = new List<long>();
        ScenarioReport report;
        using (Listen("coproc.submit_to_start_latency", values))
        {
            var scenario = ScenarioLoader.Load(RunCommand.DemoScenarioJson(), "demo.json") with { DurationCycles = 85_000_000 };
            report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        }
        // The report's percentiles come from a bounded histogram (Diagnostics/LatencyHistogram): each is at least the
        // exact nearest-rank sample and at most 1/128 above it, so every context's p50 and p99 lies within that bound
        // above some value the instrument recorded.
        Assert.That(values, Has.Count.GreaterThan(0));
        Assert.That(values, Has.All.GreaterThanOrEqualTo(0));
        foreach (var row in report.Rows.Where(r => r.SubmitToStartP99Cycles > 0))
        {
            Assert.That(values.Any(v => CoveredBy(v, row.SubmitToStartP50Cycles)), $"{row.Process} / {row.Context} p50 {row.SubmitToStartP50Cycles}");
            Assert.That(values.Any(v => CoveredBy(v, row.SubmitToStartP99Cycles)), $"{row.Process} / {row.Context} p99 {row.SubmitToStartP99Cycles}");
        }

        static bool CoveredBy(long recorded, ulong percentile) =>
            (ulong)recorded <= percentile && percentile <= (ulong)recorded + (ulong)recorded / 128;
    }

    [Test]
    public void SoakScenario_IsAValidLongThreadedMix_ForWatchingWithDotnetCounters()
    {
        var soak = ScenarioLoader.LoadFile(RepoFiles.Scenario("soak.json"));
        Assert.That(soak.Mode, Is.EqualTo(RunMode.Threaded));
        Assert.That(soak.DurationCycles, Is.GreaterThanOrEqualTo(60UL * 1_000_000_000), "at least a minute of device time at 1 GHz");
        Assert.That(soak.Contexts.Select(c => c.Context.Submission.Path).Distinct().Count(), Is.EqualTo(2), "ring-0 and ring-3 submitters");
    }
}
