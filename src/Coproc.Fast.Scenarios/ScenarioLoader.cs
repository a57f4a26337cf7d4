using Coproc.Fast.Driver;
using System.Text;
using System.Text.Json;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Scenarios;

/// <summary>
/// Loads and validates a scenario file (docs/scenarios.md). Syntax errors come from
/// <see cref="JsonException"/> (its line and path); everything else — unknown keys, missing required fields,
/// wrong types, unknown engines, negative or out-of-range sizes, packets an engine cannot run, duplicate names —
/// is checked here and reported with the line and JSON path of the offending property and what was expected.
/// </summary>
public static class ScenarioLoader
{
    /// <summary>Accepted engine names.</summary>
    public static readonly IReadOnlyDictionary<string, EngineKind> Engines = new Dictionary<string, EngineKind>
    {
        ["render"] = EngineKind.Render, ["compute"] = EngineKind.Compute, ["copy"] = EngineKind.Copy,
        ["video_decode"] = EngineKind.VideoDecode, ["video_encode"] = EngineKind.VideoEncode,
    };

    private static readonly Dictionary<string, RunMode> Modes = new() { ["deterministic"] = RunMode.Deterministic, ["threaded"] = RunMode.Threaded };

    /// <summary>The <c>"model"</c> names (docs/models.md).</summary>
    public static readonly IReadOnlyDictionary<string, SchedulingModel> Models = new Dictionary<string, SchedulingModel>
    {
        ["basic"] = SchedulingModel.Basic, ["advanced"] = SchedulingModel.Advanced, ["hardware"] = SchedulingModel.Hardware,
    };

    /// <summary>The <c>"options.page_tables"</c> names (seed 001 §5.4; the advanced model's per-process page tables).</summary>
    public static readonly IReadOnlyDictionary<string, Coproc.Fast.Device.Mmu.PageTableFormat> PageTableFormats =
        new Dictionary<string, Coproc.Fast.Device.Mmu.PageTableFormat>
        {
            ["multi_level"] = Coproc.Fast.Device.Mmu.PageTableFormat.MultiLevel, ["flat"] = Coproc.Fast.Device.Mmu.PageTableFormat.Flat,
        };

    private static readonly Dictionary<string, ContextKind> Kinds = new()
    {
        ["generic"] = ContextKind.Generic, ["compositor"] = ContextKind.Compositor, ["game"] = ContextKind.Game,
        ["compute"] = ContextKind.Compute, ["video"] = ContextKind.Video, ["misbehaving"] = ContextKind.Misbehaving,
    };

    private static readonly Dictionary<string, SubmitPath> Paths = new() { ["ring0"] = SubmitPath.Ring0, ["ring3"] = SubmitPath.Ring3 };

    private static readonly Dictionary<string, MisbehaviourKind> Misbehaviours = new()
    {
        ["hung_wait"] = MisbehaviourKind.HungWait, ["privileged_command"] = MisbehaviourKind.PrivilegedCommand,
        ["bad_address"] = MisbehaviourKind.BadAddress,
    };

    private static readonly Dictionary<string, string> Segments = new() { ["local"] = "local", ["system"] = "system" };

    /// <summary>Most contexts a scenario may declare (the scale of docs/performance.md goal 7).</summary>
    public const int MaxContexts = 4096;

    /// <summary>Most ring-3 contexts: one doorbell each, 256 doorbells (native-layout.md §13.1).</summary>
    public const int MaxRing3Contexts = 256;

    /// <summary>Longest name (scenario, process, context, allocation): names label tables, folders and trace tracks.</summary>
    public const int MaxNameLength = 100;

    /// <summary>Longest description.</summary>
    public const int MaxDescriptionLength = 4000;

    /// <summary>Largest scenario file read (a scenario is a page of settings, not data).</summary>
    public const long MaxFileBytes = 16L << 20;

    /// <summary>Local memory is carved in 2 MiB blocks (<c>CoprocessorOptions.Validate</c>, native-layout.md §1).</summary>
    public const ulong LocalMemoryGranule = 2UL << 20;

    /// <summary>System memory is mapped in 4 KiB pages.</summary>
    public const ulong SystemMemoryGranule = 4096;

    /// <summary>
    /// Most emulated memory (local + system) a scenario may ask for: the smaller of 24 GiB and half the memory this
    /// process may use (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>), so a run cannot exhaust its host.
    /// </summary>
    public static ulong EmulatedMemoryBudgetBytes { get; } =
        Math.Min(24UL << 30, (ulong)Math.Max(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, 1L << 30) / 2);

    /// <summary>Reads a scenario file's bytes (bounded by <see cref="MaxFileBytes"/>).</summary>
    /// <exception cref="ScenarioValidationException">The file is missing, unreadable or too large.</exception>
    public static byte[] ReadFile(string path)
    {
        try
        {
            var length = new FileInfo(path).Length;
            if (length > MaxFileBytes)
                throw new ScenarioValidationException(path, [new ScenarioError(1, "$", $"the file is {length:N0} bytes; expected at most {MaxFileBytes:N0} (a scenario is settings, not data)")]);
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ScenarioValidationException(path, [new ScenarioError(0, "$", $"cannot read the file: {e.Message}")]);
        }
    }

    /// <summary>Reads and validates a file.</summary>
    /// <exception cref="ScenarioValidationException">The file is missing, unreadable or invalid.</exception>
    public static Scenario LoadFile(string path) => Load(ReadFile(path), path);

    /// <summary>
    /// Gives errors found after loading (e.g. by a runner's setup check, which knows JSON paths but not lines) the
    /// line of their path in the scenario's source <paramref name="utf8"/>.
    /// </summary>
    public static IReadOnlyList<ScenarioError> Locate(IReadOnlyList<ScenarioError> errors, ReadOnlySpan<byte> utf8)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (utf8.StartsWith("\uFEFF"u8)) utf8 = utf8[3..];
        var b = new ScenarioBinder(JsonLineMap.Build(utf8));
        foreach (var e in errors)
            if (e.Line > 0) b.Errors.Add(e);
            else b.Error(e.Path, e.Message);
        return b.Errors;
    }

    /// <summary>Parses and validates scenario text.</summary>
    /// <exception cref="ScenarioValidationException">The text is invalid.</exception>
    public static Scenario Load(string json, string source = "scenario") => Load(Encoding.UTF8.GetBytes(json), source);

    /// <summary>Parses and validates UTF-8 scenario bytes.</summary>
    /// <exception cref="ScenarioValidationException">The bytes are invalid.</exception>
    public static Scenario Load(ReadOnlySpan<byte> utf8, string source = "scenario")
    {
        if (utf8.StartsWith("\uFEFF"u8)) utf8 = utf8[3..];
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            string message = e.Message;
            int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) message = message[..cut].TrimEnd();
            throw new ScenarioValidationException(source, [new ScenarioError((e.LineNumber ?? -1) + 1, e.Path ?? "$", $"not valid JSON: {message}")]);
        }
        using (doc)
        {
            var duplicates = new List<ScenarioError>();
            var b = new ScenarioBinder(JsonLineMap.Build(utf8, duplicates));
            b.Errors.AddRange(duplicates);
            var scenario = BindScenario(b, doc.RootElement);
            if (b.Errors.Count > 0 || scenario is null)
                throw new ScenarioValidationException(source, b.Errors.OrderBy(x => x.Line).ToList()); // stable: file order
            return scenario;
        }
    }

    private static Scenario? BindScenario(ScenarioBinder b, JsonElement root)
    {
        const string P = "$";
        if (!b.Object(root, P, ScenarioKeys.Root, ScenarioKeys.RootRequired))
            return null;
        if (root.TryGetProperty("$schema", out _)) b.String(root, P, "$schema", "", 2000); // for editors only, but still a string
        var options = root.TryGetProperty("options", out var o) ? BindOptions(b, o, "$.options") : new ScenarioOptions();
        var processes = b.Items(root, P, "processes", nonEmpty: true).Select(x => BindProcess(b, x.Item, x.Path)).ToList();
        var scenario = new Scenario(
            b.String(root, P, "name", "scenario", MaxNameLength),
            root.TryGetProperty("description", out _) ? b.String(root, P, "description", "", MaxDescriptionLength) : "",
            b.UInt(root, P, "seed", 1),
            b.Enum(root, P, "mode", RunMode.Deterministic, Modes, "run mode"),
            b.UInt(root, P, "duration_cycles", 1, min: 1),
            options ?? new ScenarioOptions(),
            processes.Where(p => p is not null).ToList()!)
        {
            Model = b.Enum(root, P, "model", SchedulingModel.Basic, Models, "scheduling model"),
        };
        CheckWhole(b, scenario);
        return scenario;
    }

    private static ScenarioOptions? BindOptions(ScenarioBinder b, JsonElement e, string p)
    {
        if (!b.Object(e, p, ScenarioKeys.Options, []))
            return null;
        var d = new ScenarioOptions();
        var options = new ScenarioOptions(
            b.UInt(e, p, "quantum_cycles", d.QuantumCycles, min: 1, max: MachineOptions.MaxCycleSpan),
            b.Bool(e, p, "preemption", d.Preemption),
            b.UInt(e, p, "local_memory_bytes", d.LocalMemoryBytes, min: 4UL << 20, max: 16UL << 30),
            b.UInt(e, p, "system_memory_bytes", d.SystemMemoryBytes, min: 1UL << 20, max: 16UL << 30),
            (uint)b.UInt(e, p, "vsync_period_cycles", d.VsyncPeriodCycles, max: uint.MaxValue),
            b.Int(e, p, "hardware_slots_per_engine", d.HardwareSlotsPerEngine, 1, 64),
            b.UInt(e, p, "hung_timeout_cycles", d.HungTimeoutCycles, min: 1, max: MachineOptions.MaxCycleSpan),
            b.Int(e, p, "throughput_divisor", d.ThroughputDivisor, 1, 1024),
            b.Enum(e, p, "page_tables", d.PageTables, PageTableFormats, "page-table format"));
        // What the device refuses at construction (CoprocessorOptions.Validate), said here with a path.
        if (options.LocalMemoryBytes % LocalMemoryGranule != 0)
            b.Error(p + ".local_memory_bytes", $"{options.LocalMemoryBytes:N0} is not a whole number of 2 MiB blocks; expected a multiple of {LocalMemoryGranule:N0}");
        if (options.SystemMemoryBytes % SystemMemoryGranule != 0)
            b.Error(p + ".system_memory_bytes", $"{options.SystemMemoryBytes:N0} is not a whole number of 4 KiB pages; expected a multiple of {SystemMemoryGranule:N0}");
        ulong total = options.LocalMemoryBytes + options.SystemMemoryBytes;
        if (total > EmulatedMemoryBudgetBytes)
            b.Error(p, $"local + system memory is {Mib(total)}; expected at most {Mib(EmulatedMemoryBudgetBytes)} on this host " +
                       "(the smaller of 24 GiB and half the memory available to the process), so a run cannot exhaust it");
        return options;
    }

    private static string Mib(ulong bytes) => $"{bytes / (1UL << 20):N0} MiB";

    private static ProcessSpec? BindProcess(ScenarioBinder b, JsonElement e, string p)
    {
        if (!b.Object(e, p, ScenarioKeys.Process, ScenarioKeys.ProcessRequired)) return null;
        var allocations = b.Items(e, p, "allocations", nonEmpty: false).Select(x => BindAllocation(b, x.Item, x.Path)).Where(a => a is not null).ToList();
        var contexts = b.Items(e, p, "contexts", nonEmpty: true).Select(x => BindContext(b, x.Item, x.Path)).Where(c => c is not null).ToList();
        return new ProcessSpec(b.String(e, p, "name", "process", MaxNameLength), allocations!, contexts!);
    }

    private static AllocationSpec? BindAllocation(ScenarioBinder b, JsonElement e, string p)
    {
        if (!b.Object(e, p, ScenarioKeys.Allocation, ScenarioKeys.AllocationRequired)) return null;
        return new AllocationSpec(b.String(e, p, "name", "allocation", MaxNameLength), b.UInt(e, p, "bytes", 4096, min: 1, max: 4UL << 30),
            b.Int(e, p, "count", 1, 1, 1 << 20), b.Enum(e, p, "preferred", "local", Segments, "segment"));
    }

    private static ContextSpec? BindContext(ScenarioBinder b, JsonElement e, string p)
    {
        if (!b.Object(e, p, ScenarioKeys.Context, ScenarioKeys.ContextRequired)) return null;
        var kind = b.Enum(e, p, "kind", ContextKind.Generic, Kinds, "context kind");
        var engine = b.Enum(e, p, "engine", EngineKind.Render, Engines, "engine");
        SubmissionPattern? submission = e.TryGetProperty("submission", out var s) ? BindSubmission(b, s, p + ".submission", engine) : null;
        var misbehaviours = new List<MisbehaviourSpec>();
        if (e.TryGetProperty("misbehaviours", out _))
        {
            foreach (var (item, path) in b.Items(e, p, "misbehaviours", nonEmpty: true))
            {
                var m = BindMisbehaviour(b, item, path);
                if (m is null) continue;
                misbehaviours.Add(m);
                if (submission is not null && submission.Count != 0 && m.AtSubmission >= submission.Count)
                    b.Error(path + ".at_submission", $"submission {m.AtSubmission} never happens; expected an index below submission.count ({submission.Count})");
            }
            if (kind != ContextKind.Misbehaving) b.Error(p + ".misbehaviours", "only a context of kind \"misbehaving\" may have misbehaviours");
        }
        else if (kind == ContextKind.Misbehaving)
        {
            b.Error(p + ".misbehaviours", "missing required property 'misbehaviours' (a context of kind \"misbehaving\" must say what it does)");
        }
        if (submission is null) return null;
        return new ContextSpec(b.String(e, p, "name", "context", MaxNameLength), engine, b.Int(e, p, "priority", 8, 0, 15), kind, submission, misbehaviours);
    }

    private static SubmissionPattern? BindSubmission(ScenarioBinder b, JsonElement e, string p, EngineKind engine)
    {
        if (!b.Object(e, p, ScenarioKeys.Submission, ScenarioKeys.SubmissionRequired))
            return null;
        var packets = e.TryGetProperty("packets", out var k) ? BindPackets(b, k, p + ".packets", engine) : new PacketMix(Nop: 1);
        var pattern = new SubmissionPattern(
            b.Enum(e, p, "path", SubmitPath.Ring0, Paths, "submission path"),
            b.Int(e, p, "count", 0, 0, int.MaxValue),
            b.UInt(e, p, "bytes", 256, min: 4, max: 64UL << 20),
            b.UInt(e, p, "period_cycles", 0),
            b.UInt(e, p, "start_cycle", 0),
            b.UInt(e, p, "work_cycles", 1, min: 1),
            packets ?? new PacketMix(Nop: 1),
            b.Bool(e, p, "flip", false),
            b.Int(e, p, "buffers_in_flight", 2, 1, 16));
        if (pattern.Bytes % 4 != 0) b.Error(p + ".bytes", $"{pattern.Bytes} is not a whole number of dwords; expected a multiple of 4");
        if (pattern.Flip && engine != EngineKind.Render) b.Error(p + ".flip", "flips are render-engine packets; expected flip: false on this engine");
        return pattern;
    }

    private static PacketMix? BindPackets(ScenarioBinder b, JsonElement e, string p, EngineKind engine)
    {
        if (!b.Object(e, p, ScenarioKeys.Packets, [])) return null;
        var mix = new PacketMix(
            b.Int(e, p, "nop", 0, 0, 1 << 20), b.Int(e, p, "write_data", 0, 0, 1 << 20), b.Int(e, p, "copy", 0, 0, 1 << 20),
            b.Int(e, p, "fill", 0, 0, 1 << 20), b.Int(e, p, "draw_rects", 0, 0, 1 << 20), b.Int(e, p, "dispatch", 0, 0, 1 << 20),
            b.Int(e, p, "video_decode", 0, 0, 1 << 20), b.Int(e, p, "fence", 0, 0, 1 << 20));
        if (mix.Total == 0) b.Error(p, "the packet mix is empty; expected at least one packet");
        // native-layout.md §8A: each work packet runs on one engine only.
        if (mix.DrawRects > 0 && engine != EngineKind.Render) b.Error(p + ".draw_rects", $"DRAW_RECTS runs on the render engine, not {Name(engine)}");
        if (mix.Dispatch > 0 && engine != EngineKind.Compute) b.Error(p + ".dispatch", $"DISPATCH runs on the compute engine, not {Name(engine)}");
        if (mix.VideoDecode > 0 && engine != EngineKind.VideoDecode) b.Error(p + ".video_decode", $"VIDEO_DECODE runs on the video_decode engine, not {Name(engine)}");
        return mix;
    }

    private static MisbehaviourSpec? BindMisbehaviour(ScenarioBinder b, JsonElement e, string p)
    {
        if (!b.Object(e, p, ScenarioKeys.Misbehaviour, ScenarioKeys.MisbehaviourRequired)) return null;
        return new MisbehaviourSpec(b.Enum(e, p, "kind", MisbehaviourKind.HungWait, Misbehaviours, "misbehaviour"), b.Int(e, p, "at_submission", 0, 0, int.MaxValue));
    }

    private static void CheckWhole(ScenarioBinder b, Scenario s)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        int i = 0, contexts = 0, ring3 = 0;
        foreach (var process in s.Processes)
        {
            if (!names.Add(process.Name)) b.Error($"$.processes[{i}].name", $"duplicate process name '{ScenarioBinder.Clip(process.Name)}'; expected unique names");
            var contextNames = new HashSet<string>(StringComparer.Ordinal);
            int j = 0;
            foreach (var c in process.Contexts)
            {
                if (!contextNames.Add(c.Name)) b.Error($"$.processes[{i}].contexts[{j}].name", $"duplicate context name '{ScenarioBinder.Clip(c.Name)}' in process '{ScenarioBinder.Clip(process.Name)}'");
                if (c.Submission.Path == SubmitPath.Ring3) ring3++;
                contexts++;
                j++;
            }
            i++;
        }
        if (contexts > MaxContexts) b.Error("$.processes", $"{contexts} contexts; expected at most {MaxContexts}");
        if (ring3 > MaxRing3Contexts) b.Error("$.processes", $"{ring3} ring-3 contexts; expected at most {MaxRing3Contexts} (one doorbell each)");
    }

    /// <summary>The scenario-file name of an engine.</summary>
    public static string Name(EngineKind engine) => Engines.First(kv => kv.Value == engine).Key;
}

/// <summary>
/// The keys each object of a scenario file may have and must have — what the loader accepts, and what
/// tools/scenarios/scenario.schema.json declares (a test keeps the two equal).
/// </summary>
public static class ScenarioKeys
{
    /// <summary>The root object's keys (<c>$schema</c> names the JSON Schema for editors and is otherwise ignored).</summary>
    public static readonly IReadOnlyList<string> Root = ["$schema", "name", "description", "seed", "mode", "model", "duration_cycles", "options", "processes"];

    /// <summary>Required root keys.</summary>
    public static readonly IReadOnlyList<string> RootRequired = ["name", "duration_cycles", "processes"];

    /// <summary><c>options</c> keys (none required).</summary>
    public static readonly IReadOnlyList<string> Options =
    [
        "quantum_cycles", "preemption", "local_memory_bytes", "system_memory_bytes", "vsync_period_cycles", "hardware_slots_per_engine",
        "hung_timeout_cycles", "throughput_divisor", "page_tables",
    ];

    /// <summary><c>processes[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> Process = ["name", "allocations", "contexts"];

    /// <summary>Required <c>processes[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> ProcessRequired = ["name", "contexts"];

    /// <summary><c>allocations[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> Allocation = ["name", "bytes", "count", "preferred"];

    /// <summary>Required <c>allocations[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> AllocationRequired = ["name", "bytes"];

    /// <summary><c>contexts[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> Context = ["name", "engine", "priority", "kind", "submission", "misbehaviours"];

    /// <summary>Required <c>contexts[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> ContextRequired = ["name", "engine", "submission"];

    /// <summary><c>submission</c> keys.</summary>
    public static readonly IReadOnlyList<string> Submission =
        ["path", "count", "bytes", "period_cycles", "start_cycle", "work_cycles", "packets", "flip", "buffers_in_flight"];

    /// <summary>Required <c>submission</c> keys.</summary>
    public static readonly IReadOnlyList<string> SubmissionRequired = ["bytes", "work_cycles"];

    /// <summary><c>packets</c> keys (none required; at least one packet in total).</summary>
    public static readonly IReadOnlyList<string> Packets = ["nop", "write_data", "copy", "fill", "draw_rects", "dispatch", "video_decode", "fence"];

    /// <summary><c>misbehaviours[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> Misbehaviour = ["kind", "at_submission"];

    /// <summary>Required <c>misbehaviours[]</c> keys.</summary>
    public static readonly IReadOnlyList<string> MisbehaviourRequired = ["kind"];
}
