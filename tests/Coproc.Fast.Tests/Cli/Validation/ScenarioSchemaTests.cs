using System.Text.Json;
using System.Text.Json.Nodes;
using Coproc.Fast.Scenarios;
using Json.Schema;

namespace Coproc.Fast.Tests.Cli.Validation;

/// <summary>
/// tools/scenarios/scenario.schema.json (editor completion for scenario files) agrees with the loader: every shipped
/// scenario is valid under it, it declares exactly the keys the loader accepts, and what it refuses the loader refuses.
/// </summary>
public class ScenarioSchemaTests
{
    private static readonly JsonDocumentOptions Comments = new() { CommentHandling = JsonCommentHandling.Skip };

    private static string SchemaPath => Path.Combine(RepoFiles.Root, "tools", "scenarios", "scenario.schema.json");

    private static JsonSchema Schema() => JsonSchema.FromText(File.ReadAllText(SchemaPath));

    private static EvaluationResults Evaluate(string json)
    {
        using var doc = JsonDocument.Parse(json, Comments);
        return Schema().Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
    }

    private static string Describe(EvaluationResults r) => string.Join("; ",
        (r.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));

    /// <summary>Every scenario shipped in tools/scenarios (whatever is added there later).</summary>
    public static IEnumerable<string> ShippedScenarios() =>
        Directory.GetFiles(Path.Combine(RepoFiles.Root, "tools", "scenarios"), "*.json")
            .Where(f => !f.EndsWith(".schema.json", StringComparison.Ordinal)).Select(Path.GetFileName).Order()!;

    [TestCaseSource(nameof(ShippedScenarios))]
    public void ShippedScenario_IsValidUnderTheSchema_AndNamesIt(string file)
    {
        var json = File.ReadAllText(Path.Combine(RepoFiles.Root, "tools", "scenarios", file));
        var result = Evaluate(json);
        Assert.That(result.IsValid, Is.True, Describe(result));
        Assert.That(JsonNode.Parse(json, documentOptions: Comments)!["$schema"]?.GetValue<string>(), Is.EqualTo("./scenario.schema.json"));
    }

    [Test]
    public void Schema_DeclaresExactlyTheKeysTheLoaderAccepts_AndRequires()
    {
        var schema = JsonNode.Parse(File.ReadAllText(SchemaPath))!;
        var defs = schema["$defs"]!;
        (string Name, JsonNode Node, IReadOnlyList<string> Keys, IReadOnlyList<string> Required)[] objects =
        [
            ("root", schema, ScenarioKeys.Root, ScenarioKeys.RootRequired),
            ("options", defs["options"]!, ScenarioKeys.Options, []),
            ("process", defs["process"]!, ScenarioKeys.Process, ScenarioKeys.ProcessRequired),
            ("allocation", defs["allocation"]!, ScenarioKeys.Allocation, ScenarioKeys.AllocationRequired),
            ("context", defs["context"]!, ScenarioKeys.Context, ScenarioKeys.ContextRequired),
            ("submission", defs["submission"]!, ScenarioKeys.Submission, ScenarioKeys.SubmissionRequired),
            ("packets", defs["packets"]!, ScenarioKeys.Packets, []),
            ("misbehaviour", defs["misbehaviour"]!, ScenarioKeys.Misbehaviour, ScenarioKeys.MisbehaviourRequired),
        ];
        foreach (var (name, node, keys, required) in objects)
        {
            Assert.That(node["properties"]!.AsObject().Select(p => p.Key), Is.EquivalentTo(keys), name);
            Assert.That(node["required"]?.AsArray().Select(r => r!.GetValue<string>()) ?? [], Is.EquivalentTo(required), name);
            Assert.That(node["additionalProperties"]!.GetValue<bool>(), Is.False, $"{name}: unknown keys are errors, as in the loader");
        }
        Assert.That(defs["context"]!["properties"]!["engine"]!["enum"]!.AsArray().Select(e => e!.GetValue<string>()), Is.EquivalentTo(ScenarioLoader.Engines.Keys));
    }

    private const string Minimal = """
        { "name": "t", "duration_cycles": 1000, "options": { "local_memory_bytes": 16777216 },
          "processes": [ { "name": "p", "contexts": [ { "name": "c", "engine": "copy", "kind": "generic",
            "submission": { "bytes": 64, "work_cycles": 10 } } ] } ] }
        """;

    [TestCase("\"bytes\": 64", "\"bytes\": 66", "a command buffer that is not whole dwords")]
    [TestCase("16777216", "16777217", "local memory not in 2 MiB blocks")]
    [TestCase("\"engine\": \"copy\"", "\"engine\": \"gpu\"", "an unknown engine")]
    [TestCase("\"work_cycles\": 10", "\"work_cycles\": 10, \"wokr\": 1", "an unknown key")]
    [TestCase("\"kind\": \"generic\"", "\"kind\": \"misbehaving\"", "a misbehaving context that says nothing of what it does")]
    [TestCase("\"name\": \"t\"", "\"name\": \"\"", "an empty name")]
    public void WhatTheSchemaRefuses_TheLoaderRefuses(string from, string to, string what)
    {
        Assert.That(Evaluate(Minimal).IsValid, Is.True, "the unedited file is valid");
        Assert.That(() => ScenarioLoader.Load(Minimal), Throws.Nothing);
        var bad = Minimal.Replace(from, to, StringComparison.Ordinal);
        Assert.That(Evaluate(bad).IsValid, Is.False, what);
        Assert.That(() => ScenarioLoader.Load(bad), Throws.TypeOf<ScenarioValidationException>(), what);
    }
}
