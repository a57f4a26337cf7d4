using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Tests.Cli;

public class ScenarioLoaderTests
{
    private const string Minimal = """
        {
          "name": "tiny",
          "duration_cycles": 1000,
          "processes": [
            {
              "name": "p",
              "contexts": [
                { "name": "c", "engine": "copy", "submission": { "bytes": 64, "work_cycles": 10 } }
              ]
            }
          ]
        }
        """;

    private static ScenarioError[] Errors(string json) =>
        Assert.Throws<ScenarioValidationException>(() => ScenarioLoader.Load(json, "t.json"))!.Errors.ToArray();

    [TestCase("demo.json")]
    [TestCase("many-small-submitters.json")]
    [TestCase("memory-thrash.json")]
    [TestCase("run-list-stress.json")]
    public void ShippedScenario_IsValid(string file)
    {
        var s = ScenarioLoader.LoadFile(RepoFiles.Scenario(file));
        Assert.That(s.Processes, Is.Not.Empty);
        Assert.That(s.Contexts.Count(), Is.GreaterThan(0));
    }

    [Test]
    public void DemoScenario_HasTheDesktopUnderPressure()
    {
        var s = ScenarioLoader.LoadFile(RepoFiles.Scenario("demo.json"));
        var kinds = s.Contexts.Select(x => x.Context.Kind).ToHashSet();
        Assert.That(kinds, Is.SupersetOf(new[] { ContextKind.Compositor, ContextKind.Game, ContextKind.Compute, ContextKind.Video, ContextKind.Misbehaving }));
        Assert.That(s.Contexts.Single(x => x.Context.Kind == ContextKind.Video).Context.Submission.Path, Is.EqualTo(SubmitPath.Ring3));
        ulong allocated = s.Processes.SelectMany(p => p.Allocations).Aggregate(0UL, (a, x) => a + x.TotalBytes);
        Assert.That(allocated, Is.GreaterThan(s.Options.LocalMemoryBytes), "allocations exceed local memory, so eviction and paging happen");
        var broken = s.Contexts.Single(x => x.Context.Kind == ContextKind.Misbehaving).Context.Misbehaviours.Select(m => m.Kind);
        Assert.That(broken, Is.EqualTo(new[] { MisbehaviourKind.HungWait, MisbehaviourKind.PrivilegedCommand }));
    }

    [Test]
    public void Minimal_AppliesDocumentedDefaults()
    {
        var s = ScenarioLoader.Load(Minimal);
        var c = s.Processes[0].Contexts[0];
        Assert.That((s.Seed, s.Mode), Is.EqualTo((1UL, RunMode.Deterministic)));
        Assert.That((c.Engine, c.Priority, c.Kind), Is.EqualTo((EngineKind.Copy, 8, ContextKind.Generic)));
        Assert.That(c.Submission.Path, Is.EqualTo(SubmitPath.Ring0));
        Assert.That(c.Submission.Packets, Is.EqualTo(new PacketMix(Nop: 1)));
        Assert.That(s.Options, Is.EqualTo(new ScenarioOptions()));
    }

    [Test]
    public void UnknownEngine_NamesLinePathAndTheAllowedValues()
    {
        var e = Errors(Minimal.Replace("\"copy\"", "\"gpu\"")).Single();
        Assert.That(e.Line, Is.EqualTo(8));
        Assert.That(e.Path, Is.EqualTo("$.processes[0].contexts[0].engine"));
        Assert.That(e.Message, Does.Contain("'gpu'").And.Contain("render, compute, copy, video_decode, video_encode"));
    }

    [Test]
    public void NegativeSize_IsReportedAsNegative_WithItsPath()
    {
        var e = Errors(Minimal.Replace("\"bytes\": 64", "\"bytes\": -64")).Single();
        Assert.That(e.Path, Is.EqualTo("$.processes[0].contexts[0].submission.bytes"));
        Assert.That(e.Message, Does.Contain("negative value -64"));
        Assert.That(e.Line, Is.EqualTo(8));
    }

    [Test]
    public void UnknownKey_IsRejected_ListingTheExpectedKeys()
    {
        var e = Errors(Minimal.Replace("\"duration_cycles\": 1000,", "\"duration_cycles\": 1000,\n  \"quantun_cycles\": 5,")).Single();
        Assert.That(e.Path, Is.EqualTo("$.quantun_cycles"));
        Assert.That(e.Line, Is.EqualTo(4));
        Assert.That(e.Message, Does.Contain("unknown property 'quantun_cycles'").And.Contain("duration_cycles"));
    }

    [Test]
    public void MissingRequiredField_NamesTheFieldAndItsObjectsLine()
    {
        var e = Errors(Minimal.Replace("\"work_cycles\": 10", "\"flip\": false")).Single();
        Assert.That(e.Path, Is.EqualTo("$.processes[0].contexts[0].submission.work_cycles"));
        Assert.That(e.Message, Does.Contain("missing required property 'work_cycles'"));
        Assert.That(e.Line, Is.EqualTo(8));
    }

    [Test]
    public void WrongType_SaysWhatWasExpectedAndFound()
    {
        var e = Errors(Minimal.Replace("1000", "\"soon\"")).Single();
        Assert.That(e.Path, Is.EqualTo("$.duration_cycles"));
        Assert.That(e.Message, Does.Contain("expected an integer").And.Contain("the string \"soon\""));
    }

    [Test]
    public void SyntaxError_ComesFromTheJsonReader_WithLineAndPath()
    {
        var e = Errors(Minimal.Replace("\"name\": \"p\",", "\"name\": \"p\"")).Single();
        Assert.That(e.Line, Is.EqualTo(7), "the reader notices the missing comma at the next property");
        Assert.That(e.Message, Does.StartWith("not valid JSON"));
        Assert.That(e.Message, Does.Not.Contain("LineNumber"));
    }

    [Test]
    public void WorkPacketOnTheWrongEngine_AndDuplicateNames_AreAllReported()
    {
        var json = Minimal.Replace("\"work_cycles\": 10 }", "\"work_cycles\": 10, \"packets\": { \"draw_rects\": 1 } }")
            .Replace("\"contexts\": [", "\"contexts\": [ { \"name\": \"c\", \"engine\": \"render\", \"submission\": { \"bytes\": 64, \"work_cycles\": 1 } },");
        var errors = Errors(json);
        Assert.That(errors.Select(e => e.Path), Is.EquivalentTo(new[]
        {
            "$.processes[0].contexts[1].submission.packets.draw_rects", "$.processes[0].contexts[1].name",
        }));
        Assert.That(errors.Single(e => e.Path.EndsWith("draw_rects", StringComparison.Ordinal)).Message, Does.Contain("render engine, not copy"));
    }

    [Test]
    public void MisbehavingContext_WithoutMisbehaviours_IsRejected()
    {
        var e = Errors(Minimal.Replace("\"engine\": \"copy\",", "\"engine\": \"copy\", \"kind\": \"misbehaving\",")).Single();
        Assert.That(e.Path, Is.EqualTo("$.processes[0].contexts[0].misbehaviours"));
    }

    [Test]
    public void MissingFile_IsAValidationErrorNotACrash()
    {
        var ex = Assert.Throws<ScenarioValidationException>(() => ScenarioLoader.LoadFile("/nonexistent/x.json"))!;
        Assert.That(ex.Errors.Single().Message, Does.StartWith("cannot read the file"));
    }

    [Test]
    public void Percentiles_AreNearestRank()
    {
        ulong[] samples = [5, 1, 4, 2, 3, 100, 6, 7, 8, 9];
        var histogram = new LatencyHistogram();
        foreach (var s in samples) histogram.Record(s);
        Assert.That(histogram.Percentile(50), Is.EqualTo(5UL));
        Assert.That(histogram.Percentile(99), Is.EqualTo(100UL));
        Assert.That(new LatencyHistogram().Percentile(50), Is.Zero);
    }
}
