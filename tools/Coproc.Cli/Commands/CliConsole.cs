using Spectre.Console;

namespace Coproc.Cli.Commands;

/// <summary>
/// Where a command writes. Results (tables, JSON, CSV, "ok") go to standard output; progress, notes about the run and
/// errors go to standard error, so <c>coproc run x.json --json &gt; report.json</c> captures the result alone. A
/// stream that is not a terminal gets plain text: no ANSI escapes, no colours, no animation, a fixed wide width.
/// </summary>
/// <param name="Out">Standard output.</param>
/// <param name="Error">Standard error.</param>
/// <param name="Console">Rich output (tables) to <paramref name="Out"/>.</param>
public sealed record CliConsole(TextWriter Out, TextWriter Error, IAnsiConsole Console)
{
    private IAnsiConsole? _diagnostics;

    /// <summary>Rich output to <see cref="Error"/>: progress and status lines (plain when standard error is not a terminal).</summary>
    /// <remarks>The plain default is made on first use, so a console given at construction is the only one made.</remarks>
    public IAnsiConsole Diagnostics
    {
        get => _diagnostics ??= Plain(Error);
        init => _diagnostics = value;
    }

    /// <summary>Whether a live progress bar may be drawn on <see cref="Diagnostics"/> (standard error is an interactive terminal).</summary>
    public bool LiveProgress { get; init; }

    /// <summary>The process's own console.</summary>
    public static CliConsole System()
    {
        bool outTerminal = !global::System.Console.IsOutputRedirected, errorTerminal = !global::System.Console.IsErrorRedirected;
        var output = global::System.Console.Out;
        var error = global::System.Console.Error;
        return new(output, error, outTerminal ? Terminal(output) : Plain(output))
        {
            Diagnostics = errorTerminal ? Terminal(error) : Plain(error),
            LiveProgress = errorTerminal,
        };
    }

    /// <summary>Width used when the output is not a terminal: wide enough for the summary table on one line per row.</summary>
    public const int WideColumns = 180;

    /// <summary>A console writing to the given writers (tests), without colours or animation.</summary>
    public static CliConsole To(TextWriter output, TextWriter error) => new(output, error, Plain(output)) { Diagnostics = Plain(error) };

    /// <summary>A console on a terminal: colours and width as the terminal says (NO_COLOR is honoured by Spectre.Console).</summary>
    private static IAnsiConsole Terminal(TextWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = AnsiSupport.Detect,
        ColorSystem = ColorSystemSupport.Detect,
        Interactive = InteractionSupport.Detect,
    });

    /// <summary>A console on a file or pipe: no escape sequences at all, a fixed width.</summary>
    public static IAnsiConsole Plain(TextWriter writer, int width = WideColumns)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        return console;
    }
}

/// <summary>A command line that cannot be understood: printed with a pointer to the help, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
