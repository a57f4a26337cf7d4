using Coproc.Cli.Reports;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Reflection;
using System.Text;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Driver.Diagnostics;
using Spectre.Console;

namespace Coproc.Cli.Commands;

/// <summary>
/// <c>coproc run [--validate] &lt;scenario.json&gt; [options]</c> and <c>coproc demo [options]</c> (the same with the
/// built-in desktop-under-pressure scenario). Validation errors name the line, the JSON path and what was expected;
/// they exit with <see cref="ExitCodes.InvalidInput"/> and never print a stack trace. docs/cli.md lists the options.
/// </summary>
public static class RunCommand
{
    /// <summary>Exit code of an invalid scenario or command line (<see cref="ExitCodes.InvalidInput"/>).</summary>
    public const int InvalidInput = ExitCodes.InvalidInput;

    /// <summary>Exit code of a run with <c>--strict</c> in which the scheduling auditor found something (docs/scheduling-policy.md).</summary>
    public const int AuditWarnings = ExitCodes.AuditFindings;

    /// <summary>The built-in demo scenario's JSON (tools/scenarios/demo.json, embedded).</summary>
    public static string DemoScenarioJson()
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("Coproc.Cli.demo.json")
            ?? throw new InvalidOperationException("the built-in demo scenario is missing from the assembly");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>The <c>run</c> verb.</summary>
    public static Command CreateRun(CliConsole io, IScenarioRunner? runner)
    {
        var options = new RunOptions(withRunOnlyOptions: true);
        var file = new Argument<string>("scenario") { Description = "The scenario file (JSON; format in docs/scenarios.md)." };
        var command = new Command("run", "Validate or run a scenario file: prints a summary table (or --json / --csv) and writes trace.json, timeline.html and frame.png.")
        {
            file,
        };
        options.AddTo(command);
        command.SetAction(parse => Run(parse.GetValue(file)!, options.Read(parse), io, runner));
        return command;
    }

    /// <summary>The <c>demo</c> verb.</summary>
    public static Command CreateDemo(CliConsole io, IScenarioRunner? runner)
    {
        var options = new RunOptions(withRunOnlyOptions: false);
        var command = new Command("demo", "Run the built-in deterministic desktop-under-pressure scenario (tools/scenarios/demo.json).");
        options.AddTo(command);
        command.SetAction(parse => Demo(options.Read(parse), io, runner));
        return command;
    }

    /// <summary>Validates, then (unless <see cref="RunSettings.ValidateOnly"/>) runs a scenario file with <paramref name="runner"/> (null: validate only).</summary>
    public static int Run(string file, RunSettings settings, CliConsole io, IScenarioRunner? runner)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(io);
        byte[] source;
        Scenario scenario;
        try
        {
            source = ScenarioLoader.ReadFile(file);
            scenario = ScenarioLoader.Load(source, file);
        }
        catch (ScenarioValidationException e)
        {
            return Invalid(file, e.Errors, io);
        }
        if (settings.ValidateOnly)
        {
            // Everything run refuses before its first cycle is refused here too: the runner sets the scenario up and tears it down.
            var setup = runner?.CheckSetup(scenario, settings.RunOptions(new TraceRecorder(1))) ?? [];
            if (setup.Count > 0) return Invalid(file, ScenarioLoader.Locate(setup, source), io);
            io.Out.WriteLine("ok");
            return ExitCodes.Success;
        }
        return Execute(scenario, source, file, settings, io, runner);
    }

    /// <summary>Runs the built-in scenario with <paramref name="runner"/> (null: validate only).</summary>
    public static int Demo(RunSettings settings, CliConsole io, IScenarioRunner? runner)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var json = DemoScenarioJson();
        return Execute(ScenarioLoader.Load(json, "demo.json"), Encoding.UTF8.GetBytes(json), "demo.json", settings, io, runner);
    }

    private static int Invalid(string file, IReadOnlyList<ScenarioError> errors, CliConsole io)
    {
        io.Error.WriteLine($"{file}: invalid scenario ({errors.Count} problem{(errors.Count == 1 ? "" : "s")}):");
        foreach (var error in errors) io.Error.WriteLine($"  {error}");
        return ExitCodes.InvalidInput;
    }

    private static int Execute(Scenario scenario, byte[] source, string file, RunSettings settings, CliConsole io, IScenarioRunner? runner)
    {
        // A machine-readable summary owns standard output; everything for people goes to standard error then.
        var human = settings.Format == SummaryFormat.Table ? io.Console : io.Diagnostics;
        int contexts = scenario.Contexts.Count();
        ulong seed = settings.Seed ?? scenario.Seed;
        var mode = settings.Mode ?? scenario.Mode;
        var model = settings.Model ?? scenario.Model;
        human.MarkupLine($"Scenario [bold]{Markup.Escape(scenario.Name)}[/]: {scenario.Processes.Count} processes, {contexts} contexts, " +
                         $"{scenario.DurationCycles:N0} device cycles, seed {seed}, {mode.ToString().ToLowerInvariant()}" +
                         (model == Coproc.Fast.Driver.SchedulingModel.Basic ? "." : $", {model.ToString().ToLowerInvariant()} model."));
        if (runner is null)
        {
            // Two short lines: redirected output is wrapped at the console width.
            human.MarkupLine("The scenario is valid. No scenario runner was given.");
            human.MarkupLine("Nothing was run and no files were written.");
            return ExitCodes.Success;
        }

        var recorder = new TraceRecorder();
        var options = settings.RunOptions(recorder);
        ScenarioReport report;
        // Ctrl+C stops the run early; the runner reports the cycles run so far and the files are still written.
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            report = RunWithProgress(runner, scenario, options, io, cancel.Token);
        }
        catch (ScenarioValidationException e)
        {
            return Invalid(file, ScenarioLoader.Locate(e.Errors, source), io);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }

        var dir = settings.OutputDirectory ?? DemoReportRenderer.DefaultOutputDirectory(scenario.Name, report.Seed);
        RenderedFiles files;
        switch (settings.Format)
        {
            case SummaryFormat.Json:
                files = DemoReportRenderer.WriteFiles(report, dir);
                ReportFormats.WriteJson(io.Out, report, files);
                PrintNotes(report, human);
                DemoReportRenderer.PrintFiles(files, report, human);
                break;
            case SummaryFormat.Csv:
                files = DemoReportRenderer.WriteFiles(report, dir);
                ReportFormats.WriteCsv(io.Out, report);
                PrintNotes(report, human);
                DemoReportRenderer.PrintFiles(files, report, human);
                break;
            default:
                DemoReportRenderer.Render(report, dir, io.Console);
                break;
        }
        switch (report.Stop)
        {
            case RunStop.TimeLimit:
                io.Error.WriteLine($"coproc: the wall-clock guard stopped the run at cycle {report.CyclesRun:N0} of {scenario.DurationCycles:N0}; " +
                                   "the report covers the cycles run (--time-limit SECONDS raises the guard).");
                return ExitCodes.StoppedByGuard;
            case RunStop.Cancelled:
                io.Error.WriteLine($"coproc: interrupted at cycle {report.CyclesRun:N0} of {scenario.DurationCycles:N0}; the report covers the cycles run.");
                return ExitCodes.Interrupted;
            default:
                return settings.Strict && report.Warnings.Count > 0 ? ExitCodes.AuditFindings : ExitCodes.Success;
        }
    }

    // With --json / --csv the notes printed under the table go to standard error with the header line (docs/cli.md).
    private static void PrintNotes(ScenarioReport report, IAnsiConsole human)
    {
        foreach (var note in report.Notes) human.MarkupLine(Markup.Escape(note));
    }

    private static ScenarioReport RunWithProgress(IScenarioRunner runner, Scenario scenario, ScenarioRunOptions options, CliConsole io, CancellationToken cancel)
    {
        if (!io.LiveProgress) return runner.Run(scenario, options, null, cancel); // no progress lines in files and pipes
        ScenarioReport? report = null;
        io.Diagnostics.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(scenario.Name), maxValue: scenario.DurationCycles);
                report = runner.Run(scenario, options, new SynchronousProgress(task), cancel);
                task.Value = task.MaxValue;
            });
        return report!;
    }

    /// <summary>Reports progress on the caller's thread (Progress&lt;T&gt; would post to the thread pool and arrive late).</summary>
    private sealed class SynchronousProgress(ProgressTask task) : IProgress<ScenarioProgress>
    {
        public void Report(ScenarioProgress value)
        {
            task.Value = value.Cycle;
            if (!string.IsNullOrEmpty(value.Status)) task.Description = Markup.Escape(value.Status);
        }
    }

    /// <summary>The seed parser of every verb: a non-negative integer, else a usage error saying so.</summary>
    internal static ulong? ParseSeed(ArgumentResult r) => RunOptions.ParseSeed(r);

    /// <summary>What is wrong with an <c>--out</c> value (an empty or blank folder name), or null.</summary>
    internal static string? OutOptionError(string? value) =>
        value is not null && string.IsNullOrWhiteSpace(value) ? "--out expects a folder name, got an empty one" : null;

    /// <summary>The options of <c>run</c> and <c>demo</c> (one instance per command).</summary>
    private sealed class RunOptions
    {
        private readonly Option<string?> _out = new("--out", "-o")
        {
            Description = "Folder for trace.json, timeline.html and frame.png (default: coproc-out/<name>-seed<seed>).", HelpName = "DIR",
        };
        private readonly Option<ulong?> _seed = new("--seed")
        {
            Description = "Seed of every pseudo-random choice, overriding the scenario's.", HelpName = "N", CustomParser = ParseSeed,
        };
        private readonly Option<string?> _mode = new("--mode")
        {
            Description = "deterministic (one thread, virtual clock, reproducible) or threaded (free-running threads), overriding the scenario's.",
            HelpName = "deterministic|threaded",
        };
        private readonly Option<string?> _model = new("--model")
        {
            Description = "Scheduling model, overriding the scenario's: basic (KMD copy-in, patching, paging buffers, direct switching), " +
                          "advanced (per-process GPU VA, demand faulting, run lists) or hardware (doorbell user queues arbitrated by the device). docs/models.md.",
            HelpName = "basic|advanced|hardware",
        };
        private readonly Option<bool> _noPreemption = new("--no-preemption") { Description = "Run without preemption (the with/without comparison)." };
        private readonly Option<bool> _json = new("--json") { Description = "Print the summary as one JSON object on standard output (people's lines go to standard error)." };
        private readonly Option<bool> _csv = new("--csv") { Description = "Print the summary as CSV, one row per context, on standard output." };
        private readonly Option<double?> _timeLimit = new("--time-limit")
        {
            Description = "Wall-clock guard in seconds: stop the run after this much host time and report the cycles run, exit code 3 " +
                          "(default 600 deterministic, 120 threaded).",
            HelpName = "SECONDS", CustomParser = ParseSeconds,
        };
        private readonly Option<bool>? _validate, _strict;

        public RunOptions(bool withRunOnlyOptions)
        {
            _mode.AcceptOnlyFromAmong("deterministic", "threaded");
            _model.AcceptOnlyFromAmong([.. ScenarioLoader.Models.Keys]);
            if (!withRunOnlyOptions) return;
            _validate = new Option<bool>("--validate") { Description = "Only check the file (and that the machine can set it up): prints \"ok\", or every problem and exit code 2." };
            _strict = new Option<bool>("--strict") { Description = "Exit with code 4 when the scheduling auditor reports findings (they are printed as warnings either way; docs/scheduling-policy.md)." };
        }

        public void AddTo(Command command)
        {
            if (_validate is not null) command.Add(_validate);
            command.Add(_out);
            command.Add(_seed);
            command.Add(_mode);
            command.Add(_model);
            command.Add(_noPreemption);
            command.Add(_json);
            command.Add(_csv);
            command.Add(_timeLimit);
            if (_strict is not null) command.Add(_strict);
            command.Validators.Add(r =>
            {
                if (r.GetValue(_json) && r.GetValue(_csv)) r.AddError("--json and --csv cannot be combined; choose one summary format");
                if (OutOptionError(r.GetValue(_out)) is { } error) r.AddError(error);
            });
        }

        public RunSettings Read(ParseResult parse) => new()
        {
            ValidateOnly = _validate is not null && parse.GetValue(_validate),
            OutputDirectory = parse.GetValue(_out),
            Seed = parse.GetValue(_seed),
            Mode = parse.GetValue(_mode) switch
            {
                "deterministic" => RunMode.Deterministic,
                "threaded" => RunMode.Threaded,
                _ => null,
            },
            Model = parse.GetValue(_model) is { } m ? ScenarioLoader.Models[m] : null,
            Preemption = parse.GetValue(_noPreemption) ? false : null,
            Format = parse.GetValue(_json) ? SummaryFormat.Json : parse.GetValue(_csv) ? SummaryFormat.Csv : SummaryFormat.Table,
            TimeLimit = parse.GetValue(_timeLimit) is { } s ? TimeSpan.FromSeconds(s) : null,
            Strict = _strict is not null && parse.GetValue(_strict),
        };

        internal static ulong? ParseSeed(ArgumentResult r)
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed)) return seed;
            r.AddError($"--seed expects a non-negative integer, got '{text}'");
            return null;
        }

        private static double? ParseSeconds(ArgumentResult r)
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 && s <= TimeSpan.MaxValue.TotalSeconds / 2)
                return s;
            r.AddError($"--time-limit expects a number of seconds greater than 0, got '{text}'");
            return null;
        }
    }
}

/// <summary>How <c>run</c> and <c>demo</c> print their summary.</summary>
public enum SummaryFormat
{
    /// <summary>A table for people (the default).</summary>
    Table,
    /// <summary>One JSON object (<see cref="ReportFormats.WriteJson"/>).</summary>
    Json,
    /// <summary>CSV, one row per context (<see cref="ReportFormats.WriteCsv(TextWriter, ScenarioReport)"/>).</summary>
    Csv,
}

/// <summary>What the command line of <c>run</c> / <c>demo</c> asked for.</summary>
public sealed record RunSettings
{
    /// <summary><c>--validate</c>: check only.</summary>
    public bool ValidateOnly { get; init; }

    /// <summary><c>--out</c>.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary><c>--seed</c>.</summary>
    public ulong? Seed { get; init; }

    /// <summary><c>--mode</c>.</summary>
    public RunMode? Mode { get; init; }

    /// <summary><c>--model</c>.</summary>
    public Coproc.Fast.Driver.SchedulingModel? Model { get; init; }

    /// <summary><c>--no-preemption</c> sets false.</summary>
    public bool? Preemption { get; init; }

    /// <summary><c>--json</c> / <c>--csv</c>.</summary>
    public SummaryFormat Format { get; init; }

    /// <summary><c>--time-limit</c>.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary><c>--strict</c> (run only).</summary>
    public bool Strict { get; init; }

    /// <summary>The runner's options for these settings.</summary>
    public ScenarioRunOptions RunOptions(TraceRecorder trace) =>
        new(trace, Seed, Mode, Preemption) { TimeLimit = TimeLimit, Strict = Strict, Model = Model };
}
