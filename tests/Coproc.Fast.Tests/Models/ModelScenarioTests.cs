using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Driver;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;
using Coproc.Fast.Tests.Cli;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// Scheduling models as a scenario and command-line choice: the <c>"model"</c> field (validated like every field), the
/// <c>--model</c> override, and <c>coproc compare</c>, which runs one workload under each model (docs/models.md).
/// </summary>
public class ModelScenarioTests
{
    private const string Tiny = """
        {
          "name": "tiny",
          "model": "MODEL",
          "duration_cycles": 20000000,
          "options": { "vsync_period_cycles": 16666667 },
          "processes": [
            { "name": "game", "allocations": [ { "name": "targets", "bytes": 1048576, "count": 2 } ],
              "contexts": [ { "name": "frames", "engine": "render", "priority": 8, "kind": "game",
                              "submission": { "bytes": 4096, "period_cycles": 2000000, "work_cycles": 200000, "packets": { "draw_rects": 2, "fence": 1 } } } ] },
            { "name": "batch", "allocations": [ { "name": "data", "bytes": 1048576 } ],
              "contexts": [ { "name": "jobs", "engine": "compute", "priority": 2, "kind": "compute",
                              "submission": { "bytes": 4096, "count": 4, "work_cycles": 500000, "packets": { "dispatch": 1, "fence": 1 } } } ] }
          ]
        }
        """;

    [TestCase("basic", SchedulingModel.Basic)]
    [TestCase("advanced", SchedulingModel.Advanced)]
    [TestCase("hardware", SchedulingModel.Hardware)]
    public void TheModelField_SelectsTheModel(string name, SchedulingModel expected) =>
        Assert.That(ScenarioLoader.Load(Tiny.Replace("MODEL", name)).Model, Is.EqualTo(expected));

    [Test]
    public void WithoutAModelField_TheScenarioRunsInTheBasicModel() =>
        Assert.That(ScenarioLoader.Load(Tiny.Replace("  \"model\": \"MODEL\",\n", "")).Model, Is.EqualTo(SchedulingModel.Basic));

    [Test]
    public void AnUnknownModel_IsRefused_WithItsPath()
    {
        var e = Assert.Throws<ScenarioValidationException>(() => ScenarioLoader.Load(Tiny.Replace("MODEL", "quantum"), "t.json"))!;
        Assert.That(e.Errors.Select(x => x.Path), Does.Contain("$.model"));
        Assert.That(string.Join("\n", e.Errors), Does.Contain("basic").And.Contain("advanced").And.Contain("hardware"));
    }

    [Test]
    public void ThePageTablesOption_RunsTheAdvancedModelsProcessesOnFlatTables_AndTheWorkIsTheSame()
    {
        // Given the tiny workload with flat page tables, and the same with the default (multi-level).
        var flat = ScenarioLoader.Load(Tiny.Replace("MODEL", "advanced").Replace("\"options\": {", "\"options\": { \"page_tables\": \"flat\","));
        var multi = ScenarioLoader.Load(Tiny.Replace("MODEL", "advanced"));
        Assert.That((flat.Options.PageTables, multi.Options.PageTables),
            Is.EqualTo((Coproc.Fast.Device.Mmu.PageTableFormat.Flat, Coproc.Fast.Device.Mmu.PageTableFormat.MultiLevel)));

        // When both run in the advanced model.
        ScenarioReport Run(Scenario s) => new VidSchScenarioRunner().Run(s, new ScenarioRunOptions(new Driver.Diagnostics.TraceRecorder(1)), null, default);
        var onFlat = Run(flat);
        var onMulti = Run(multi);

        // Then the flat run's processes had flat tables (the model note says so) and every context did the same work.
        Assert.That(string.Join("\n", onFlat.Notes), Does.Contain("2 of them in flat page tables"));
        Assert.That(string.Join("\n", onMulti.Notes), Does.Not.Contain("flat page tables"));
        Assert.That(onFlat.Rows.Select(r => r.BuffersCompleted), Is.EqualTo(onMulti.Rows.Select(r => r.BuffersCompleted)));
        Assert.That(onFlat.Warnings, Is.Empty);
    }

    [Test]
    public void AnUnknownPageTableFormat_IsRefused_WithItsPath()
    {
        var json = Tiny.Replace("MODEL", "advanced").Replace("\"options\": {", "\"options\": { \"page_tables\": \"inverted\",");
        var e = Assert.Throws<ScenarioValidationException>(() => ScenarioLoader.Load(json, "t.json"))!;
        Assert.That(e.Errors.Select(x => x.Path), Does.Contain("$.options.page_tables"));
        Assert.That(string.Join("\n", e.Errors), Does.Contain("multi_level").And.Contain("flat"));
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void EveryContext_RunsItsWork_InEveryModel(SchedulingModel model)
    {
        // Given a game on render and a compute batch, run in the model.
        var scenario = ScenarioLoader.Load(Tiny.Replace("MODEL", "basic"));
        var report = new VidSchScenarioRunner().Run(scenario, new ScenarioRunOptions(new Driver.Diagnostics.TraceRecorder(1)) { Model = model }, null, default);

        // Then the report says which model ran, every context completed buffers, and the batch finished all four.
        Assert.That(report.Model, Is.EqualTo(model));
        Assert.That(report.Rows.Select(r => r.BuffersCompleted), Is.All.GreaterThan(0));
        Assert.That(report.Rows.Single(r => r.Context == "jobs").BuffersCompleted, Is.EqualTo(4));
        Assert.That(report.Warnings, Is.Empty);
    }

    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void EveryContext_RunsItsWork_InThreadedMode(SchedulingModel model)
    {
        // Given the same scenario in threaded mode (periods are not honoured: every context submits as fast as it may).
        var scenario = ScenarioLoader.Load(Tiny.Replace("MODEL", "basic"));
        var options = new ScenarioRunOptions(new Driver.Diagnostics.TraceRecorder(1), Mode: RunMode.Threaded) { Model = model, TimeLimit = TimeSpan.FromSeconds(60) };

        // When it runs (the time limit is a failure guard, not a timing).
        var report = new VidSchScenarioRunner().Run(scenario, options, null, default);

        // Then it was not stopped by the guard and every context completed work.
        Assert.That(report.Stop, Is.Not.EqualTo(RunStop.TimeLimit));
        Assert.That(report.Rows.Select(r => r.BuffersCompleted), Is.All.GreaterThan(0));
    }

    [Test]
    public void Compare_RunsEachModel_AndPrintsOneTablePerContextAndAVerdictPerMetric()
    {
        // Given the tiny scenario on disk.
        var dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "compare-tiny");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "tiny.json");
        File.WriteAllText(file, Tiny.Replace("MODEL", "basic"));
        var o = new StringWriter();
        var e = new StringWriter();

        // When `coproc compare` runs it under the three models.
        int code = Program.Run(["compare", file, "--out", Path.Combine(dir, "out")], CliConsole.To(o, e));

        // Then it succeeds, prints a column per model for each context and a verdict per metric, and writes each run's files.
        Assert.That(code, Is.Zero, e.ToString());
        string text = o.ToString();
        Assert.That(text, Does.Contain("game / frames (render)").And.Contain("batch / jobs (compute)"));
        Assert.That(text, Does.Contain("basic").And.Contain("advanced").And.Contain("hardware"));
        foreach (var m in ModelComparison.Metrics.Where(m => m.Name != "GPU share"))
            Assert.That(text, Does.Contain($"  {m.Name}"), $"a verdict line for {m.Name}");
        foreach (var m in new[] { "basic", "advanced", "hardware" })
            Assert.That(File.Exists(Path.Combine(dir, "out", m, "trace.json")), Is.True, $"{m}/trace.json");
    }

    [Test]
    public void Compare_Json_HasOneRunPerModel_InTheOrderAsked()
    {
        var (code, output, _) = Compare("compare-json", "--models", "hardware,basic", "--json");
        Assert.That(code, Is.Zero);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var models = doc.RootElement.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("model").GetString()).ToArray();
        Assert.That(models, Is.EqualTo(new[] { "hardware", "basic" }));
        Assert.That(doc.RootElement.GetProperty("verdicts").GetArrayLength(), Is.EqualTo(ModelComparison.Metrics.Count - 1));
    }

    [Test]
    public void Compare_Csv_HasAModelColumn_AndOneRowPerContextPerModel()
    {
        var (code, output, file) = Compare("compare-csv", "--models", "basic,advanced", "--csv");
        Assert.That(code, Is.Zero);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines[0], Does.StartWith("model,process,context,engine,").And.EndWith(",page_faults"));
        Assert.That(lines.Skip(1).Select(l => l.Split(',')[0]), Is.EqualTo(new[] { "basic", "basic", "advanced", "advanced" }));
        Assert.That(Program.Run(["compare", file, "--json", "--csv"], CliConsole.To(TextWriter.Null, TextWriter.Null)), Is.EqualTo(ExitCodes.InvalidInput));
    }

    // Writes the tiny scenario into a folder of its own and runs `coproc compare` on it with the given options.
    private static (int Code, string Output, string File) Compare(string folder, params string[] options)
    {
        var dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, folder);
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "tiny.json");
        File.WriteAllText(file, Tiny.Replace("MODEL", "basic"));
        var o = new StringWriter();
        int code = Program.Run(["compare", file, .. options, "--out", Path.Combine(dir, "out")], CliConsole.To(o, TextWriter.Null));
        return (code, o.ToString(), file);
    }

    [TestCase("basic,quantum")]
    [TestCase("basic,basic")]
    [TestCase(",")]
    public void Compare_RefusesABadModelList(string list)
    {
        var e = new StringWriter();
        Assert.That(Program.Run(["compare", "demo", "--models", list], CliConsole.To(TextWriter.Null, e), runner: null), Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(e.ToString(), Does.Contain("--models"));
    }

    [Test]
    public void RunAndDemo_AcceptModel_AndRefuseAnUnknownOne()
    {
        var o = new StringWriter();
        Assert.That(Program.Run(["demo", "--model", "hardware"], CliConsole.To(o, TextWriter.Null), runner: null), Is.Zero);
        Assert.That(o.ToString(), Does.Contain("hardware model"));
        Assert.That(Program.Run(["demo", "--model", "turbo"], CliConsole.To(TextWriter.Null, TextWriter.Null), runner: null), Is.EqualTo(ExitCodes.InvalidInput));
    }
}
