using System.Text.Json;

namespace Coproc.Fast.Scenarios;

/// <summary>
/// Reads typed values out of a parsed scenario document, collecting every problem as a <see cref="ScenarioError"/>
/// with its line and path instead of stopping at the first. Each getter returns a default after reporting, so
/// binding goes on and the user sees all mistakes at once.
/// </summary>
internal sealed class ScenarioBinder(Dictionary<string, long> lines)
{
    public List<ScenarioError> Errors { get; } = [];

    public void Error(string path, string message) => Errors.Add(new ScenarioError(LineOf(path), path, message));

    private long LineOf(string path)
    {
        // A missing property has no line of its own: use the nearest enclosing object's.
        for (string p = path; p.Length > 0;)
        {
            if (lines.TryGetValue(p, out long line)) return line;
            int cut = Math.Max(p.LastIndexOf('.'), p.LastIndexOf('['));
            if (cut <= 0) break;
            p = p[..cut];
        }
        return lines.GetValueOrDefault("$");
    }

    /// <summary>Checks that <paramref name="e"/> is an object with only <paramref name="allowed"/> keys and every <paramref name="required"/> one.</summary>
    public bool Object(JsonElement e, string path, IReadOnlyList<string> allowed, IReadOnlyList<string> required)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            Error(path, $"expected an object, found {Describe(e)}");
            return false;
        }
        foreach (var p in e.EnumerateObject())
            if (!allowed.Contains(p.Name))
                Error($"{path}.{Clip(p.Name)}", $"unknown property '{Clip(p.Name)}'; expected one of: {string.Join(", ", allowed)}");
        foreach (var r in required)
            if (!e.TryGetProperty(r, out _))
                Error($"{path}.{r}", $"missing required property '{r}'");
        return true;
    }

    /// <summary>A string property, non-empty and at most <paramref name="maxLength"/> characters (names label tables, folders and traces).</summary>
    public string String(JsonElement obj, string path, string key, string fallback, int maxLength)
    {
        if (!obj.TryGetProperty(key, out var v)) return fallback;
        if (v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s)
        {
            if (s.Length <= maxLength) return s;
            Error($"{path}.{key}", $"the string is {s.Length:N0} characters long; expected at most {maxLength}");
            return fallback;
        }
        Error($"{path}.{key}", $"expected a non-empty string, found {Describe(v)}");
        return fallback;
    }

    /// <summary>Longest excerpt of user text quoted in a message (a message stays one readable line).</summary>
    public const int QuoteLength = 40;

    /// <summary><paramref name="text"/>, cut to <see cref="QuoteLength"/> characters with an ellipsis.</summary>
    public static string Clip(string text) => text.Length <= QuoteLength ? text : text[..QuoteLength] + "…";

    public bool Bool(JsonElement obj, string path, string key, bool fallback)
    {
        if (!obj.TryGetProperty(key, out var v)) return fallback;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        Error($"{path}.{key}", $"expected true or false, found {Describe(v)}");
        return fallback;
    }

    public ulong UInt(JsonElement obj, string path, string key, ulong fallback, ulong min = 0, ulong max = ulong.MaxValue)
    {
        if (!obj.TryGetProperty(key, out var v)) return fallback;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out ulong n))
        {
            if (n >= min && n <= max) return n;
            Error($"{path}.{key}", $"{n} is out of range; expected {Range(min, max)}");
            return fallback;
        }
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long neg) && neg < 0)
            Error($"{path}.{key}", $"negative value {neg}; expected {Range(min, max)}");
        else
            Error($"{path}.{key}", $"expected an integer {Range(min, max)}, found {Describe(v)}");
        return fallback;
    }

    public int Int(JsonElement obj, string path, string key, int fallback, int min, int max) =>
        (int)UInt(obj, path, key, (ulong)fallback, (ulong)min, (ulong)max);

    public T Enum<T>(JsonElement obj, string path, string key, T fallback, IReadOnlyDictionary<string, T> names, string what)
    {
        if (!obj.TryGetProperty(key, out var v)) return fallback;
        if (v.ValueKind == JsonValueKind.String && names.TryGetValue(v.GetString()!, out var value)) return value;
        string found = v.ValueKind == JsonValueKind.String ? $"'{Clip(v.GetString()!)}'" : Describe(v);
        Error($"{path}.{key}", $"unknown {what} {found}; expected one of: {string.Join(", ", names.Keys)}");
        return fallback;
    }

    public IEnumerable<(JsonElement Item, string Path)> Items(JsonElement obj, string path, string key, bool nonEmpty)
    {
        if (!obj.TryGetProperty(key, out var v)) yield break;
        if (v.ValueKind != JsonValueKind.Array)
        {
            Error($"{path}.{key}", $"expected an array, found {Describe(v)}");
            yield break;
        }
        if (nonEmpty && v.GetArrayLength() == 0) Error($"{path}.{key}", "expected at least one entry, found an empty array");
        int i = 0;
        foreach (var item in v.EnumerateArray()) yield return (item, $"{path}.{key}[{i++}]");
    }

    private static string Range(ulong min, ulong max) =>
        max == ulong.MaxValue ? $"≥ {min}" : $"in [{min}, {max}]";

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{Clip(v.GetString()!)}\"",
        JsonValueKind.Number => $"the number {Clip(v.GetRawText())}",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {v.GetRawText()}",
        _ => "null",
    };
}
