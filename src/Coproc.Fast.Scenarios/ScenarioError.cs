using System.Text.Json;

namespace Coproc.Fast.Scenarios;

/// <summary>One problem in a scenario file: where (line, JSON path) and what was expected.</summary>
/// <param name="Line">1-based line in the file (0 when unknown).</param>
/// <param name="Path">JSON path of the offending property, e.g. <c>$.processes[0].contexts[1].engine</c>.</param>
/// <param name="Message">What is wrong and what was expected.</param>
public sealed record ScenarioError(long Line, string Path, string Message)
{
    /// <inheritdoc />
    public override string ToString() => Line > 0 ? $"line {Line}, {Path}: {Message}" : $"{Path}: {Message}";
}

/// <summary>A scenario file is not valid; <see cref="Errors"/> says every problem found, in file order.</summary>
public sealed class ScenarioValidationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ScenarioValidationException(string source, IReadOnlyList<ScenarioError> errors)
        : base($"{source}: " + string.Join(Environment.NewLine + "  ", errors))
    {
        Source = source;
        Errors = errors;
    }

    /// <summary>The file (or label) that was read.</summary>
    public new string Source { get; }

    /// <summary>The problems found.</summary>
    public IReadOnlyList<ScenarioError> Errors { get; }
}

/// <summary>Maps every JSON path in a document to the 1-based line where its property or element starts.</summary>
internal static class JsonLineMap
{
    private sealed class Frame(string path, bool isArray)
    {
        public string Path { get; } = path;
        public bool IsArray { get; } = isArray;
        public int Index { get; set; }

        /// <summary>Property names seen so far in this object (duplicates are reported, never silently overwritten).</summary>
        public HashSet<string>? Names { get; set; }
    }

    /// <summary>
    /// Builds the map; when <paramref name="duplicates"/> is given, adds one error per property name that occurs twice
    /// in the same object (JSON parsers keep only one of them, so the file would not mean what it says).
    /// </summary>
    public static Dictionary<string, long> Build(ReadOnlySpan<byte> utf8, List<ScenarioError>? duplicates = null)
    {
        var lines = new Dictionary<string, long>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        var stack = new List<Frame>();
        string pending = "$";
        long line = 1, scanned = 0;
        while (reader.Read())
        {
            long start = reader.TokenStartIndex;
            line += utf8[(int)scanned..(int)start].Count((byte)'\n');
            scanned = start;
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                {
                    string name = reader.GetString()!;
                    pending = stack[^1].Path + "." + name;
                    var names = stack[^1].Names ??= new HashSet<string>(StringComparer.Ordinal);
                    if (!names.Add(name))
                        duplicates?.Add(new ScenarioError(line, pending, $"duplicate property '{ScenarioBinder.Clip(name)}' (first at line {lines[pending]}); expected each key once per object"));
                    else
                        lines[pending] = line;
                    break;
                }
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                {
                    string path = ValuePath(stack, pending);
                    lines.TryAdd(path, line);
                    stack.Add(new Frame(path, reader.TokenType == JsonTokenType.StartArray));
                    break;
                }
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    stack.RemoveAt(stack.Count - 1);
                    break;
                default:
                    lines.TryAdd(ValuePath(stack, pending), line);
                    break;
            }
        }
        return lines;
    }

    private static string ValuePath(List<Frame> stack, string pending)
    {
        if (stack.Count == 0) return "$";
        var top = stack[^1];
        if (!top.IsArray) return pending;
        return $"{top.Path}[{top.Index++}]";
    }
}
