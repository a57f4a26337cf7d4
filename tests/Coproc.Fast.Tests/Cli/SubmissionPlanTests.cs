using Coproc.Fast.Scenarios;

namespace Coproc.Fast.Tests.Cli;

public class SubmissionPlanTests
{
    private static Scenario Demo() => ScenarioLoader.LoadFile(RepoFiles.Scenario("demo.json"));

    [Test]
    public void SameSeed_GivesTheSamePlan_AnotherSeedMovesOnlyTheJitter()
    {
        var s = Demo();
        var a = SubmissionPlan.Build(s, 42).Periodic;
        var b = SubmissionPlan.Build(s, 42).Periodic;
        var c = SubmissionPlan.Build(s, 43).Periodic;
        Assert.That(b, Is.EqualTo(a));
        Assert.That(c.Select(x => (x.Context, x.Index)).OrderBy(x => x), Is.EqualTo(a.Select(x => (x.Context, x.Index)).OrderBy(x => x)));
        Assert.That(c.Select(x => x.Cycle), Is.Not.EqualTo(a.Select(x => x.Cycle)));
    }

    [Test]
    public void Plan_IsOrderedByCycle_CutAtCountAndDuration_CompositorOnTheBeat()
    {
        var s = Demo();
        var contexts = s.Contexts.ToList();
        var plan = SubmissionPlan.Build(s, 42);
        Assert.That(plan.Periodic.Select(p => p.Cycle), Is.Ordered);
        Assert.That(plan.Periodic.All(p => p.Cycle < s.DurationCycles), Is.True);
        int comp = contexts.FindIndex(x => x.Context.Kind == ContextKind.Compositor);
        var beats = plan.Periodic.Where(p => p.Context == comp).Select(p => p.Cycle).ToArray();
        Assert.That(beats, Has.Length.EqualTo(60));
        Assert.That(beats.Select((cycle, k) => cycle - (ulong)k * 16_666_667UL).Distinct(), Is.EqualTo(new[] { 0UL }), "no jitter for the compositor");
        int video = contexts.FindIndex(x => x.Context.Kind == ContextKind.Video);
        var videoBeats = plan.Periodic.Where(p => p.Context == video).ToArray();
        Assert.That(videoBeats, Has.Length.EqualTo(30));
        Assert.That(videoBeats.Select((p, k) => p.Cycle - (500_000UL + (ulong)k * 33_333_333UL)).Max(), Is.LessThanOrEqualTo(33_333_333UL / 32));
    }

    [Test]
    public void Misbehaviours_RideOnTheirSubmissions_AndBackToBackContextsAreListed()
    {
        var s = Demo();
        var contexts = s.Contexts.ToList();
        var plan = SubmissionPlan.Build(s, 42);
        int broken = contexts.FindIndex(x => x.Context.Kind == ContextKind.Misbehaving);
        var carried = plan.Periodic.Where(p => p.Context == broken && p.Misbehaviour is not null).Select(p => (p.Index, p.Misbehaviour)).ToArray();
        Assert.That(carried, Is.EqualTo(new (int, MisbehaviourKind?)[] { (1, MisbehaviourKind.HungWait), (2, MisbehaviourKind.PrivilegedCommand) }));
        int compute = contexts.FindIndex(x => x.Context.Kind == ContextKind.Compute);
        Assert.That(plan.BackToBackContexts, Is.EqualTo(new[] { compute }));
        Assert.That(plan.BackToBackLimit(compute), Is.EqualTo(40));
    }
}
