using System.Globalization;
using System.Text.Json;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// Checks a trace-event JSON file against the rules viewers enforce (the Trace Event Format as Perfetto and
/// chrome://tracing read it): required fields per phase; complete ("X") slices of one thread nest (each either ends
/// before the next starts or contains it — Perfetto drops those that do not); every process and thread used is named
/// by metadata; no integer beyond 2^53 (JavaScript readers lose bits) and ids are strings; a counter's argument key
/// (its unit) is not a repeat of its name; each v2 flow leaves one slice and enters one later slice.
/// Times are compared exactly (decimal), as written.
/// </summary>
internal static class TraceEventValidator
{
    private const decimal MaxSafeInteger = 9_007_199_254_740_991m;

    /// <summary>What a valid trace held, for tests to assert on.</summary>
    public sealed record Summary(int Slices, int Instants, int Counters, int Flows, int Threads, IReadOnlyList<string> Problems);

    public static Summary Validate(byte[] json)
    {
        var problems = new List<string>();
        void Problem(string p)
        {
            if (problems.Count < 50) problems.Add(p);
        }
        using var doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("traceEvents", out var events) || events.ValueKind != JsonValueKind.Array)
            return new Summary(0, 0, 0, 0, 0, ["no traceEvents array"]);

        var processNames = new HashSet<int>();
        var threadNames = new HashSet<(int, int)>();
        var usedProcesses = new HashSet<int>();
        var usedThreads = new HashSet<(int, int)>();
        var slices = new Dictionary<(int, int), List<(decimal Ts, decimal End, string Name)>>();
        var flowsOut = new Dictionary<string, decimal>();
        var flowsIn = new Dictionary<string, decimal>();
        int nSlices = 0, nInstants = 0, nCounters = 0, index = -1;
        foreach (var e in events.EnumerateArray())
        {
            index++;
            CheckNumbers(e, $"event {index}", Problem);
            if (!Str(e, "name", out var name)) { Problem($"event {index}: no string 'name'"); continue; }
            if (!Str(e, "ph", out var ph)) { Problem($"event {index} '{name}': no string 'ph'"); continue; }
            if (!Int(e, "pid", out int pid)) { Problem($"event {index} '{name}': no integer 'pid'"); continue; }
            if (ph == "M")
            {
                if (!e.TryGetProperty("args", out var margs) || margs.ValueKind != JsonValueKind.Object) Problem($"metadata {index} '{name}': no args");
                if (name == "process_name") processNames.Add(pid);
                if (name == "thread_name" && Int(e, "tid", out int mt)) threadNames.Add((pid, mt));
                continue;
            }
            if (!Str(e, "cat", out _)) Problem($"event {index} '{name}': no string 'cat'");
            if (!e.TryGetProperty("ts", out var tsv) || tsv.ValueKind != JsonValueKind.Number || tsv.GetDecimal() < 0)
            {
                Problem($"event {index} '{name}': no non-negative 'ts'");
                continue;
            }
            decimal ts = tsv.GetDecimal();
            usedProcesses.Add(pid);
            if (e.TryGetProperty("id", out var id) && id.ValueKind != JsonValueKind.String) Problem($"event {index} '{name}': 'id' is not a string");
            if (e.TryGetProperty("args", out var a) && a.TryGetProperty("id", out var aid) && aid.ValueKind != JsonValueKind.String)
                Problem($"event {index} '{name}': args.id is not a string");
            switch (ph)
            {
                case "X":
                {
                    nSlices++;
                    if (!Int(e, "tid", out int tid)) { Problem($"slice {index} '{name}': no integer 'tid'"); break; }
                    if (!e.TryGetProperty("dur", out var dv) || dv.ValueKind != JsonValueKind.Number || dv.GetDecimal() < 0)
                    {
                        Problem($"slice {index} '{name}': no non-negative 'dur'");
                        break;
                    }
                    usedThreads.Add((pid, tid));
                    var list = slices.TryGetValue((pid, tid), out var l) ? l : slices[(pid, tid)] = [];
                    list.Add((ts, ts + dv.GetDecimal(), name));
                    if (e.TryGetProperty("bind_id", out var bind))
                    {
                        if (bind.ValueKind != JsonValueKind.String) { Problem($"slice {index} '{name}': bind_id is not a string"); break; }
                        bool isOut = e.TryGetProperty("flow_out", out var fo) && fo.ValueKind == JsonValueKind.True;
                        bool isIn = e.TryGetProperty("flow_in", out var fi) && fi.ValueKind == JsonValueKind.True;
                        if (isOut == isIn) Problem($"slice {index} '{name}': a flow slice must be exactly one of flow_out / flow_in");
                        var target = isOut ? flowsOut : flowsIn;
                        if (!target.TryAdd(bind.GetString()!, ts)) Problem($"flow {bind.GetString()}: bound twice in one direction");
                    }
                    break;
                }
                case "i" or "I":
                    nInstants++;
                    if (!Int(e, "tid", out int it)) Problem($"instant {index} '{name}': no integer 'tid'");
                    else usedThreads.Add((pid, it));
                    break;
                case "C":
                {
                    nCounters++;
                    if (!e.TryGetProperty("args", out var ca) || ca.ValueKind != JsonValueKind.Object) { Problem($"counter {index} '{name}': no args"); break; }
                    var keys = ca.EnumerateObject().ToList();
                    if (keys.Count != 1) Problem($"counter {index} '{name}': {keys.Count} series in one event (expected one, keyed by its unit)");
                    foreach (var k in keys)
                    {
                        if (name.Contains(k.Name, StringComparison.OrdinalIgnoreCase) || k.Name.Contains(name, StringComparison.OrdinalIgnoreCase))
                            Problem($"counter {index} '{name}': argument key '{k.Name}' repeats the name (viewers show name + key)");
                        if (k.Value.ValueKind != JsonValueKind.Number) Problem($"counter {index} '{name}': value is not a number");
                    }
                    break;
                }
                default:
                    Problem($"event {index} '{name}': unexpected phase '{ph}'");
                    break;
            }
        }

        foreach (int pid in usedProcesses)
            if (!processNames.Contains(pid)) Problem($"process {pid} has no process_name metadata");
        foreach (var t in usedThreads)
            if (!threadNames.Contains(t)) Problem($"thread {t.Item2} of process {t.Item1} has no thread_name metadata");

        foreach (var ((pid, tid), list) in slices)
        {
            list.Sort((x, y) => x.Ts != y.Ts ? x.Ts.CompareTo(y.Ts) : y.End.CompareTo(x.End));
            var open = new Stack<(decimal Ts, decimal End, string Name)>();
            foreach (var s in list)
            {
                while (open.Count > 0 && open.Peek().End <= s.Ts) open.Pop();
                if (open.Count > 0 && s.End > open.Peek().End)
                    Problem($"pid {pid} tid {tid}: slice '{s.Name}' [{s.Ts}, {s.End}] overlaps '{open.Peek().Name}' [{open.Peek().Ts}, {open.Peek().End}] without nesting");
                open.Push(s);
            }
        }

        foreach (var (id, ts) in flowsOut)
        {
            if (!flowsIn.TryGetValue(id, out var tin)) Problem($"flow {id}: leaves a slice but enters none");
            else if (tin < ts) Problem($"flow {id}: enters at {tin} µs, before it leaves at {ts} µs");
        }
        foreach (var id in flowsIn.Keys)
            if (!flowsOut.ContainsKey(id)) Problem($"flow {id}: enters a slice but leaves none");

        return new Summary(nSlices, nInstants, nCounters, flowsOut.Count, usedThreads.Count, problems);
    }

    private static bool Str(JsonElement e, string key, out string value)
    {
        value = "";
        if (!e.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.String) return false;
        value = v.GetString()!;
        return true;
    }

    private static bool Int(JsonElement e, string key, out int value)
    {
        value = 0;
        return e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out value);
    }

    // Every number in the event: an integer beyond 2^53 is a loss in JavaScript.
    private static void CheckNumbers(JsonElement e, string where, Action<string> problem)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject()) CheckNumbers(p.Value, where + "." + p.Name, problem);
                break;
            case JsonValueKind.Array:
                foreach (var x in e.EnumerateArray()) CheckNumbers(x, where, problem);
                break;
            case JsonValueKind.Number:
                if (!e.TryGetDecimal(out var d) || Math.Abs(d) > MaxSafeInteger)
                    problem($"{where}: {e.GetRawText()} is beyond 2^53 (write it as a string)");
                break;
        }
    }

    public static string Describe(Summary s) =>
        string.Join(Environment.NewLine, s.Problems.Prepend(string.Create(CultureInfo.InvariantCulture,
            $"{s.Slices} slices, {s.Instants} instants, {s.Counters} counters, {s.Flows} flows, {s.Threads} threads")));
}
