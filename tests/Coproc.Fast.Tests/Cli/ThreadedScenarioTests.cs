using Coproc.Cli;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

/// <summary>
/// <c>"mode": "threaded"</c> scenarios (docs/scenarios.md, "Running modes"): the machine's device, scheduler and preparation threads run
/// freely while the runner submits from its own thread. Results vary from run to run, so the tests check only what
/// must hold in every interleaving: every buffer retires, and the report says it ran threaded.
/// </summary>
public class ThreadedScenarioTests
{
    private const string Small = """
    {
      "name": "small-threaded", "seed": 5, "mode": "threaded", "duration_cycles": 4000000000,
      "options": { "vsync_period_cycles": 0, "local_memory_bytes": 67108864, "system_memory_bytes": 67108864 },
      "processes": [
        { "name": "ring0 app", "allocations": [ { "name": "b", "bytes": 1048576, "count": 2 } ],
          "contexts": [ { "name": "draw", "engine": "render", "priority": 8, "kind": "generic",
            "submission": { "path": "ring0", "count": 24, "bytes": 512, "period_cycles": 100000, "start_cycle": 0, "work_cycles": 50000,
                            "packets": { "draw_rects": 1, "fill": 1, "fence": 1 }, "buffers_in_flight": 3 } } ] },
        { "name": "ring0 compute", "allocations": [ { "name": "b", "bytes": 1048576 } ],
          "contexts": [ { "name": "saxpy", "engine": "compute", "priority": 4, "kind": "compute",
            "submission": { "path": "ring0", "count": 16, "bytes": 512, "period_cycles": 0, "start_cycle": 0, "work_cycles": 80000,
                            "packets": { "dispatch": 1, "fence": 1 }, "buffers_in_flight": 2 } } ] },
        { "name": "ring3 app", "allocations": [ { "name": "b", "bytes": 1048576, "preferred": "system" } ],
          "contexts": [ { "name": "copy", "engine": "copy", "priority": 6, "kind": "generic",
            "submission": { "path": "ring3", "count": 24, "bytes": 256, "period_cycles": 100000, "start_cycle": 0, "work_cycles": 20000,
                            "packets": { "copy": 1, "fence": 1 }, "buffers_in_flight": 4 } } ] }
      ]
    }
    """;

    [Test]
    [CancelAfter(120_000)] // a failure guard only: the run takes well under a second
    public void ThreadedScenario_RingZeroAndRingThreeContexts_CompleteEveryBuffer_AndTheReportSaysThreaded()
    {
        // Given a small threaded scenario with two ring-0 contexts (render, compute) and a ring-3 doorbell queue,
        var scenario = ScenarioLoader.Load(Small);
        // when it runs on the machine's threads,
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        // then every planned buffer retires, on every path, and the report names the mode.
        Assert.That(report.Mode, Is.EqualTo(RunMode.Threaded));
        Assert.That(report.Rows.Select(r => (r.Process, r.BuffersCompleted, r.Faults)),
            Is.EqualTo(new[] { ("ring0 app", 24L, 0L), ("ring0 compute", 16L, 0L), ("ring3 app", 24L, 0L) }));
        Assert.That(report.Rows.Single(r => r.Process == "ring3 app").Ring0GateEntries, Is.Zero, "ring-3 submissions never cross the gate");
        Assert.That(report.Notes, Has.Some.Contains("threaded"));
    }
}
