using Coproc.Cli;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// The engine never idles with work queued because of memory (seed 001 §13 starvation, §5.5 eviction policy): in the
/// "two-games" mix a priority-1 compute job runs back to back over 64 MiB of managed memory while two games and a
/// compositor need most of the 128 MiB of local memory on the render engine.
/// </summary>
[TestFixture]
public sealed class TwoGamesResidencyTests
{
    // The two-games mix (tools/scenarios/two-games.json) without its misbehaving process, shortened to 200 M cycles: the render
    // engine used to stop for good after about 66 M cycles, the batch job's working set pinned in local memory.
    private const string TwoGames = """
        {"name":"two-games","seed":5,"duration_cycles":200000000,"options":{"quantum_cycles":1000000,"local_memory_bytes":134217728},"processes":[
         {"name":"compositor","allocations":[{"name":"primary","bytes":8294400,"count":3}],"contexts":[{"name":"compose","engine":"render","priority":14,"kind":"compositor","submission":{"bytes":4096,"period_cycles":16666667,"work_cycles":1000000,"flip":true,"buffers_in_flight":3,"packets":{"draw_rects":4,"copy":2,"fence":1}}}]},
         {"name":"fast game","allocations":[{"name":"target","bytes":33554432},{"name":"textures","bytes":16777216,"count":2}],"contexts":[{"name":"frames","engine":"render","priority":8,"kind":"game","submission":{"bytes":16384,"period_cycles":16666667,"work_cycles":9000000,"packets":{"draw_rects":8,"copy":2}}}]},
         {"name":"slow game","allocations":[{"name":"target","bytes":33554432}],"contexts":[{"name":"frames","engine":"render","priority":8,"kind":"game","submission":{"bytes":16384,"period_cycles":33333333,"work_cycles":12000000,"packets":{"draw_rects":8}}}]},
         {"name":"batch","allocations":[{"name":"data","bytes":67108864,"preferred":"system"}],"contexts":[{"name":"jobs","engine":"compute","priority":1,"kind":"compute","submission":{"bytes":8192,"count":20,"work_cycles":20000000,"packets":{"dispatch":4,"fence":1}}}]},
         {"name":"decoder","allocations":[{"name":"frames","bytes":1048576}],"contexts":[{"name":"decode","engine":"video_decode","priority":10,"kind":"video","submission":{"path":"ring3","bytes":1024,"period_cycles":33333333,"work_cycles":500000,"packets":{"video_decode":1,"fence":1}}}]}]}
        """;

    [Test]
    public void GivenABackToBackLowPriorityJobOverLargeManagedMemory_WhenTheRunEnds_ThenEveryRenderContextWasStillGettingWorkDoneInItsLastQuarter()
    {
        var scenario = ScenarioLoader.Load(TwoGames, "two-games.json");
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);

        ulong lastQuarter = scenario.DurationCycles / 4 * 3;
        var renderContexts = report.Trace.Tracks.Where(t => t.Kind == TraceTrackKind.ContextQueue && t.ProcessName is "compositor" or "fast game" or "slow game")
            .Select(t => t.ContextId).Distinct().ToArray();
        var engineTracks = report.Trace.Tracks.Where(t => t.Kind == TraceTrackKind.Engine).Select(t => t.Id).ToHashSet();
        Assume.That(renderContexts, Has.Length.EqualTo(3));
        foreach (uint ctx in renderContexts)
        {
            // A slice on an engine track: the context's buffer was running on the engine.
            bool ranLate = report.Trace.Events.Any(e => e.Category == TraceCategory.DmaBuffer && e.Phase == TracePhase.Complete
                && engineTracks.Contains(e.Track) && e.ContextId == ctx && e.StartCycle + e.DurationCycles >= lastQuarter);
            Assert.That(ranLate, Is.True, $"context {ctx} ran a buffer in the last quarter of the run");
        }
        Assert.That(report.Rows.Single(r => r.Process == "compositor").FramesPresented, Is.GreaterThan(4), "the compositor kept presenting");
    }
}
