using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Coproc.Fast.Scenarios;
using Coproc.Fast.Fuzz.Harness;

namespace Coproc.Fast.Fuzz.Campaigns;

/// <summary>
/// Scenario files: the repository's scenarios (tools/scenarios/*.json), mutated structurally (numbers at their
/// limits, strings long, empty or odd, keys dropped, duplicated or invented, values of the wrong type, deep nesting)
/// and as bytes (flips, truncation, insertion), through <c>ScenarioLoader.Load</c> (parser, line map and binder).
/// Oracle: a file loads or is refused with <c>ScenarioValidationException</c> whose every error names a line and a
/// JSON path starting at <c>$</c> and a message; a file with a key given twice is refused (unknown keys are errors, so
/// a silently dropped duplicate is too); nothing else is thrown, nothing hangs (watchdog).
/// </summary>
internal sealed class ScenarioFileCampaign : ICampaign
{
    public string Name => "scenario";

    public string Description => "mutated scenario JSON through ScenarioLoader.Load; only ScenarioValidationException with paths; duplicated keys refused";

    public void Run(CampaignSettings settings, CampaignStats stats, Heartbeat heartbeat)
    {
        var clock = Stopwatch.StartNew();
        var seeds = Directory.GetFiles(RepoPaths.Of("tools", "scenarios"), "*.json").Order(StringComparer.Ordinal).Select(File.ReadAllText).ToArray();
        if (seeds.Length == 0) throw new CampaignFailure(-1, "no seed scenarios under tools/scenarios", "");
        for (long i = 0; i < settings.Iterations && clock.Elapsed < settings.Budget; i++)
        {
            heartbeat.Beat($"case {i}");
            var rng = FuzzRandom.ForCase(settings.Seed, i);
            string text = Mutate(ref rng, seeds[rng.Below(seeds.Length)], out string how);
            stats.Cases++;
            try
            {
                ScenarioLoader.Load(text, "fuzz.json");
                stats.Count("loaded");
                // Unknown keys are errors, so a key given twice is too: one of the two values would be dropped silently.
                if (how.Contains(DuplicatedKey, StringComparison.Ordinal))
                    throw new CampaignFailure(i, "a file with a duplicated key loaded without an error", Reproducer(text, how));
            }
            catch (ScenarioValidationException e)
            {
                stats.Count("refused");
                foreach (var error in e.Errors)
                    if (!error.Path.StartsWith('$') || string.IsNullOrWhiteSpace(error.Message) || error.Line < 0)
                        throw new CampaignFailure(i, $"a refusal without a usable place: line {error.Line}, path '{error.Path}', message '{error.Message}'", Reproducer(text, how));
            }
            catch (Exception e) when (e is not CampaignFailure)
            {
                throw new CampaignFailure(i, $"ScenarioLoader.Load threw {e.GetType().FullName}: {e.Message}", Reproducer(text, how), e);
            }
        }
    }

    private const string DuplicatedKey = "duplicated a top-level key";

    private static string Reproducer(string text, string how)
    {
        string shown = text.Length > 4000 ? text[..4000] + $"… ({text.Length} characters)" : text;
        return $"  mutation: {how}\n  ScenarioLoader.Load of:\n{shown}";
    }

    private static string Mutate(ref FuzzRandom rng, string seed, out string how)
    {
        if (rng.OneIn(4)) return MutateBytes(ref rng, seed, out how);
        var root = JsonNode.Parse(seed, documentOptions: new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        var hows = new List<string>();
        int n = 1 + rng.Below(4);
        for (int k = 0; k < n; k++) hows.Add(MutateNode(ref rng, root));
        string text = root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        if (rng.OneIn(6))
        {
            // A duplicated key (JsonNode cannot hold one): repeat the first property of an object textually.
            int at = text.IndexOf("\n  \"", StringComparison.Ordinal);
            int end = at < 0 ? -1 : text.IndexOf('\n', at + 1);
            if (at >= 0 && end > at) { text = text.Insert(end + 1, text[(at + 1)..end].TrimEnd(',') + ",\n"); hows.Add(DuplicatedKey); }
        }
        if (rng.OneIn(12))
        {
            int depth = 1 + rng.Below(3000);
            int at = text.IndexOf(": ", StringComparison.Ordinal);
            int end = at < 0 ? -1 : text.IndexOfAny([',', '\n'], at);
            if (at >= 0 && end > at) { text = text[..(at + 2)] + new string('[', depth) + new string(']', depth) + text[end..]; hows.Add($"a value nested {depth} deep"); }
        }
        how = string.Join("; ", hows);
        return text;
    }

    private static readonly string[] Keys = ["name", "engine", "priority", "count", "bytes", "path", "mode", "model", "local_memory_bytes", "system_memory_bytes",
        "duration_cycles", "seed", "contexts", "processes", "allocations", "submission", "packets", "kind", "interval_cycles", "quantum_cycles", "x"];

    private static string MutateNode(ref FuzzRandom rng, JsonNode root)
    {
        // Pick a random node by walking down.
        JsonNode node = root;
        string path = "$";
        int depth = rng.Below(6);
        for (int d = 0; d < depth; d++)
        {
            if (node is JsonObject o && o.Count > 0)
            {
                var kv = o.ElementAt(rng.Below(o.Count));
                if (kv.Value is null) break;
                node = kv.Value;
                path += "." + kv.Key;
            }
            else if (node is JsonArray a && a.Count > 0)
            {
                int i = rng.Below(a.Count);
                if (a[i] is null) break;
                node = a[i]!;
                path += $"[{i}]";
            }
            else break;
        }
        var parent = node.Parent;
        JsonNode? replacement = rng.Below(14) switch
        {
            0 => JsonValue.Create(0),
            1 => JsonValue.Create(-1),
            2 => JsonValue.Create(ulong.MaxValue),
            3 => JsonValue.Create(16_777_217L),
            4 => JsonValue.Create(1e308),
            5 => JsonValue.Create(long.MinValue),
            6 => JsonValue.Create(new string('x', rng.OneIn(8) ? 1 << 20 : rng.Below(300))),
            7 => JsonValue.Create(""),
            8 => JsonValue.Create(rng.OneIn(2)),
            9 => null,
            10 => new JsonArray(),
            11 => new JsonObject(),
            12 => JsonValue.Create("\u0000\uFFFF\uD800"[..rng.Below(3)] + "é"),
            _ => Nest(rng.Below(48)), // deeper nesting is made textually below (JsonNode's writer stops at 64)
        };
        string what;
        if (parent is JsonObject po && rng.OneIn(4))
        {
            var key = po.First(kv => kv.Value == node).Key;
            po.Remove(key);
            what = $"removed {path}";
        }
        else if (node is JsonObject obj && rng.OneIn(3))
        {
            string key = rng.Pick(Keys);
            obj[key] = replacement?.DeepClone();
            what = $"set {path}.{key} = {Short(replacement)}";
        }
        else if (parent is JsonObject p2)
        {
            var key = p2.First(kv => kv.Value == node).Key;
            p2[key] = replacement;
            what = $"{path} = {Short(replacement)}";
        }
        else if (parent is JsonArray pa)
        {
            int i = pa.IndexOf(node);
            if (rng.OneIn(3)) { pa.Add(node.DeepClone()); what = $"appended a copy to {path}"; }
            else { pa[i] = replacement; what = $"{path} = {Short(replacement)}"; }
        }
        else what = "root unchanged";
        return what;
    }

    private static JsonNode Nest(int depth)
    {
        JsonNode n = new JsonArray();
        for (int i = 0; i < depth; i++) n = new JsonArray(n);
        return n;
    }

    private static string Short(JsonNode? n)
    {
        string s = n?.ToJsonString() ?? "null";
        return s.Length > 40 ? s[..40] + $"…({s.Length} chars)" : s;
    }

    private static string MutateBytes(ref FuzzRandom rng, string seed, out string how)
    {
        var b = new StringBuilder(seed);
        int n = 1 + rng.Below(8);
        var hows = new List<string>();
        for (int k = 0; k < n && b.Length > 0; k++)
        {
            int at = rng.Below(b.Length);
            switch (rng.Below(5))
            {
                case 0: b[at] = (char)(b[at] ^ (1 << rng.Below(7))); hows.Add($"flipped char {at}"); break;
                case 1: b.Length = at; hows.Add($"truncated at {at}"); break;
                case 2: b.Insert(at, rng.Pick(["{", "}", "[", "]", ",", ":", "\"", "//", "/*", "\\u00", "1e999", "-0", "null"])); hows.Add($"inserted at {at}"); break;
                case 3: b.Remove(at, Math.Min(b.Length - at, 1 + rng.Below(16))); hows.Add($"deleted at {at}"); break;
                default: b.Insert(at, b.ToString(at, Math.Min(b.Length - at, rng.Below(64)))); hows.Add($"duplicated a run at {at}"); break;
            }
        }
        how = "text: " + string.Join(", ", hows);
        return b.ToString();
    }
}
