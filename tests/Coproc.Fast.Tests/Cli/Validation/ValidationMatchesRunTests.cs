using System.Text.Json.Nodes;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;

namespace Coproc.Fast.Tests.Cli.Validation;

/// <summary>
/// <c>coproc run --validate</c> refuses everything <c>coproc run</c> would refuse, each with a line and a JSON path:
/// memory sizes the device cannot be built with, memory the host cannot give, capacity the machine runs out of while
/// setting the scenario up; duplicate keys and unbounded names are refused too.
/// </summary>
public class ValidationMatchesRunTests
{
    /// <summary>One process, one copy-engine context; <paramref name="edit"/> changes it.</summary>
    private static string Scenario(Action<JsonObject> edit)
    {
        var root = JsonNode.Parse("""
            {
              "name": "t",
              "duration_cycles": 200000,
              "options": { "vsync_period_cycles": 0 },
              "processes": [
                { "name": "p", "contexts": [ { "name": "c", "engine": "copy", "submission": { "bytes": 64, "work_cycles": 10 } } ] }
              ]
            }
            """)!.AsObject();
        edit(root);
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    private static string Write(string name, string json)
    {
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, name);
        File.WriteAllText(file, json);
        return file;
    }

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, CliConsole.To(o, e));
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>Runs validate and run on the same file; both must refuse it with the same problem line.</summary>
    private static string BothRefuse(string file)
    {
        var validate = Cli("run", "--validate", file);
        var run = Cli("run", file, "--out", Path.Combine(TestContext.CurrentContext.WorkDirectory, "refused-out"));
        Assert.That((validate.Code, run.Code), Is.EqualTo((2, 2)), validate.Err + run.Err);
        Assert.That(validate.Out, Is.Empty);
        var problem = validate.Err.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("line ", StringComparison.Ordinal));
        Assert.That(run.Err, Does.Contain(problem), "run refuses with the same line and path as --validate");
        Assert.That(validate.Err + run.Err, Does.Not.Contain("   at "));
        return problem;
    }

    [Test]
    public void LocalMemoryNotAMultipleOf2MiB_IsRefusedByBoth_WithItsPath()
    {
        var file = Write("local-odd.json", Scenario(r => r["options"]!["local_memory_bytes"] = 16_777_217));
        var problem = BothRefuse(file);
        Assert.That(problem, Does.StartWith("line 6, $.options.local_memory_bytes: 16,777,217 is not a whole number of 2 MiB blocks"));
    }

    [Test]
    public void SystemMemoryNotAMultipleOf4KiB_IsRefused()
    {
        var e = Assert.Throws<ScenarioValidationException>(() =>
            ScenarioLoader.Load(Scenario(r => r["options"]!["system_memory_bytes"] = (16 << 20) + 100)))!.Errors.Single();
        Assert.That(e.Path, Is.EqualTo("$.options.system_memory_bytes"));
        Assert.That(e.Message, Does.Contain("4 KiB pages"));
    }

    [Test]
    public void MemoriesLargerThanTheHostCanGive_AreRefusedBeforeAnythingIsAllocated()
    {
        // 16 GiB + 16 GiB is over the 24 GiB cap on every host, whatever its memory.
        var file = Write("huge-memory.json", Scenario(r =>
        {
            r["options"]!["local_memory_bytes"] = 16L << 30;
            r["options"]!["system_memory_bytes"] = 16L << 30;
        }));
        var problem = BothRefuse(file);
        Assert.That(problem, Does.StartWith("line 4, $.options: local + system memory is 32,768 MiB; expected at most"));
        Assert.That(ScenarioLoader.EmulatedMemoryBudgetBytes, Is.LessThanOrEqualTo(24UL << 30));
    }

    [Test]
    public void TwoHundredContextsIn16MiBOfSystemMemory_AreRefusedByBoth_NamingTheFirstContextThatDoesNotFit()
    {
        var file = Write("many-contexts.json", Scenario(r =>
        {
            r["options"]!["system_memory_bytes"] = 16 << 20;
            var processes = new JsonArray();
            for (int i = 0; i < 200; i++)
                processes.Add(JsonNode.Parse($$"""{ "name": "p{{i}}", "contexts": [ { "name": "c", "engine": "copy", "submission": { "bytes": 64, "work_cycles": 10 } } ] }"""));
            r["processes"] = processes;
        }));
        var problem = BothRefuse(file);
        Assert.That(problem, Does.Match(@"^line \d+, \$\.processes\[\d+\]\.contexts\[0\]: context \d+ of 200 cannot be set up: OutOfSystemMemory"));
        Assert.That(problem, Does.Contain("raise options.system_memory_bytes or use fewer contexts"));
    }

    [Test]
    public void AnAllocationLargerThanLocalMemory_IsRefusedByBoth_WithTheAllocationsPath()
    {
        var file = Write("big-allocation.json", Scenario(r =>
        {
            r["options"]!["local_memory_bytes"] = 64 << 20;
            r["processes"]![0]!["allocations"] = JsonNode.Parse("""[ { "name": "small", "bytes": 4096 }, { "name": "big", "bytes": 134217728 } ]""");
        }));
        var problem = BothRefuse(file);
        Assert.That(problem, Does.Match(@"^line \d+, \$\.processes\[0\]\.allocations\[1\]: allocation 'big' cannot be made: RequestTooLarge"));
    }

    [Test]
    public void DuplicateKeys_AreRefused_AtEveryLevel_WithBothLines()
    {
        const string json = """
            {
              "name": "a",
              "name": "b",
              "duration_cycles": 1000,
              "processes": [
                { "name": "p", "contexts": [ { "name": "c", "engine": "copy", "engine": "render",
                  "submission": { "bytes": 64, "work_cycles": 10 } } ] }
              ]
            }
            """;
        var errors = Assert.Throws<ScenarioValidationException>(() => ScenarioLoader.Load(json))!.Errors;
        Assert.That(errors.Select(e => (e.Line, e.Path)), Is.EqualTo(new[] { (3L, "$.name"), (6L, "$.processes[0].contexts[0].engine") }));
        Assert.That(errors[0].Message, Is.EqualTo("duplicate property 'name' (first at line 2); expected each key once per object"));
    }

    [Test]
    public void Names_AreBoundedInLength_AndTheMessageDoesNotQuoteTheWholeValue()
    {
        var longName = new string('x', 8_000_000);
        var errors = Assert.Throws<ScenarioValidationException>(() => ScenarioLoader.Load(Scenario(r =>
        {
            r["name"] = longName;
            r["processes"]![0]!["contexts"]![0]!["name"] = new string('c', ScenarioLoader.MaxNameLength + 1);
            r["processes"]![0]!["contexts"]![0]!["engine"] = longName; // an unknown engine is quoted, but clipped
        })))!.Errors;
        Assert.That(errors.Select(e => e.Path), Is.EquivalentTo(new[] { "$.name", "$.processes[0].contexts[0].engine", "$.processes[0].contexts[0].name" }));
        Assert.That(errors.Single(e => e.Path == "$.name").Message, Is.EqualTo("the string is 8,000,000 characters long; expected at most 100"));
        Assert.That(errors.Sum(e => e.ToString().Length), Is.LessThan(1000), "every message stays one readable line");
    }

    [TestCase("demo.json")]
    [TestCase("many-small-submitters.json")]
    [TestCase("memory-thrash.json")]
    [TestCase("run-list-stress.json")]
    public void ShippedScenario_PassesTheSetupCheck(string file)
    {
        var scenario = ScenarioLoader.LoadFile(RepoFiles.Scenario(file));
        Assert.That(new VidSchScenarioRunner().CheckSetup(scenario, new ScenarioRunOptions(new TraceRecorder(1))), Is.Empty);
    }

    [Test]
    public void ADeterministicRunOf2To64Cycles_IsStoppedByItsWallClockGuard_WithANote()
    {
        // Given a scenario that asks for 2^64 - 1 device cycles and a guard of one tick of host time,
        var scenario = ScenarioLoader.Load(Scenario(r => r["duration_cycles"] = ulong.MaxValue));
        // when it runs deterministically,
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()) { TimeLimit = TimeSpan.FromTicks(1) },
            null, CancellationToken.None);
        // then the guard stops it, and the report says so and covers the cycles run.
        Assert.That(report.Stop, Is.EqualTo(RunStop.TimeLimit));
        Assert.That(report.CyclesRun, Is.LessThan(ulong.MaxValue));
        Assert.That(report.DurationCycles, Is.EqualTo(ulong.MaxValue));
        Assert.That(report.Notes, Has.Some.StartsWith("stopped by the wall-clock guard"));
    }

    [Test]
    [CancelAfter(120_000)] // a failure guard only: the run stops at once
    public void AThreadedRunOf2To64Cycles_IsStoppedByItsWallClockGuard_WithANote()
    {
        var scenario = ScenarioLoader.Load(Scenario(r =>
        {
            r["duration_cycles"] = ulong.MaxValue;
            r["mode"] = "threaded";
            r["processes"]![0]!["contexts"]![0]!["submission"]!["period_cycles"] = 0; // back to back: always work to do
        }));
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new TraceRecorder()) { TimeLimit = TimeSpan.FromTicks(1) },
            null, CancellationToken.None);
        Assert.That(report.Stop, Is.EqualTo(RunStop.TimeLimit));
        Assert.That(report.Mode, Is.EqualTo(RunMode.Threaded));
        Assert.That(report.Notes, Has.Some.StartsWith("stopped by the wall-clock guard"));
    }

    [Test]
    public void TheCli_ReportsAGuardStop_WithExitCode3_AndAMessage()
    {
        var file = Write("endless.json", Scenario(r => r["duration_cycles"] = ulong.MaxValue));
        var (code, output, err) = Cli("run", file, "--time-limit", "0.000001", "--json", "--out", Path.Combine(TestContext.CurrentContext.WorkDirectory, "endless-out"));
        Assert.That(code, Is.EqualTo(ExitCodes.StoppedByGuard), err);
        Assert.That(err, Does.Contain("the wall-clock guard stopped the run at cycle"));
        var json = JsonNode.Parse(output)!;
        Assert.That(json["stopped_by"]!.GetValue<string>(), Is.EqualTo("time_limit"));
    }
}
