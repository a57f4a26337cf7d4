using System.Text.Json;
using Coproc.Cli;
using Coproc.Cli.Commands;
using Coproc.Fast.Scenarios;

namespace Coproc.Fast.Tests.Cli;

public class CliCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, CliConsole.To(o, e));
        return (code, o.ToString(), e.ToString());
    }

    [Test]
    public void RunValidate_OnAShippedScenario_PrintsOk()
    {
        var (code, output, _) = Run("run", "--validate", RepoFiles.Scenario("demo.json"));
        Assert.That(code, Is.Zero);
        Assert.That(output.Trim(), Is.EqualTo("ok"));
    }

    [Test]
    public void RunValidate_OnABadFile_PrintsLineAndPath_ExitCode2_NoStackTrace()
    {
        var file = Path.Combine(TestContext.CurrentContext.WorkDirectory, "bad-scenario.json");
        File.WriteAllText(file, "{\n  \"name\": \"x\",\n  \"duration_cycles\": -1,\n  \"processes\": []\n}\n");
        var (code, output, err) = Run("run", "--validate", file);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(output, Is.Empty);
        Assert.That(err, Does.Contain("line 3, $.duration_cycles: negative value -1"));
        Assert.That(err, Does.Contain("line 4, $.processes: expected at least one entry"));
        Assert.That(err, Does.Not.Contain("   at "));
    }

    [Test]
    public void UnknownVerbOrOption_IsAUsageError()
    {
        Assert.That(Run("frobnicate").Code, Is.EqualTo(2));
        Assert.That(Run("bench", "--fast").Code, Is.EqualTo(2));
        Assert.That(Run("run").Err, Does.Contain("Required argument 'scenario' missing"));
    }

    [Test]
    public void BenchJsonQuick_HasEveryKey_AsANumber()
    {
        var (code, output, err) = Run("bench", "--json", "--quick", "--scale", "0.002");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        foreach (var key in BenchCommand.RequiredKeys)
        {
            Assert.That(doc.RootElement.TryGetProperty(key, out var v), Is.True, key);
            Assert.That(v.ValueKind, Is.EqualTo(JsonValueKind.Number), key);
            Assert.That(v.GetDouble(), Is.GreaterThanOrEqualTo(0), key);
        }
        Assert.That(doc.RootElement.GetProperty("ring3_submits_per_s").GetDouble(), Is.GreaterThan(0));
    }
}

public class CliOptionTests
{
    [Test]
    public void Demo_ModeOverride_IsShown_AndABadModeIsAUsageError()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        // No runner: validate only, so the header line is what is checked.
        Assert.That(Coproc.Cli.Program.Run(["demo", "--mode", "threaded"], CliConsole.To(o, e), runner: null), Is.Zero);
        Assert.That(o.ToString(), Does.Contain("seed 42, threaded"));
        Assert.That(Coproc.Cli.Program.Run(["demo", "--mode", "fast"], CliConsole.To(o, e), runner: null), Is.EqualTo(2));
        Assert.That(e.ToString(), Does.Contain("'fast' not recognized").And.Contain("deterministic").And.Contain("threaded"));
    }
}
