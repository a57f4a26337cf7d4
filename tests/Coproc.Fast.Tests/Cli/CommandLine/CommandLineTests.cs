using System.CommandLine;
using System.Text.Json;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios;

namespace Coproc.Fast.Tests.Cli.CommandLine;

/// <summary>The conventions of the <c>coproc</c> command line (docs/cli.md): help per verb, version, --opt=value, completions, exit codes.</summary>
public class CommandLineTests
{
    private static (int Code, string Out, string Err) Cli(IScenarioRunner? runner, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, CliConsole.To(o, e), runner);
        return (code, o.ToString(), e.ToString());
    }

    [TestCase("run")]
    [TestCase("demo")]
    [TestCase("bench")]
    public void VerbHelp_ExitsZero_AndListsTheVerbsOptions(string verb)
    {
        var (code, output, err) = Cli(null, verb, "--help");
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain($"coproc {verb}").And.Contain("--help"));
        Assert.That(Cli(null, "help", verb).Out, Is.EqualTo(output), "'coproc help <verb>' is the same text");
    }

    [Test]
    public void RunHelp_DocumentsEveryOption_IncludingStrictAndTheGuard()
    {
        var output = Cli(null, "run", "--help").Out;
        foreach (var option in new[] { "--validate", "--out", "--seed", "--mode", "--no-preemption", "--json", "--csv", "--time-limit", "--strict" })
            Assert.That(output, Does.Contain(option));
        var bench = Cli(null, "bench", "--help").Out;
        Assert.That(bench, Does.Contain("--scale").And.Contain("--repetitions").And.Not.Contain("--iterations-scale"));
    }

    [Test]
    public void Version_ExitsZero_AndPrintsTheAssemblyVersion()
    {
        var (code, output, _) = Cli(null, "--version");
        Assert.That(code, Is.Zero);
        Assert.That(output.Trim(), Does.Match(@"^\d+\.\d+\.\d+"));
    }

    [Test]
    public void NoArguments_PrintTheHelp_AndExitZero()
    {
        var (code, output, _) = Cli(null);
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("demo").And.Contain("run").And.Contain("bench").And.Contain("Exit codes"));
    }

    [Test]
    public void OptionEqualsValue_IsAccepted()
    {
        var (code, output, err) = Cli(null, "demo", "--seed=5", "--mode=threaded");
        Assert.That(code, Is.Zero, err);
        Assert.That(output, Does.Contain("seed 5, threaded"));
    }

    [TestCase(new[] { "frobnicate" }, "Unrecognized command or argument 'frobnicate'")]
    [TestCase(new[] { "bench", "--fast" }, "Unrecognized command or argument '--fast'")]
    [TestCase(new[] { "run" }, "Required argument 'scenario' missing")]
    [TestCase(new[] { "demo", "--seed", "-3" }, "--seed expects a non-negative integer")]
    [TestCase(new[] { "demo", "--json", "--csv" }, "--json and --csv cannot be combined")]
    [TestCase(new[] { "demo", "--time-limit", "0" }, "--time-limit expects a number of seconds greater than 0")]
    [TestCase(new[] { "bench", "--scale", "0" }, "--scale expects a number in (0, 1000]")]
    [TestCase(new[] { "bench", "-n", "2.5" }, "--repetitions expects a whole number")]
    public void ABadCommandLine_ExitsTwo_SayingWhatIsWrong_AndWhereTheHelpIs(string[] args, string message)
    {
        var (code, output, err) = Cli(null, args);
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(output, Is.Empty);
        Assert.That(err, Does.Contain(message).And.Contain("--help' for usage"));
        Assert.That(err, Does.Not.Contain("   at "));
    }

    [Test]
    public void Completions_OfferTheVerbs_AndTheModes()
    {
        var root = Program.BuildCommandLine(CliConsole.To(TextWriter.Null, TextWriter.Null), null);
        Assert.That(root.Parse("").GetCompletions().Select(c => c.Label), Is.SupersetOf(new[] { "bench", "demo", "run" }));
        Assert.That(root.Parse("demo --mode ").GetCompletions().Select(c => c.Label), Is.EquivalentTo(new[] { "deterministic", "threaded" }));
    }

    [Test]
    public void ExitCodes_AreTheDocumentedOnes()
    {
        Assert.That((ExitCodes.Success, ExitCodes.Failure, ExitCodes.InvalidInput, ExitCodes.StoppedByGuard, ExitCodes.Interrupted),
            Is.EqualTo((0, 1, 2, 3, 130)));
        var doc = File.ReadAllText(Path.Combine(RepoFiles.Root, "docs", "cli.md"));
        foreach (var code in new[] { "| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 130 |" })
            Assert.That(doc, Does.Contain(code), "docs/cli.md lists exit code " + code);
    }
}
