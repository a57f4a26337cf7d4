using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Arbitration;

/// <summary>
/// The whole stack (scenario runner → UMD/KMD/VidSch for ring 0, UserQueueRegistrar and doorbells for ring 3): a
/// priority-15 ring-3 queue and a backlogged priority-0 ring-0 context on the same engine (native-layout.md §13.7
/// "Arbitration"; docs/scheduling-policy.md rule 3).
/// </summary>
[TestFixture]
public sealed class Ring3AgainstRing0ScenarioTests
{
    private static string Json(int ring3Priority) => $$"""
    {
      "name": "ring3-vs-ring0", "seed": 3, "mode": "deterministic", "duration_cycles": 60000000,
      "options": { "quantum_cycles": 1000000 },
      "processes": [
        { "name": "batch", "allocations": [ { "name": "buf", "bytes": 1048576 } ],
          "contexts": [ { "name": "jobs", "engine": "render", "priority": 0, "kind": "generic",
            "submission": { "bytes": 8192, "count": 0, "period_cycles": 0, "work_cycles": 4000000, "packets": { "draw_rects": 4 } } } ] },
        { "name": "ui", "allocations": [ { "name": "frames", "bytes": 65536 } ],
          "contexts": [ { "name": "q", "engine": "render", "priority": {{ring3Priority}}, "kind": "generic",
            "submission": { "path": "ring3", "bytes": 1024, "period_cycles": 5000000, "work_cycles": 200000, "packets": { "draw_rects": 1, "fence": 1 } } } ] }
      ]
    }
    """;

    private static ScenarioReport Run(int ring3Priority) =>
        new VidSchScenarioRunner().Run(ScenarioLoader.Load(Json(ring3Priority), "ring3-vs-ring0.json"),
            new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);

    [Test]
    public void GivenABackloggedPriority0Ring0Context_WhenAPriority15Ring3QueueSubmits_ThenEachBatchStartsWithoutWaitingBehindRing0Buffers()
    {
        var report = Run(15);
        var ui = report.Rows.Single(r => r.Process == "ui");
        var batch = report.Rows.Single(r => r.Process == "batch");
        Assert.That(ui.BuffersCompleted, Is.GreaterThanOrEqualTo(10), "a batch every 5 M cycles over 60 M cycles");
        // A ring-0 buffer runs 4 M cycles: a queue that waited for it to end would start ≥ 2 M cycles late on average.
        Assert.That(ui.SubmitToStartP99Cycles, Is.LessThan(500_000UL), "the queue takes the engine from the lower ring-0 context");
        Assert.That(batch.BuffersCompleted, Is.GreaterThan(0), "the ring-0 context still runs in between");
        Assert.That(report.Warnings, Is.Empty, string.Join("\n", report.Warnings));
    }

    [Test]
    public void GivenABackloggedPriority8Ring0Context_WhenAPriority2Ring3QueueSubmits_ThenTheQueueWaitsForTheHigherRing0Work()
    {
        // The batch's buffer is in system memory (pinned, never paged): the ring-0 context is runnable from its first
        // buffer on. (While a ring-0 context's chunk waits for its paging on the copy engine it cannot progress, and the
        // device lets a ring-3 queue use the engine meanwhile: docs/models.md, "Simplified, and not done yet".)
        var json = Json(2).Replace("\"priority\": 0", "\"priority\": 8")
            .Replace("{ \"name\": \"buf\", \"bytes\": 1048576 }", "{ \"name\": \"buf\", \"bytes\": 1048576, \"preferred\": \"system\" }");
        Assert.That(json, Does.Contain("\"preferred\": \"system\""), "the batch's buffer is pinned in system memory (precondition)");
        var report = new VidSchScenarioRunner().Run(ScenarioLoader.Load(json, "ring3-vs-ring0.json"),
            new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        var ui = report.Rows.Single(r => r.Process == "ui");
        Assert.That(ui.BuffersCompleted, Is.Zero, "strict priority: the always-busy priority-8 ring-0 context keeps the engine");
    }

    [Test]
    public void GivenARing0ContextKeptOffTheEngineByAHigherRing3QueueLongerThanTheTimeout_ThenItIsNotResetAsHung()
    {
        const string json = """
        {
          "name": "kept-off", "seed": 3, "mode": "deterministic", "duration_cycles": 30000000,
          "options": { "quantum_cycles": 1000000, "hung_timeout_cycles": 300000 },
          "processes": [
            { "name": "batch", "allocations": [ { "name": "buf", "bytes": 1048576 } ],
              "contexts": [ { "name": "jobs", "engine": "render", "priority": 0, "kind": "generic",
                "submission": { "bytes": 8192, "count": 20, "period_cycles": 0, "work_cycles": 100000, "packets": { "draw_rects": 4 } } } ] },
            { "name": "ui", "allocations": [ { "name": "frames", "bytes": 16777216 } ],
              "contexts": [ { "name": "q", "engine": "render", "priority": 15, "kind": "generic",
                "submission": { "path": "ring3", "bytes": 1024, "count": 1, "start_cycle": 500000, "work_cycles": 2000000, "packets": { "draw_rects": 4 } } } ] }
          ]
        }
        """;
        var report = new VidSchScenarioRunner().Run(ScenarioLoader.Load(json, "kept-off.json"),
            new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        var batch = report.Rows.Single(r => r.Process == "batch");
        var ui = report.Rows.Single(r => r.Process == "ui");
        Assert.That(ui.BuffersCompleted, Is.EqualTo(1));
        Assert.That(batch.Faults, Is.Zero, "waiting for a higher user queue is not a hang (only time holding the engine counts)");
        Assert.That(batch.BuffersCompleted, Is.EqualTo(20));
    }

    [Test]
    [CancelAfter(120_000)] // a failure guard only
    public void ThreadedMode_ARing0ContextKeptOffByABackToBackHigherRing3Queue_IsNeverResetAsHung()
    {
        // Threaded runs submit back to back: the priority-15 queue keeps the engine for the whole run, so the priority-0
        // ring-0 context waits far longer than its 2 M-cycle timeout. Waiting is not holding the engine: no reset.
        const string json = """
        {
          "name": "kept-off-threaded", "seed": 4, "mode": "threaded", "duration_cycles": 20000000,
          "options": { "quantum_cycles": 1000000, "hung_timeout_cycles": 2000000 },
          "processes": [
            { "name": "batch", "allocations": [ { "name": "buf", "bytes": 1048576 } ],
              "contexts": [ { "name": "jobs", "engine": "render", "priority": 0, "kind": "generic",
                "submission": { "bytes": 8192, "count": 0, "work_cycles": 100000, "packets": { "draw_rects": 4 } } } ] },
            { "name": "ui", "allocations": [ { "name": "frames", "bytes": 16777216 } ],
              "contexts": [ { "name": "q", "engine": "render", "priority": 15, "kind": "generic",
                "submission": { "path": "ring3", "bytes": 1024, "count": 0, "work_cycles": 2000000, "packets": { "draw_rects": 4 } } } ] }
          ]
        }
        """;
        var report = new VidSchScenarioRunner().Run(ScenarioLoader.Load(json, "kept-off-threaded.json"),
            new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        Assert.That(report.Rows.Single(r => r.Process == "ui").BuffersCompleted, Is.GreaterThan(0));
        Assert.That(report.Rows.Single(r => r.Process == "batch").Faults, Is.Zero, "waiting for a higher user queue is not a hang");
    }
}
