using Coproc.Cli.Commands;

namespace Coproc.Cli;

/// <summary>Entry point of the <c>coproc</c> command.</summary>
public static class Program
{
    /// <summary>Dispatches a verb on the process console. Returns the process exit code.</summary>
    public static int Main(string[] args) => Run(args, CliConsole.System());

    /// <summary>
    /// Dispatches a verb with the given console (tests run commands in-process this way). Exit codes: 0 success,
    /// 2 invalid command line or scenario, 1 anything unexpected — reported as one line, never a stack trace.
    /// </summary>
    public static int Run(IReadOnlyList<string> args, CliConsole io)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(io);
        var verb = args.Count > 0 ? args[0] : "help";
        var rest = args.Skip(1).ToArray();
        try
        {
            switch (verb)
            {
                case "demo":
                    return RunCommand.Demo(rest, io);
                case "run":
                    return RunCommand.Run(rest, io);
                case "bench":
                    return BenchCommand.Run(rest, io);
                case "help":
                case "--help":
                case "-h":
                    PrintHelp(io.Out);
                    return 0;
                default:
                    throw new UsageException($"unknown verb '{verb}'");
            }
        }
        catch (UsageException e)
        {
            io.Error.WriteLine($"coproc: {e.Message}");
            PrintHelp(io.Error);
            return RunCommand.InvalidInput;
        }
        catch (Exception e)
        {
            // A user sees what went wrong, not a stack trace; COPROC_DEBUG=1 shows it for a developer.
            io.Error.WriteLine($"coproc {verb}: error: {e.Message}");
            if (Environment.GetEnvironmentVariable("COPROC_DEBUG") == "1") io.Error.WriteLine(e);
            return 1;
        }
    }

    private static void PrintHelp(TextWriter w)
    {
        w.WriteLine("usage: coproc <verb> [options]");
        w.WriteLine("  demo [--out DIR] [--seed N] [--mode deterministic|threaded] [--no-preemption]");
        w.WriteLine("                     run the built-in deterministic desktop-under-pressure scenario");
        w.WriteLine("  run [--validate] <scenario.json> [--out DIR] [--seed N] [--mode deterministic|threaded] [--no-preemption] [--strict]");
        w.WriteLine("                     validate (prints \"ok\" or the errors, exit 2) or run a scenario file");
        w.WriteLine("  bench [--quick] [--json] [--iterations-scale X]");
        w.WriteLine("                     side-by-side measurements (ring 3 vs ring 0, SPSC, Channels, CP, copy/fill, TLB)");
        w.WriteLine("  help               this text");
    }
}
