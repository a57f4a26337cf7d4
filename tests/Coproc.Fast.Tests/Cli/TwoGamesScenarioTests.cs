using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli;

/// <summary>
/// tools/scenarios/two-games.json: a compositor, two games, a low-priority compute batch, a ring-3 decoder and a
/// misbehaving client on 128 MiB of local memory (seed 001 §13: the engine must never idle while work is queued).
/// </summary>
[TestFixture]
public sealed class TwoGamesScenarioTests
{
    private static (Scenario Scenario, ScenarioReport Report) Run(ulong? localBytes = null)
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario("two-games.json"));
        if (localBytes is { } b) scenario = scenario with { Options = scenario.Options with { LocalMemoryBytes = b } };
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()), null, CancellationToken.None);
        return (scenario, report);
    }

    private static long ReachableVsyncs(Scenario scenario) =>
        (long)(scenario.DurationCycles / scenario.Options.VsyncPeriodCycles) - 1; // the first vsync comes before any frame is ready

    [Test]
    public void TwoGames_NeverGoesWrongSilently_EitherEveryContextRunsOrTheAuditorReportsTheIdleEngine()
    {
        var (scenario, report) = Run();
        bool allRan = report.Rows.All(r => r.BuffersCompleted > 0);
        var compositor = report.Rows.Single(r => r.Process == "compositor");
        if (allRan && compositor.MissedVsyncs == 0) return;
        Assert.That(report.Warnings, Has.Some.Contain("idle").And.Contain("while work was queued"),
            "work was left undone but the run said nothing:\n" + string.Join("\n", report.Warnings));
    }

    [Test]
    public void TwoGames_OnTightLocalMemory_EveryContextRuns()
    {
        // Own-working-set-first eviction, priority-ordered eviction and memory admission (docs/memory.md) let every
        // context of the mix make its allocations resident and run on 128 MiB.
        var (_, report) = Run();
        Assert.That(report.Rows.Where(r => r.BuffersCompleted == 0).Select(r => $"{r.Process} / {r.Context}"), Is.Empty);
    }

    [Test]
    public void TwoGames_EveryContextRuns_AndTheCompositorMissesNoVsyncItCouldHaveMade()
    {
        // The batch's 64 MiB dataset is "preferred": "system": pinned there, read in place, never paged into the 128 MiB
        // of local memory the games and the compositor need (ScenarioProcess).
        var (scenario, report) = Run();

        Assert.That(report.Rows.Where(r => r.BuffersCompleted == 0).Select(r => $"{r.Process} / {r.Context}"), Is.Empty);
        var compositor = report.Rows.Single(r => r.Process == "compositor");
        Assert.That(compositor.MissedVsyncs, Is.Zero);
        Assert.That(compositor.FramesPresented, Is.GreaterThanOrEqualTo(ReachableVsyncs(scenario) - 1));
        Assert.That(report.Rows.Single(r => r.Process == "batch").BytesPaged, Is.LessThanOrEqualTo(4096), "the system-preferred 64 MiB dataset is never paged (only the context's 4 KiB fence page)");
    }

    [Test]
    public void TwoGames_TheAuditorIsSilent()
    {
        var (_, report) = Run();
        Assert.That(report.Warnings, Is.Empty, string.Join("\n", report.Warnings));
    }

    [Test]
    public void TwoGames_WithEnoughLocalMemory_EveryContextRuns_AndTheCompositorMissesNoVsync()
    {
        // The same workload with 256 MiB: the scheduling policy alone serves every context (the 128 MiB run fails only
        // for the memory reason above).
        var (scenario, report) = Run(localBytes: 256UL << 20);

        Assert.That(report.Rows.Where(r => r.BuffersCompleted == 0).Select(r => $"{r.Process} / {r.Context}"), Is.Empty);
        var compositor = report.Rows.Single(r => r.Process == "compositor");
        Assert.That(compositor.MissedVsyncs, Is.Zero);
        Assert.That(compositor.FramesPresented, Is.GreaterThanOrEqualTo(ReachableVsyncs(scenario) - 1));
    }
}
