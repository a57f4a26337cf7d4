using Spectre.Console;

namespace Coproc.Cli.Commands;

/// <summary>Where a command writes: plain output (JSON, "ok"), errors, and a Spectre console for tables and progress.</summary>
/// <param name="Out">Standard output.</param>
/// <param name="Error">Standard error.</param>
/// <param name="Console">Rich output (tables, progress); writes to <paramref name="Out"/>.</param>
public sealed record CliConsole(TextWriter Out, TextWriter Error, IAnsiConsole Console)
{
    /// <summary>The process's own console.</summary>
    public static CliConsole System()
    {
        var console = AnsiConsole.Console;
        // Redirected output (CI, pipes) would otherwise be 80 columns wide and wrap the summary table.
        if (global::System.Console.IsOutputRedirected) console.Profile.Width = WideColumns;
        return new(global::System.Console.Out, global::System.Console.Error, console);
    }

    /// <summary>Width used when the output is not a terminal: wide enough for the summary table.</summary>
    public const int WideColumns = 180;

    /// <summary>A console writing to the given writers (tests), without colours or animation.</summary>
    public static CliConsole To(TextWriter output, TextWriter error) => new(output, error, AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(output),
        Ansi = AnsiSupport.No,
        ColorSystem = ColorSystemSupport.NoColors,
        Interactive = InteractionSupport.No,
    }).Also(c => c.Profile.Width = WideColumns));
}

internal static class ConsoleExtensions
{
    public static IAnsiConsole Also(this IAnsiConsole console, Action<IAnsiConsole> configure)
    {
        configure(console);
        return console;
    }
}

/// <summary>A command line that cannot be understood: printed with the usage, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
