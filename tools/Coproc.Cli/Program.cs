namespace Coproc.Cli;

/// <summary>Entry point of the <c>coproc</c> command.</summary>
public static class Program
{
    /// <summary>Dispatches a verb. Returns the process exit code.</summary>
    public static int Main(string[] args)
    {
        var verb = args.Length > 0 ? args[0] : "help";
        switch (verb)
        {
            case "demo":
                Console.WriteLine("coproc demo: not yet — the desktop-under-pressure scenario lands with the demo issue (see README, Status).");
                return 0;
            case "help":
            case "--help":
            case "-h":
                PrintHelp(Console.Out);
                return 0;
            default:
                Console.Error.WriteLine($"coproc: unknown verb '{verb}'.");
                PrintHelp(Console.Error);
                return 2;
        }
    }

    private static void PrintHelp(TextWriter w)
    {
        w.WriteLine("usage: coproc <verb> [options]");
        w.WriteLine("  demo    run the built-in deterministic desktop scenario");
        w.WriteLine("  help    this text");
    }
}
