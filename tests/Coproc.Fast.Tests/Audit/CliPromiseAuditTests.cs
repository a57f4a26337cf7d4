using System.Text.Json;
using System.Text.RegularExpressions;
using Coproc.Cli;
using Coproc.Cli.Commands;

namespace Coproc.Fast.Tests.Audit;

/// <summary>
/// Audit of what README.md ("The coproc command"), docs/cli.md, docs/observability.md and docs/scenarios.md promise about
/// the <c>coproc</c> command, its exit codes, its messages and the files it writes. Every test runs the command in-process
/// on a small deterministic scenario (or the built-in demo) and checks one promise; the doc line is named in each test.
/// </summary>
public partial class CliPromiseAuditTests
{
    // Two contexts on two engines, 2 ms of device time, nothing displayed: runs in well under a second.
    private const string Small = """
        {
          "name": "audit-small",
          "duration_cycles": 2000000,
          "options": { "vsync_period_cycles": 0, "local_memory_bytes": 16777216, "system_memory_bytes": 33554432 },
          "processes": [
            { "name": "p", "contexts": [
              { "name": "copy", "engine": "copy", "submission": { "count": 8, "bytes": 256, "period_cycles": 100000, "work_cycles": 20000, "packets": { "fill": 1, "fence": 1 } } },
              { "name": "render", "engine": "render", "submission": { "count": 4, "bytes": 256, "period_cycles": 200000, "work_cycles": 40000, "packets": { "draw_rects": 1 } } }
            ] }
          ]
        }
        """;

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, CliConsole.To(o, e));
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>A fresh folder of this test's own under the work directory.</summary>
    private static string Folder(string name)
    {
        var dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "cli-promise-audit", name);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Write(string dir, string name, string text)
    {
        var file = Path.Combine(dir, name);
        File.WriteAllText(file, text);
        return file;
    }

    private static void AssertNoStackTrace(string err) =>
        Assert.That(err, Does.Not.Contain("   at ").And.Not.Contain("Exception:"), "a user sees one line, not a stack trace");

    // ---- promises that hold --------------------------------------------------------------------------------------

    /// <summary>docs/cli.md:14 — <c>coproc &lt;verb&gt; --help</c> and <c>coproc help &lt;verb&gt;</c>, for compare too; line 12 lists its options.</summary>
    [Test]
    public void CompareHelp_ListsItsOptions_AndHelpCompareIsTheSameText()
    {
        var (code, output, err) = Cli("compare", "--help");
        Assert.That(code, Is.Zero, err);
        foreach (var option in new[] { "--models", "--seed", "-o", "--out", "--json", "--csv" })
            Assert.That(output, Does.Contain(option));
        Assert.That(Cli("help", "compare").Out, Is.EqualTo(output));
    }

    /// <summary>docs/cli.md:17 — <c>--seed=5</c> is <c>--seed 5</c>; options may come before or after the scenario file.</summary>
    [Test]
    public void OptionsBeforeTheScenarioFile_AndOptionEqualsValue_AreAccepted()
    {
        var dir = Folder("options-before");
        var file = Write(dir, "small.json", Small);
        var (code, output, err) = Cli("run", "--seed=7", "-o", Path.Combine(dir, "out"), "--json", file);
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("seed").GetUInt64(), Is.EqualTo(7UL));
        Assert.That(File.Exists(Path.Combine(dir, "out", "trace.json")), Is.True, "-o is short for --out");
    }

    /// <summary>
    /// docs/scenarios.md:277-284, docs/cli.md:25 and :124 — every problem as <c>line N, &lt;JSON path&gt;: …</c>, all at once, in
    /// file order, exit code 2, nothing on standard output, no stack trace.
    /// </summary>
    [Test]
    public void Validate_ReportsEveryProblem_WithItsLineAndPath_InFileOrder()
    {
        var dir = Folder("every-problem");
        var file = Write(dir, "bad.json", """
            {
              "name": "x",
              "seed": -1,
              "duration_cycles": "5",
              "options": { "local_memory_bytes": 3000000, "throughput_divisor": 1025 },
              "processes": [
                { "name": "p", "contexts": [
                  { "name": "c", "engine": "compute", "priority": 16,
                    "submission": { "bytes": 3, "work_cycles": 0, "flip": true } } ] },
                { "name": "p", "contexts": [ { "name": "c", "engine": "warp", "submission": { "bytes": 4, "work_cycles": 1 } } ] }
              ],
              "bogus": 1
            }
            """);
        var (code, output, err) = Cli("run", "--validate", file);
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(output, Is.Empty);
        AssertNoStackTrace(err);
        var problems = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Trim()).ToList();
        Assert.That(problems, Has.Count.GreaterThanOrEqualTo(9), err);
        Assert.That(problems, Has.All.Match(@"^line \d+, \$[^:]*: "));
        var lines = problems.Select(p => int.Parse(ProblemLine().Match(p).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.That(lines, Is.Ordered, "in file order");
        Assert.That(err, Does.Contain("line 3, $.seed").And.Contain("line 4, $.duration_cycles").And.Contain("line 12, $.bogus")
            .And.Contain("$.processes[1].contexts[0].engine").And.Contain("$.processes[1].name"));
    }

    [GeneratedRegex(@"^line (\d+),")]
    private static partial Regex ProblemLine();

    /// <summary>docs/scenarios.md:280-283 and docs/cli.md:124 — malformed files are invalid scenarios: exit code 2, line and path, no stack trace.</summary>
    [TestCase("truncated", "{\n  \"name\": \"x\",\n  \"duration_cycles\": 10", "not valid JSON")]
    [TestCase("empty", "", "not valid JSON")]
    [TestCase("array", "[1, 2]", "expected an object")]
    [TestCase("wrong-type", "{ \"name\": 5, \"duration_cycles\": 1, \"processes\": [] }", "$.name")]
    [TestCase("huge", "{ \"name\": \"x\", \"duration_cycles\": 184467440737095516160, \"processes\": [] }", "$.duration_cycles")]
    [TestCase("float", "{ \"name\": \"x\", \"duration_cycles\": 1e3, \"processes\": [] }", "$.duration_cycles")]
    [TestCase("duplicate-key", "{ \"name\": \"x\", \"name\": \"y\", \"duration_cycles\": 1, \"processes\": [] }", "duplicate property 'name'")]
    [TestCase("not-utf8", "\u00ff\u00fe{", "not valid JSON")]
    public void Validate_AMalformedFile_IsAnInvalidScenario(string name, string text, string expected)
    {
        var dir = Folder("malformed-" + name);
        var file = Path.Combine(dir, name + ".json");
        File.WriteAllBytes(file, name == "not-utf8" ? [0xFF, 0xFE, (byte)'{'] : System.Text.Encoding.UTF8.GetBytes(text));
        foreach (var verb in new[] { new[] { "run", "--validate", file }, ["run", file, "-o", Path.Combine(dir, "out")] })
        {
            var (code, output, err) = Cli(verb);
            Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput), err);
            Assert.That(output, Is.Empty);
            Assert.That(err, Does.Contain(expected).And.Match(@"line \d+, \$"));
            AssertNoStackTrace(err);
        }
        Assert.That(Directory.Exists(Path.Combine(dir, "out")), Is.False, "an invalid scenario writes no files");
    }

    /// <summary>docs/scenarios.md:283 — a message never quotes more than 40 characters of a value.</summary>
    [Test]
    public void Validate_ALongBadValue_IsQuotedToFortyCharacters()
    {
        var dir = Folder("long-value");
        string engine = new('a', 90);
        var file = Write(dir, "long.json", "{ \"name\": \"x\", \"duration_cycles\": 1, \"processes\": [ { \"name\": \"p\", \"contexts\": [ { \"name\": \"c\", \"engine\": \"" +
                                               engine + "\", \"submission\": { \"bytes\": 4, \"work_cycles\": 1 } } ] } ] }");
        var (code, _, err) = Cli("run", "--validate", file);
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(err, Does.Contain("unknown engine").And.Contain(new string('a', 40)).And.Not.Contain(new string('a', 41)));
    }

    /// <summary>docs/scenarios.md:187, :193, :273 — <c>$schema</c> is ignored, comments are allowed, 2^64 − 1 cycles is a valid duration.</summary>
    [Test]
    public void Validate_AcceptsSchemaKey_Comments_AndTheLargestDuration()
    {
        var dir = Folder("accepts");
        var file = Write(dir, "ok.json", """
            // a line comment
            {
              "$schema": "./scenario.schema.json", /* a block comment */
              "name": "x",
              "duration_cycles": 18446744073709551615,
              "processes": [ { "name": "p", "contexts": [ { "name": "c", "engine": "render", "submission": { "bytes": 4, "work_cycles": 1 } } ] } ]
            }
            """);
        var (code, output, err) = Cli("run", "--validate", file);
        Assert.That(code, Is.Zero, err);
        Assert.That(output.Trim(), Is.EqualTo("ok"));
    }

    /// <summary>
    /// docs/observability.md:3-10 and docs/cli.md:55-58 — a run writes trace.json, trace.perfetto-trace and timeline.html (frame.png
    /// only when something was displayed); the JSON summary has the documented fields; the timeline loads nothing from the network.
    /// </summary>
    [Test]
    public void RunJson_HasTheDocumentedFields_AndTheFilesAreWritten()
    {
        var dir = Folder("run-json");
        var file = Write(dir, "small.json", Small);
        var outDir = Path.Combine(dir, "out");
        var (code, output, err) = Cli("run", file, "--json", "-o", outDir);
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        foreach (var key in new[] { "scenario", "seed", "mode", "duration_cycles", "cycles_run", "stopped_by", "clock_hz", "definitions", "contexts", "notes", "trace_events_dropped", "files" })
            Assert.That(root.TryGetProperty(key, out _), Is.True, key);
        Assert.That(root.GetProperty("definitions").EnumerateObject().Count(), Is.EqualTo(2));
        var row = root.GetProperty("contexts")[0];
        foreach (var key in new[] { "gpu_share_of_engine_busy", "buffers_completed", "frames_presented", "missed_vsyncs", "preemptions", "faults", "bytes_paged",
                     "submit_to_start_p50_us", "submit_to_start_p99_us", "submit_to_start_p50_cycles", "submit_to_start_p99_cycles", "ring0_gate_entries" })
            Assert.That(row.TryGetProperty(key, out _), Is.True, key);
        Assert.That(root.GetProperty("files").GetProperty("frame_png").ValueKind, Is.EqualTo(JsonValueKind.Null), "nothing was displayed");
        Assert.That(Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal),
            Is.EqualTo(new[] { "timeline.html", "trace.json", "trace.perfetto-trace" }));
        var html = File.ReadAllText(Path.Combine(outDir, "timeline.html"));
        Assert.That(html, Does.Not.Match(@"(src|href)\s*=\s*[""']?(https?:)?//"), "the timeline loads nothing from the network");
    }

    /// <summary>docs/observability.md:12-13 and docs/scenarios.md:258-259 — a deterministic run with the same seed gives byte-identical files.</summary>
    [Test]
    public void SameScenarioAndSeed_GiveByteIdenticalFiles()
    {
        var dir = Folder("determinism");
        var file = Write(dir, "small.json", Small);
        var a = Cli("run", file, "--seed", "3", "-o", Path.Combine(dir, "a"), "--csv");
        var b = Cli("run", file, "--seed", "3", "-o", Path.Combine(dir, "b"), "--csv");
        Assert.That(a.Code, Is.Zero, a.Err);
        Assert.That(b.Code, Is.Zero, b.Err);
        Assert.That(b.Out, Is.EqualTo(a.Out), "the same report");
        foreach (var name in new[] { "trace.json", "trace.perfetto-trace", "timeline.html" })
            Assert.That(File.ReadAllBytes(Path.Combine(dir, "b", name)), Is.EqualTo(File.ReadAllBytes(Path.Combine(dir, "a", name))), name);
    }

    /// <summary>
    /// docs/observability.md:57-65 — trace.json is the JSON Object Format; X / i (thread scope) / C / M events; counters' single
    /// argument is their unit; v2 flows; ids are strings; no number above 2^53; otherData has clock_hz and dropped_events.
    /// </summary>
    [Test]
    public void TraceJson_HasTheDocumentedShape()
    {
        var dir = Folder("trace-json");
        var file = Write(dir, "small.json", Small);
        Assert.That(Cli("run", file, "--csv", "-o", dir).Code, Is.Zero);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "trace.json")));
        var root = doc.RootElement;
        var other = root.GetProperty("otherData");
        Assert.That(other.GetProperty("clock_hz").GetInt64(), Is.EqualTo(1_000_000_000));
        Assert.That(other.GetProperty("dropped_events").GetInt64(), Is.Zero);
        var events = root.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.That(events.Select(e => e.GetProperty("ph").GetString()).Distinct(), Is.SubsetOf(new[] { "X", "i", "C", "M" }));
        foreach (var e in events)
        {
            string ph = e.GetProperty("ph").GetString()!;
            if (ph == "i") Assert.That(e.GetProperty("s").GetString(), Is.EqualTo("t"));
            if (ph == "C") Assert.That(e.GetProperty("args").EnumerateObject().Select(p => p.Name).Single(), Is.AnyOf("bytes", "buffers"));
            if (e.TryGetProperty("args", out var args) && args.TryGetProperty("id", out var id)) Assert.That(id.ValueKind, Is.EqualTo(JsonValueKind.String));
            if (e.TryGetProperty("bind_id", out var bind))
            {
                Assert.That(bind.ValueKind, Is.EqualTo(JsonValueKind.String));
                Assert.That(e.TryGetProperty("flow_out", out _) || e.TryGetProperty("flow_in", out _), Is.True);
            }
        }
        Assert.That(events.Count(e => e.TryGetProperty("flow_out", out _)), Is.GreaterThan(0));
        Assert.That(events.Count(e => e.TryGetProperty("flow_in", out _)), Is.GreaterThan(0));
        Assert.That(Numbers(root).Where(n => Math.Abs(n) > 9007199254740992.0), Is.Empty, "no number exceeds 2^53");
    }

    private static IEnumerable<double> Numbers(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Numbers(p.Value)),
        JsonValueKind.Array => e.EnumerateArray().SelectMany(Numbers),
        JsonValueKind.Number => [e.GetDouble()],
        _ => [],
    };

    /// <summary>
    /// docs/cli.md:70-75 — compare runs every model deterministically (whatever the scenario's mode), writes each run's files to
    /// <c>&lt;out&gt;/&lt;model&gt;/</c>, and its --json holds scenario, seed, verdicts and the run --json object of each model.
    /// </summary>
    [Test]
    public void Compare_IsDeterministic_AndWritesOneFolderPerModel()
    {
        var dir = Folder("compare");
        var file = Write(dir, "threaded.json", Small.Replace("\"duration_cycles\"", "\"mode\": \"threaded\", \"duration_cycles\"", StringComparison.Ordinal));
        var outDir = Path.Combine(dir, "out");
        var (code, output, err) = Cli("compare", file, "--models", "hardware,basic", "--seed=4", "-o", outDir, "--json");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "scenario", "seed", "verdicts", "runs" }));
        Assert.That(root.GetProperty("seed").GetUInt64(), Is.EqualTo(4UL));
        var runs = root.GetProperty("runs").EnumerateArray().ToList();
        Assert.That(runs.Select(r => r.GetProperty("mode").GetString()), Is.All.EqualTo("deterministic"));
        Assert.That(runs.Select(r => r.GetProperty("seed").GetUInt64()), Is.All.EqualTo(4UL));
        foreach (var (run, model) in runs.Zip(new[] { "hardware", "basic" }))
        {
            Assert.That(run.GetProperty("model").GetString(), Is.EqualTo(model));
            Assert.That(run.GetProperty("files").GetProperty("directory").GetString(), Is.EqualTo(Path.Combine(outDir, model)));
            Assert.That(File.Exists(Path.Combine(outDir, model, "trace.json")), Is.True);
        }
    }

    /// <summary>
    /// docs/cli.md:26 and :72 — the default output folders are <c>coproc-out/&lt;name&gt;-seed&lt;seed&gt;/</c> for run and
    /// <c>coproc-out/&lt;name&gt;-seed&lt;seed&gt;-compare/&lt;model&gt;/</c> for compare, under the current directory.
    /// </summary>
    [Test]
    public void DefaultOutputFolders_AreTheDocumentedOnes()
    {
        var dir = Folder("default-out");
        var file = Write(dir, "small.json", Small);
        var expectedRun = Path.Combine(Directory.GetCurrentDirectory(), "coproc-out", "audit-small-seed913");
        var expectedCompare = Path.Combine(Directory.GetCurrentDirectory(), "coproc-out", "audit-small-seed913-compare");
        try
        {
            var run = Cli("run", file, "--seed", "913", "--json");
            Assert.That(run.Code, Is.Zero, run.Err);
            using var runDoc = JsonDocument.Parse(run.Out);
            Assert.That(runDoc.RootElement.GetProperty("files").GetProperty("directory").GetString(), Is.EqualTo(expectedRun));
            Assert.That(File.Exists(Path.Combine(expectedRun, "trace.perfetto-trace")), Is.True);

            var compare = Cli("compare", file, "--seed", "913", "--models", "basic", "--json");
            Assert.That(compare.Code, Is.Zero, compare.Err);
            Assert.That(File.Exists(Path.Combine(expectedCompare, "basic", "trace.json")), Is.True);
        }
        finally
        {
            if (Directory.Exists(expectedRun)) Directory.Delete(expectedRun, recursive: true);
            if (Directory.Exists(expectedCompare)) Directory.Delete(expectedCompare, recursive: true);
        }
    }

    /// <summary>
    /// docs/cli.md:123 — an I/O failure (here: the output folder is an existing file) is exit code 1 with one line on standard
    /// error and no stack trace; with --json standard output then holds nothing (no half summary).
    /// </summary>
    [Test]
    public void AnOutputFolderThatCannotBeMade_IsExitCodeOne_WithOneLine()
    {
        var dir = Folder("unwritable");
        var file = Write(dir, "small.json", Small);
        var blocker = Write(dir, "not-a-folder", "x");
        var (code, output, err) = Cli("run", file, "--json", "-o", Path.Combine(blocker, "sub"));
        Assert.That(code, Is.EqualTo(ExitCodes.Failure));
        Assert.That(output, Is.Empty);
        var errorLines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("error", StringComparison.Ordinal)).ToList();
        Assert.That(errorLines, Has.Count.EqualTo(1), err);
        Assert.That(errorLines[0], Does.StartWith("coproc run: error: "));
        AssertNoStackTrace(err);
    }

    // ---- broken promises ------------------------------------------------------------------------------------------

    /// <summary>
    /// docs/cli.md:57 — the JSON object's <c>files</c> holds "the paths written"; docs/observability.md:3-8 says every run writes
    /// trace.perfetto-trace too. The <c>files</c> object named trace.json, timeline.html and frame.png but not the Perfetto trace.
    /// </summary>
    [Test]
    public void RunJson_Files_NamesEveryFileWritten_IncludingThePerfettoTrace()
    {
        var dir = Folder("files-perfetto");
        var file = Write(dir, "small.json", Small);
        var outDir = Path.Combine(dir, "out");
        var (code, output, err) = Cli("run", file, "--json", "-o", outDir);
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var named = doc.RootElement.GetProperty("files").EnumerateObject()
            .Where(p => p.Name != "directory" && p.Value.ValueKind == JsonValueKind.String).Select(p => p.Value.GetString()).ToList();
        Assert.That(named, Is.EquivalentTo(Directory.GetFiles(outDir)), "every file written is named in files");
        Assert.That(doc.RootElement.GetProperty("files").GetProperty("trace_perfetto_trace").GetString(),
            Is.EqualTo(Path.Combine(outDir, "trace.perfetto-trace")));
    }

    /// <summary>
    /// docs/cli.md:57-58 — "With --json or --csv, standard output holds the summary alone; the header line, notes and file paths
    /// go to standard error." The notes were printed nowhere on standard error (and with --csv nowhere at all).
    /// </summary>
    [TestCase("--json")]
    [TestCase("--csv")]
    public void RunJsonOrCsv_PrintsTheNotesOnStandardError(string format)
    {
        var dir = Folder("notes" + format);
        var file = Write(dir, "small.json", Small);
        var (code, output, err) = Cli("run", file, format, "-o", Path.Combine(dir, "out"));
        Assert.That(code, Is.Zero, err);
        Assert.That(err, Does.Contain("Scenario audit-small").And.Contain("Wrote"), "header line and file paths");
        Assert.That(err, Does.Contain("preemption on; VidSch preempted").And.Contain("machine: "), "the notes under the table");
        Assert.That(output, Does.Not.Contain("Scenario audit-small").And.Not.Contain("Wrote"));
    }

    /// <summary>
    /// docs/cli.md:18-19 — "A bad command line prints what is wrong and Run 'coproc &lt;verb&gt; --help' for usage. on standard
    /// error, exit code 2." Help for a verb that does not exist printed the root help and exited 0.
    /// </summary>
    [TestCase("help", "frobnicate")]
    [TestCase("frobnicate", "--help")]
    public void HelpForAnUnknownVerb_IsABadCommandLine(string first, string second)
    {
        var (code, output, err) = Cli(first, second);
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput), output);
        Assert.That(output, Is.Empty);
        Assert.That(err, Does.Contain("frobnicate").And.Contain("--help' for usage"));
    }

    /// <summary>
    /// docs/cli.md:17-19 — the same conventions in every verb, and a bad command line "prints what is wrong": compare's
    /// <c>--seed -3</c> printed "Cannot parse argument '-3' … as expected type 'System.Nullable`1[System.UInt64]'".
    /// </summary>
    [TestCase("-3")]
    [TestCase("x")]
    public void CompareSeed_ABadValue_SaysWhatIsExpected_LikeRun(string value)
    {
        var (code, output, err) = Cli("compare", "demo", "--seed", value);
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(output, Is.Empty);
        Assert.That(err, Does.Contain("--seed expects a non-negative integer").And.Not.Contain("System."));
    }

    /// <summary>
    /// docs/cli.md:18-19 and :124 — an empty <c>--out</c> is a bad command line (exit code 2, before running). run ran the whole
    /// scenario and then failed with exit code 1 ("The value cannot be an empty string. (Parameter 'outputDirectory')");
    /// compare silently wrote into ./&lt;model&gt;/ of the current directory.
    /// </summary>
    [TestCase("run")]
    [TestCase("compare")]
    public void AnEmptyOutputFolder_IsABadCommandLine(string verb)
    {
        var dir = Folder("empty-out-" + verb);
        var file = Write(dir, "small.json", Small);
        string[] args = verb == "run" ? ["run", file, "-o", ""] : ["compare", file, "--models", "basic", "-o", ""];
        var (code, output, err) = Cli(args);
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput), err);
        Assert.That(output, Is.Empty, "nothing was run");
        Assert.That(err, Does.Contain("--out").And.Contain("--help' for usage"));
        AssertNoStackTrace(err);
    }

    /// <summary>
    /// docs/scenarios.md:277-280 and docs/cli.md:25 — every problem is printed as <c>line N, &lt;JSON path&gt;: …</c>, the
    /// "file larger than 16 MiB" syntax problem included; an oversized file printed <c>$: …</c> without a line.
    /// </summary>
    [Test]
    public void AnOversizedFile_ProblemHasALineAndPath()
    {
        var dir = Folder("oversized");
        var file = Path.Combine(dir, "big.json");
        File.WriteAllText(file, "{\"name\":\"x\",\"description\":\"" + new string('a', 17 << 20) + "\"}");
        var (code, _, err) = Cli("run", "--validate", file);
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(err, Does.Match(@"\n  line \d+, \$[^:]*: "));
        File.Delete(file);
    }

    /// <summary>
    /// docs/scenarios.md, "Validation" and docs/cli.md: a file that cannot be read has no line to point at — it is the one
    /// problem <c>$: cannot read the file: …</c>, exit code 2, nothing on standard output, no stack trace.
    /// </summary>
    [Test]
    public void AMissingFile_IsOneProblemAtTheRoot_WithoutALine()
    {
        var dir = Folder("missing");
        var (code, output, err) = Cli("run", "--validate", Path.Combine(dir, "no-such-scenario.json"));
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(output, Is.Empty);
        AssertNoStackTrace(err);
        Assert.That(err.ReplaceLineEndings("\n"), Does.Contain("invalid scenario (1 problem):\n  $: cannot read the file: "));
    }

    /// <summary>
    /// docs/observability.md:3-10 — the output folder gets frame.png "only when something was displayed". Re-running into a
    /// folder (the default one is per name and seed, so any re-run after a scenario edit) left the previous run's frame.png
    /// beside a trace of a run that displayed nothing, while the JSON said <c>frame_png: null</c>.
    /// </summary>
    [Test]
    public void ARunThatDisplaysNothing_LeavesNoFramePngFromAnEarlierRun()
    {
        var dir = Folder("stale-frame");
        var file = Write(dir, "small.json", Small);
        var outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        File.WriteAllBytes(Path.Combine(outDir, "frame.png"), [0x89, (byte)'P', (byte)'N', (byte)'G']);
        var (code, output, err) = Cli("run", file, "--json", "-o", outDir);
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("files").GetProperty("frame_png").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(File.Exists(Path.Combine(outDir, "frame.png")), Is.False, "no frame.png that this run did not display");
    }

    /// <summary>
    /// docs/scenarios.md ("--validate refuses everything run would refuse"; the wall-clock guard stops every run):
    /// <c>options.quantum_cycles</c> and <c>options.hung_timeout_cycles</c> are spans of cycles, at most 2^48
    /// (MachineOptions.MaxCycleSpan). Before the bound, 2^63 and 2^64 − 1 validated and then overflowed the driver's
    /// deadline arithmetic: exit code 1 (a negative clamp of the basic model's quantum credit) or a timer re-armed at a
    /// wrapped, past deadline forever, under the wall-clock guard (which is looked at between steps). Past the bound they
    /// are refused with their line and path; at the bound the scenario runs like any other.
    /// </summary>
    [TestCase("quantum_cycles", "9223372036854775808", "basic")]
    [TestCase("hung_timeout_cycles", "18446744073709551615", "basic")]
    [TestCase("quantum_cycles", "18446744073709551615", "advanced")]
    [TestCase("quantum_cycles", "281474976710657", "hardware")]
    public void SchedulerSpansPastTheDriversLargest_AreRefusedWithTheirPath(string option, string value, string model)
    {
        var dir = Folder($"huge-{option}-{model}");
        var file = Write(dir, "huge.json", WithOption(option, value));
        var (code, output, err) = Cli("run", file, "--model", model, "--csv", "-o", Path.Combine(dir, "out"));
        Assert.That(code, Is.EqualTo(ExitCodes.InvalidInput), err);
        Assert.That(output, Is.Empty);
        Assert.That(err.ReplaceLineEndings("\n"), Does.Match(@"\n  line \d+, \$\.options\." + option + ": "));
        Assert.That(Directory.Exists(Path.Combine(dir, "out")), Is.False, "nothing written for a refused scenario");
    }

    [TestCase("quantum_cycles", "basic")]
    [TestCase("hung_timeout_cycles", "basic")]
    [TestCase("quantum_cycles", "advanced")]
    [TestCase("hung_timeout_cycles", "advanced")]
    [TestCase("quantum_cycles", "hardware")]
    public void SchedulerSpansOfTheDriversLargest_ValidateAndRunToTheirEnd(string option, string model)
    {
        var dir = Folder($"max-{option}-{model}");
        var file = Write(dir, "max.json", WithOption(option, "281474976710656"));
        Assert.That(Cli("run", "--validate", file).Code, Is.Zero, "2^48 is valid");
        var (code, output, err) = Cli("run", file, "--model", model, "--json", "-o", Path.Combine(dir, "out"));
        Assert.That(code, Is.EqualTo(ExitCodes.Success), err);
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("stopped_by").GetString(), Is.EqualTo("completed"));
        Assert.That(doc.RootElement.GetProperty("cycles_run").GetUInt64(), Is.EqualTo(2_000_000UL));
    }

    private static string WithOption(string option, string value) =>
        Small.Replace("\"vsync_period_cycles\": 0,", $"\"vsync_period_cycles\": 0, \"{option}\": {value},", StringComparison.Ordinal);
}
