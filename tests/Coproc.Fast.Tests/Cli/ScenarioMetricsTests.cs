using System.Diagnostics.Metrics;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

/// <summary>
/// The library's counters during real scenario runs: the driver (VidSch, the ring-0 gate, the UMD's
/// user queue) increments them as it works, so a <see cref="MeterListener"/> — what dotnet-counters and OpenTelemetry
/// use — sees submissions, fences, preemptions, bytes paged, doorbells and faults.
/// </summary>
public class ScenarioMetricsTests
{
    private static Dictionary<string, long> Measure(Scenario scenario)
    {
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == CoprocMetrics.MeterName) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (seen) seen[instrument.Name] = seen.GetValueOrDefault(instrument.Name) + value;
        });
        listener.Start();
        new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        return seen;
    }

    [Test]
    public void ShortDemo_WithAMeterListener_SeesTheDriverCountSubmissionsFencesPreemptionsPagingAndDoorbells()
    {
        // Given the demo's first five vsyncs (a ring-3 decoder, a preempted game, more allocations than local memory),
        var scenario = ScenarioLoader.Load(RunCommand.DemoScenarioJson(), "demo.json") with { DurationCycles = 85_000_000 };
        // when it runs with a meter listener attached,
        var seen = Measure(scenario);
        // then every instrument the run exercises has moved.
        foreach (var name in new[] { "coproc.submissions", "coproc.ring0_entries", "coproc.doorbells", "coproc.fences_signaled",
                     "coproc.dma_buffers_completed", "coproc.preemptions", "coproc.context_switches", "coproc.bytes_paged", "coproc.device_cycles" })
            Assert.That(seen.GetValueOrDefault(name), Is.GreaterThan(0), name);
        Assert.That(seen["coproc.submissions"], Is.GreaterThanOrEqualTo(seen["coproc.dma_buffers_completed"]));
    }

    [Test]
    public void MisbehavingScenario_WithAMeterListener_CountsTheHungContextsReset_AsAFault()
    {
        var seen = Measure(ScenarioLoader.Load(VidSchScenarioRunnerTests.Misbehaving));
        Assert.That(seen.GetValueOrDefault("coproc.faults"), Is.GreaterThan(0), "the hung WAIT's timeout reset");
    }
}
