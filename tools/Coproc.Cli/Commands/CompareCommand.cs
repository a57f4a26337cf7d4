using System.CommandLine;
using System.Text;
using System.Text.Json;
using Coproc.Cli.Reports;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Scenarios;
using Spectre.Console;

namespace Coproc.Cli.Commands;

/// <summary>
/// <c>coproc compare &lt;scenario.json|demo&gt; [--models basic,advanced,hardware] [--json | --csv]</c>: runs the same workload (same
/// seed, deterministic) under each scheduling model and prints, per context, one table with a column per model, then
/// one verdict line per metric; each run's trace and timeline go under one folder (docs/models.md, docs/cli.md).
/// </summary>
public static class CompareCommand
{
    /// <summary>The <c>compare</c> verb.</summary>
    public static Command Create(CliConsole io, IScenarioRunner? runner)
    {
        var file = new Argument<string>("scenario") { Description = "The scenario file (JSON; docs/scenarios.md), or 'demo' for the built-in desktop scenario." };
        var models = new Option<string>("--models")
        {
            Description = "Comma-separated models to run, in column order (default: basic,advanced,hardware).", HelpName = "LIST",
            DefaultValueFactory = _ => "basic,advanced,hardware",
        };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of every run, overriding the scenario's.", HelpName = "N", CustomParser = RunCommand.ParseSeed };
        var output = new Option<string?>("--out", "-o") { Description = "Folder for each model's files (default: coproc-out/<name>-seed<seed>-compare).", HelpName = "DIR" };
        var json = new Option<bool>("--json") { Description = "Print the comparison as one JSON object on standard output." };
        var csv = new Option<bool>("--csv") { Description = "Print one CSV table on standard output: a model column, then the run --csv columns and page_faults." };
        var command = new Command("compare", "Run one scenario under each scheduling model (basic, advanced, hardware) and print the results side by side.")
        {
            file, models, seed, output, json, csv,
        };
        command.Validators.Add(r =>
        {
            if (r.GetValue(json) && r.GetValue(csv)) r.AddError("--json and --csv cannot be combined; choose one summary format");
            if (RunCommand.OutOptionError(r.GetValue(output)) is { } error) r.AddError(error);
        });
        command.SetAction(parse => Run(parse.GetValue(file)!, parse.GetValue(models)!, parse.GetValue(seed), parse.GetValue(output),
            parse.GetValue(json) ? SummaryFormat.Json : parse.GetValue(csv) ? SummaryFormat.Csv : SummaryFormat.Table, io, runner));
        return command;
    }

    /// <summary>Parses a <c>--models</c> list.</summary>
    /// <exception cref="UsageException">An unknown or repeated model, or an empty list.</exception>
    public static IReadOnlyList<SchedulingModel> ParseModels(string list)
    {
        ArgumentNullException.ThrowIfNull(list);
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new UsageException("--models needs at least one of basic, advanced, hardware");
        var models = new List<SchedulingModel>();
        foreach (var n in names)
        {
            if (!ScenarioLoader.Models.TryGetValue(n, out var m)) throw new UsageException($"--models: unknown model '{n}' (basic, advanced, hardware)");
            if (models.Contains(m)) throw new UsageException($"--models: '{n}' is listed twice");
            models.Add(m);
        }
        return models;
    }

    private static int Run(string file, string modelList, ulong? seed, string? output, SummaryFormat format, CliConsole io, IScenarioRunner? runner)
    {
        var models = ParseModels(modelList);
        byte[] source;
        Scenario scenario;
        try
        {
            source = file == "demo" ? Encoding.UTF8.GetBytes(RunCommand.DemoScenarioJson()) : ScenarioLoader.ReadFile(file);
            scenario = ScenarioLoader.Load(source, file == "demo" ? "demo.json" : file);
        }
        catch (ScenarioValidationException e)
        {
            io.Error.WriteLine($"{file}: invalid scenario ({e.Errors.Count} problem{(e.Errors.Count == 1 ? "" : "s")}):");
            foreach (var error in e.Errors) io.Error.WriteLine($"  {error}");
            return ExitCodes.InvalidInput;
        }
        var human = format == SummaryFormat.Table ? io.Console : io.Diagnostics;
        ulong s = seed ?? scenario.Seed;
        human.MarkupLine($"Comparing [bold]{Markup.Escape(scenario.Name)}[/] (seed {s}, deterministic) under {string.Join(", ", models.Select(ModelComparison.Name))}.");
        if (runner is null)
        {
            human.MarkupLine("The scenario is valid. No scenario runner was given; nothing was run.");
            return ExitCodes.Success;
        }
        ModelComparison comparison;
        try
        {
            comparison = ModelComparison.Run(runner, scenario, models, s, _ => new TraceRecorder());
        }
        catch (ScenarioValidationException e)
        {
            io.Error.WriteLine($"{file}: cannot run ({e.Errors.Count} problem{(e.Errors.Count == 1 ? "" : "s")}):");
            foreach (var error in ScenarioLoader.Locate(e.Errors, source)) io.Error.WriteLine($"  {error}");
            return ExitCodes.InvalidInput;
        }
        var dir = output ?? DemoReportRenderer.DefaultOutputDirectory(scenario.Name, s) + "-compare";
        var files = comparison.Reports.Select(r => DemoReportRenderer.WriteFiles(r, Path.Combine(dir, ModelComparison.Name(r.Model)))).ToList();
        if (format == SummaryFormat.Json)
        {
            WriteJson(io.Out, comparison, files);
            return ExitCodes.Success;
        }
        if (format == SummaryFormat.Csv)
        {
            ReportFormats.WriteCsv(io.Out, comparison.Reports);
            return ExitCodes.Success;
        }
        Print(comparison, human);
        human.MarkupLine($"Wrote [bold]{Markup.Escape(Path.GetFullPath(dir))}[/]: one folder per model (trace.json, trace.perfetto-trace, timeline.html, frame.png).");
        return ExitCodes.Success;
    }

    /// <summary>Per context a table (metrics × models), then the verdict lines, the notes that differ and the auditor's findings.</summary>
    public static void Print(ModelComparison comparison, IAnsiConsole console)
    {
        ArgumentNullException.ThrowIfNull(comparison);
        ArgumentNullException.ThrowIfNull(console);
        var reports = comparison.Reports;
        for (int c = 0; c < reports[0].Rows.Count; c++)
        {
            var row0 = reports[0].Rows[c];
            var table = new Table().Border(TableBorder.Rounded)
                .Title($"{Markup.Escape(row0.Process)} / {Markup.Escape(row0.Context)} ({ScenarioLoader.Name(row0.Engine)})");
            table.AddColumn("metric");
            foreach (var r in reports) table.AddColumn(new TableColumn(ModelComparison.Name(r.Model)).RightAligned());
            foreach (var m in ModelComparison.Metrics)
                table.AddRow([m.Name, .. reports.Select(r => c < r.Rows.Count ? m.Format(m.Value(r.Rows[c])) : "–")]);
            console.Write(table);
        }
        console.MarkupLine("[bold]Verdict[/] (whole workload: sums over contexts; shares and latencies: the context that fares worst)");
        foreach (var line in comparison.Verdicts()) console.MarkupLine("  " + Markup.Escape(line));
        foreach (var r in reports)
        {
            foreach (var note in r.Notes.Where(n => n.StartsWith("model ", StringComparison.Ordinal))) console.MarkupLine(Markup.Escape(note));
            foreach (var w in r.Warnings) console.MarkupLine($"[yellow]warning ({ModelComparison.Name(r.Model)}):[/] {Markup.Escape(w)}");
        }
    }

    private static void WriteJson(TextWriter output, ModelComparison comparison, List<RenderedFiles> files)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", comparison.Scenario.Name);
            w.WriteNumber("seed", comparison.Seed);
            w.WriteStartArray("verdicts");
            foreach (var v in comparison.Verdicts()) w.WriteStringValue(v);
            w.WriteEndArray();
            // Each run's full report: the same object `coproc run --json` prints, in model order.
            w.WriteStartArray("runs");
            for (int i = 0; i < comparison.Reports.Count; i++)
            {
                using var run = new StringWriter();
                ReportFormats.WriteJson(run, comparison.Reports[i], files[i]);
                w.WriteRawValue(run.ToString());
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        output.WriteLine(Encoding.UTF8.GetString(ms.ToArray()));
    }
}
