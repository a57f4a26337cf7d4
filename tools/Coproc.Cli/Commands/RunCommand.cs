using System.Reflection;
using Coproc.Cli.Scenarios;
using Coproc.Fast.Driver.Diagnostics;
using Spectre.Console;

namespace Coproc.Cli.Commands;

/// <summary>
/// <c>coproc run [--validate] &lt;scenario.json&gt; [--out DIR] [--seed N] [--mode M] [--no-preemption] [--strict]</c> and <c>coproc demo</c>
/// (the same with the built-in desktop-under-pressure scenario). Validation errors name the line, the JSON path
/// and what was expected; they exit with code 2 and never print a stack trace.
/// </summary>
public static class RunCommand
{
    /// <summary>Exit code of an invalid scenario or command line.</summary>
    public const int InvalidInput = 2;

    /// <summary>Exit code of a run with <c>--strict</c> in which the scheduling auditor found something (docs/scheduling-policy.md).</summary>
    public const int AuditWarnings = 3;

    /// <summary>The built-in demo scenario's JSON (tools/scenarios/demo.json, embedded).</summary>
    public static string DemoScenarioJson()
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("Coproc.Cli.demo.json")
            ?? throw new InvalidOperationException("the built-in demo scenario is missing from the assembly");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>Runs <c>coproc run …</c>.</summary>
    public static int Run(IReadOnlyList<string> args, CliConsole io)
    {
        bool validateOnly = false;
        string? file = null;
        var settings = new RunSettings();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == "--validate") validateOnly = true;
            else if (settings.TryParse(args, ref i)) { }
            else if (args[i].StartsWith('-')) throw new UsageException($"unknown option '{args[i]}' for run");
            else if (file is null) file = args[i];
            else throw new UsageException($"run takes one scenario file, got '{file}' and '{args[i]}'");
        }
        if (file is null) throw new UsageException("run needs a scenario file: coproc run [--validate] <scenario.json>");

        Scenario scenario;
        try
        {
            scenario = ScenarioLoader.LoadFile(file);
        }
        catch (ScenarioValidationException e)
        {
            io.Error.WriteLine($"{file}: invalid scenario ({e.Errors.Count} problem{(e.Errors.Count == 1 ? "" : "s")}):");
            foreach (var error in e.Errors) io.Error.WriteLine($"  {error}");
            return InvalidInput;
        }
        if (validateOnly)
        {
            io.Out.WriteLine("ok");
            return 0;
        }
        return Execute(scenario, settings, io);
    }

    /// <summary>Runs <c>coproc demo …</c>: the built-in scenario, exit 0 unless the command line is wrong.</summary>
    public static int Demo(IReadOnlyList<string> args, CliConsole io)
    {
        var settings = new RunSettings();
        for (int i = 0; i < args.Count; i++)
            if (!settings.TryParse(args, ref i)) throw new UsageException($"unknown option '{args[i]}' for demo");
        var scenario = ScenarioLoader.Load(DemoScenarioJson(), "demo.json");
        return Execute(scenario, settings, io);
    }

    private static int Execute(Scenario scenario, RunSettings settings, CliConsole io)
    {
        int contexts = scenario.Contexts.Count();
        ulong seed = settings.Seed ?? scenario.Seed;
        var mode = settings.Mode ?? scenario.Mode;
        io.Console.MarkupLine($"Scenario [bold]{Markup.Escape(scenario.Name)}[/]: {scenario.Processes.Count} processes, {contexts} contexts, " +
                              $"{scenario.DurationCycles:N0} device cycles, seed {seed}, {mode.ToString().ToLowerInvariant()}.");
        var runner = ScenarioRunners.Current;
        if (runner is null)
        {
            // Two short lines: redirected output is wrapped at the console width.
            io.Console.MarkupLine("The scenario is valid. No scenario runner is set (ScenarioRunners.Current is null).");
            io.Console.MarkupLine("Nothing was run and no files were written.");
            return 0;
        }

        var recorder = new TraceRecorder();
        var options = new ScenarioRunOptions(recorder, settings.Seed, settings.Mode, settings.Preemption);
        ScenarioReport? report = null;
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
            io.Console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(scenario.Name), maxValue: scenario.DurationCycles);
                    report = runner.Run(scenario, options, new SynchronousProgress(task), cancel.Token);
                    task.Value = task.MaxValue;
                });
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        var dir = settings.OutputDirectory ?? DemoReportRenderer.DefaultOutputDirectory(scenario.Name, report!.Seed);
        DemoReportRenderer.Render(report!, dir, io.Console);
        return settings.Strict && report!.Warnings.Count > 0 ? AuditWarnings : 0;
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

    /// <summary>Options shared by run and demo.</summary>
    private sealed class RunSettings
    {
        public string? OutputDirectory { get; private set; }
        public ulong? Seed { get; private set; }
        public bool? Preemption { get; private set; }
        public RunMode? Mode { get; private set; }
        public bool Strict { get; private set; }

        public bool TryParse(IReadOnlyList<string> args, ref int i)
        {
            switch (args[i])
            {
                case "--out":
                    OutputDirectory = Value(args, ref i);
                    return true;
                case "--seed":
                    var v = Value(args, ref i);
                    Seed = ulong.TryParse(v, out ulong seed) ? seed : throw new UsageException($"--seed expects a non-negative integer, got '{v}'");
                    return true;
                case "--strict":
                    Strict = true; // scheduling-auditor warnings make the exit code non-zero
                    return true;
                case "--no-preemption":
                    Preemption = false;
                    return true;
                case "--mode":
                    var m = Value(args, ref i);
                    Mode = m switch
                    {
                        "deterministic" => RunMode.Deterministic,
                        "threaded" => RunMode.Threaded,
                        _ => throw new UsageException($"--mode expects deterministic or threaded, got '{m}'"),
                    };
                    return true;
                default:
                    return false;
            }
        }

        private static string Value(IReadOnlyList<string> args, ref int i) =>
            ++i < args.Count ? args[i] : throw new UsageException($"{args[i - 1]} needs a value");
    }
}
