using System.CommandLine;
using System.CommandLine.Invocation;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Scenarios.Running;

namespace Coproc.Cli;

/// <summary>Entry point of the <c>coproc</c> command (docs/cli.md).</summary>
public static class Program
{
    /// <summary>Dispatches a verb on the process console. Returns the process exit code (<see cref="ExitCodes"/>).</summary>
    public static int Main(string[] args) => Run(args, CliConsole.System());

    /// <summary>Runs a command line with the VidSch-backed scenario runner (<see cref="VidSchScenarioRunner"/>).</summary>
    public static int Run(IReadOnlyList<string> args, CliConsole io) => Run(args, io, new VidSchScenarioRunner());

    /// <summary>
    /// Parses and runs a command line with the given console and scenario runner (tests run commands in-process this
    /// way; a null runner only validates and prints the scenario's header). Returns one of
    /// <see cref="ExitCodes"/>; a failure is reported as one line on standard error, never a stack trace
    /// (<c>COPROC_DEBUG=1</c> adds it).
    /// </summary>
    public static int Run(IReadOnlyList<string> args, CliConsole io, IScenarioRunner? runner)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(io);
        // "coproc" alone and "coproc help [verb]" show the help, as "coproc [verb] --help" does.
        string[] argv = args.Count == 0 ? ["--help"] : args[0] == "help" ? [.. args.Skip(1), "--help"] : [.. args];
        var root = BuildCommandLine(io, runner);
        var parse = root.Parse(argv);
        string verb = parse.CommandResult.Command == root ? "coproc" : $"coproc {parse.CommandResult.Command.Name}";
        // Help wins over parse errors in System.CommandLine, so "coproc help frobnicate" / "coproc frobnicate --help" would print
        // the root help and succeed: a word that is no verb, option or argument is a bad command line, help or not.
        if (parse.Action is ParseErrorAction || parse.UnmatchedTokens.Count > 0)
        {
            var errors = parse.Errors.Select(e => e.Message).ToList();
            if (errors.Count == 0) errors.AddRange(parse.UnmatchedTokens.Select(t => $"Unrecognized command or argument '{t}'."));
            foreach (var error in errors) io.Error.WriteLine($"{verb}: {error}");
            io.Error.WriteLine($"Run '{verb} --help' for usage.");
            return ExitCodes.InvalidInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration
            {
                Output = io.Out,
                Error = io.Error,
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null, // run and demo handle Ctrl+C themselves (the report is still written)
            });
        }
        catch (UsageException e)
        {
            io.Error.WriteLine($"{verb}: {e.Message}");
            io.Error.WriteLine($"Run '{verb} --help' for usage.");
            return ExitCodes.InvalidInput;
        }
        catch (Exception e)
        {
            // A user sees what went wrong, not a stack trace; COPROC_DEBUG=1 shows it for a developer.
            io.Error.WriteLine($"{verb}: error: {e.Message}");
            if (Environment.GetEnvironmentVariable("COPROC_DEBUG") == "1") io.Error.WriteLine(e);
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// The command tree: <c>demo</c>, <c>run</c>, <c>compare</c>, <c>bench</c>, with <c>--help</c> on each, <c>--version</c> and the
    /// <c>[suggest]</c> completion directive (dotnet-suggest) on the root.
    /// </summary>
    public static RootCommand BuildCommandLine(CliConsole io, IScenarioRunner? runner)
    {
        ArgumentNullException.ThrowIfNull(io);
        var root = new RootCommand("coproc: demo, scenarios and benchmarks of the Coproc.Fast GPU-like coprocessor emulator and its driver stack. " +
                                   "Exit codes: 0 success, 1 failure, 2 invalid command line or scenario, 3 stopped by the wall-clock guard, 4 scheduling-auditor findings with --strict, 130 interrupted.")
        {
            RunCommand.CreateDemo(io, runner),
            RunCommand.CreateRun(io, runner),
            CompareCommand.Create(io, runner),
            BenchCommand.Create(io),
        };
        root.HelpName = "coproc";
        // Reached only by options alone (e.g. "coproc --strict"): a verb is needed.
        root.SetAction(new Func<ParseResult, int>(_ => throw new UsageException("a verb is needed: demo, run, compare or bench")));
        return root;
    }
}

/// <summary>The process exit codes of <c>coproc</c> (docs/cli.md).</summary>
public static class ExitCodes
{
    /// <summary>Success (a validation printed "ok"; a run ran its whole duration).</summary>
    public const int Success = 0;

    /// <summary>Something unexpected failed (I/O, a machine thread); one line on standard error.</summary>
    public const int Failure = 1;

    /// <summary>The command line or the scenario is invalid (every problem is printed with its line and JSON path).</summary>
    public const int InvalidInput = 2;

    /// <summary>The run's wall-clock guard (<c>--time-limit</c>) stopped it; the report and files cover the cycles run.</summary>
    public const int StoppedByGuard = 3;

    /// <summary><c>run --strict</c>: the run completed but the scheduling auditor reported findings (docs/scheduling-policy.md).</summary>
    public const int AuditFindings = 4;

    /// <summary>Ctrl+C stopped the run; the report and files cover the cycles run (128 + SIGINT, as shells do).</summary>
    public const int Interrupted = 130;
}
