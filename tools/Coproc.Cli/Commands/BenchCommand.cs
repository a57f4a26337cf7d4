using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using Coproc.Fast.Workloads;
using Spectre.Console;

namespace Coproc.Cli.Commands;

/// <summary>
/// <c>coproc bench [--quick] [--json] [--scale X] [--repetitions N]</c>: quick side-by-side versions of the perf/
/// comparisons in one process, printed as a table or, with <c>--json</c>, as one JSON object whose keys docs/cli.md
/// documents. Every measurement runs once per round and the rounds repeat N times, so the two sides of each ratio are
/// interleaved (A B A B …); each ratio is computed within a round, and the median and min–max over the rounds are
/// printed (docs/performance.md). There are no pass/fail thresholds here.
/// </summary>
public static class BenchCommand
{
    /// <summary>The keys every <c>--json</c> object contains, in output order; each is the median over the rounds.</summary>
    public static readonly IReadOnlyList<string> RequiredKeys =
    [
        "ring3_submits_per_s", "ring0_submits_per_s", "ring3_over_ring0",
        "spsc_baseline_msgs_per_s", "ring3_over_spsc", "channels_msgs_per_s", "ring3_over_channels",
        "cp_nop_packets_per_s", "copy_1mib_over_memcpy", "fill_1mib_over_memset",
        "tlb_hit_translations_per_s", "alloc_bytes_per_ring3_submit",
    ];

    /// <summary>Default rounds (interleaved repetitions of every measurement).</summary>
    public const int DefaultRepetitions = 5;

    /// <summary>The <c>bench</c> verb.</summary>
    public static Command Create(CliConsole io)
    {
        var quick = new Option<bool>("--quick") { Description = "Smaller counts and one timed run per measurement and round (seconds instead of a minute)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: every key is the median over the rounds; <key>_min and <key>_max give the spread." };
        var scale = new Option<double?>("--scale")
        {
            Description = "Multiplier of every measurement's operation count, in (0, 1000] (default 1 with --quick, else 8).",
            HelpName = "X", CustomParser = r => ParseNumber(r, "--scale", 1000),
        };
        var repetitions = new Option<int?>("--repetitions", "-n")
        {
            Description = $"Rounds: each measurement runs once per round, interleaved with the others (default {DefaultRepetitions}).",
            HelpName = "N", CustomParser = r => (int?)ParseNumber(r, "--repetitions", 100, integer: true),
        };
        var command = new Command("bench", "Side-by-side measurements (ring 3 vs ring 0, SPSC, Channels, command processor, copy/fill, TLB): median and min–max of every ratio.")
        {
            quick, json, scale, repetitions,
        };
        command.SetAction(parse => Run(parse.GetValue(quick), parse.GetValue(json), parse.GetValue(scale), parse.GetValue(repetitions), io));
        return command;
    }

    private static double? ParseNumber(ArgumentResult r, string name, double max, bool integer = false)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v <= max && (!integer || v == Math.Floor(v)))
            return v;
        r.AddError(integer ? $"{name} expects a whole number in [1, {max}], got '{text}'" : $"{name} expects a number in (0, {max}], got '{text}'");
        return null;
    }

    /// <summary>Runs the command.</summary>
    public static int Run(bool quick, bool json, double? scale, int? repetitions, CliConsole io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var plan = new QuickBenchPlan(scale ?? (quick ? 1 : 8), quick ? 1 : 3);
        int rounds = repetitions ?? DefaultRepetitions;
        double? load = LoadAverage();
        if (LoadWarning(load) is { } warning) io.Diagnostics.MarkupLine($"[yellow]{Markup.Escape(warning)}[/]");
        var results = Measure(plan, rounds, io.Diagnostics);
        if (json) WriteJson(io.Out, results, quick, plan.Scale, rounds, load);
        else PrintTable(io.Console, results, rounds);
        return ExitCodes.Success;
    }

    /// <summary>The warning printed when the machine is busy (1-minute load average above 1), or null.</summary>
    public static string? LoadWarning(double? loadAverage) => loadAverage > 1
        ? $"warning: the load average is {loadAverage.Value.ToString("0.00", CultureInfo.InvariantCulture)} (> 1): other work shares the CPUs, so the ratios are noisy; read them with their spread."
        : null;

    /// <summary>The 1-minute load average (/proc/loadavg), or null where there is none.</summary>
    public static double? LoadAverage()
    {
        try
        {
            if (!File.Exists("/proc/loadavg")) return null;
            var first = File.ReadAllText("/proc/loadavg").Split(' ', 2)[0];
            return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>One key's values over the rounds.</summary>
    /// <param name="Key">The JSON key.</param>
    /// <param name="Median">Median over the rounds (the mean of the middle two for an even count).</param>
    /// <param name="Min">Smallest.</param>
    /// <param name="Max">Largest.</param>
    internal readonly record struct Spread(string Key, double Median, double Min, double Max)
    {
        public static Spread Of(string key, List<double> values)
        {
            var sorted = values.Where(double.IsFinite).Order().ToArray();
            if (sorted.Length == 0) return new Spread(key, 0, 0, 0);
            int n = sorted.Length;
            double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
            return new Spread(key, median, sorted[0], sorted[^1]);
        }
    }

    /// <summary>Runs <paramref name="rounds"/> interleaved rounds of every measurement; the spread of each key, required keys first.</summary>
    internal static IReadOnlyList<Spread> Measure(QuickBenchPlan plan, int rounds, IAnsiConsole? progress)
    {
        var byKey = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int round = 1; round <= rounds; round++)
        {
            foreach (var (key, value) in MeasureRound(plan, progress, $" (round {round}/{rounds})"))
            {
                if (!byKey.TryGetValue(key, out var list))
                {
                    byKey.Add(key, list = []);
                    order.Add(key);
                }
                list.Add(value);
            }
        }
        return order.Select(k => Spread.Of(k, byKey[k])).ToList();
    }

    /// <summary>Runs every measurement once, pairs back to back; returns this round's keyed results (required keys first, then details).</summary>
    private static IReadOnlyList<(string Key, double Value)> MeasureRound(QuickBenchPlan plan, IAnsiConsole? progress, string round)
    {
        void Say(string what) => progress?.MarkupLine($"[grey]measuring {Markup.Escape(what)}{round}…[/]");
        Say("ring-3 submissions");
        var ring3 = QuickBench.Ring3Submits(plan);
        Say("ring-0 submissions (real gate)");
        var ring0 = QuickBench.Ring0Submits(plan);
        Say("SPSC baseline");
        var spsc = QuickBench.SpscMessages(plan);
        Say("Channels");
        var channels = QuickBench.ChannelMessages(plan);
        Say("command processor NOPs");
        var nop = QuickBench.CpNopPackets(plan);
        Say("1 MiB COPY vs Buffer.MemoryCopy");
        var (copy, memcpy) = QuickBench.Copy1MiB(plan);
        Say("1 MiB FILL vs Span.Fill");
        var (fill, memset) = QuickBench.Fill1MiB(plan);
        Say("TLB hits");
        var tlb = QuickBench.TlbHitTranslations(plan);
        return
        [
            ("ring3_submits_per_s", ring3.OpsPerSecond),
            ("ring0_submits_per_s", ring0.OpsPerSecond),
            ("ring3_over_ring0", ring3.OpsPerSecond / ring0.OpsPerSecond),
            ("spsc_baseline_msgs_per_s", spsc.OpsPerSecond),
            ("ring3_over_spsc", ring3.OpsPerSecond / spsc.OpsPerSecond),
            ("channels_msgs_per_s", channels.OpsPerSecond),
            ("ring3_over_channels", ring3.OpsPerSecond / channels.OpsPerSecond),
            ("cp_nop_packets_per_s", nop.OpsPerSecond),
            ("copy_1mib_over_memcpy", copy.OpsPerSecond / memcpy.OpsPerSecond),
            ("fill_1mib_over_memset", fill.OpsPerSecond / memset.OpsPerSecond),
            ("tlb_hit_translations_per_s", tlb.OpsPerSecond),
            ("alloc_bytes_per_ring3_submit", ring3.AllocatedBytesPerOp),
            ("copy_1mib_gb_per_s", copy.OpsPerSecond * (1 << 20) / 1e9),
            ("memcpy_1mib_gb_per_s", memcpy.OpsPerSecond * (1 << 20) / 1e9),
            ("fill_1mib_gb_per_s", fill.OpsPerSecond * (1 << 20) / 1e9),
            ("memset_1mib_gb_per_s", memset.OpsPerSecond * (1 << 20) / 1e9),
            ("alloc_bytes_per_ring0_submit", ring0.AllocatedBytesPerOp),
        ];
    }

    private static void WriteJson(TextWriter output, IReadOnlyList<Spread> results, bool quick, double scale, int rounds, double? load)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var r in results) w.WriteNumber(r.Key, Round(r.Median));
            foreach (var r in results)
            {
                w.WriteNumber(r.Key + "_min", Round(r.Min));
                w.WriteNumber(r.Key + "_max", Round(r.Max));
            }
            w.WriteBoolean("quick", quick);
            w.WriteNumber("scale", scale);
            w.WriteNumber("repetitions", rounds);
            if (load is { } l) w.WriteNumber("load_average_1m", l);
            else w.WriteNull("load_average_1m");
            w.WriteString("statistic", "each key is the median over the repetitions (rounds in which every measurement runs once, interleaved); the keys ending in _min and _max are the extremes; a ratio is computed within each round");
            w.WriteString("ring0_path", "UMD buffer, Ring0Gate (Real policy) copy-in, KMD validation, DMA buffer, VidSch queue; executed and retired every 64 submissions");
            w.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
    }

    private static double Round(double value) => double.IsFinite(value) ? Math.Round(value, 4) : 0;

    /// <summary>A value with its unit: ratios as ×, rates in M/s, bandwidths in GB/s, allocations in bytes.</summary>
    internal static string Format(string key, double value) =>
        key.Contains("_over_", StringComparison.Ordinal) ? value.ToString("0.00", CultureInfo.InvariantCulture) + "×"
        : key.EndsWith("_gb_per_s", StringComparison.Ordinal) ? value.ToString("0.00", CultureInfo.InvariantCulture) + " GB/s"
        : key.EndsWith("_per_s", StringComparison.Ordinal) ? (value / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M/s"
        : key.StartsWith("alloc_", StringComparison.Ordinal) ? value.ToString("0.##", CultureInfo.InvariantCulture) + " B"
        : value.ToString("0.00", CultureInfo.InvariantCulture);

    private static void PrintTable(IAnsiConsole console, IReadOnlyList<Spread> results, int rounds)
    {
        var t = new Table().Border(TableBorder.Rounded).Title($"coproc bench: median and min–max over {rounds} interleaved round{(rounds == 1 ? "" : "s")}");
        t.AddColumn("measurement");
        t.AddColumn(new TableColumn("median").RightAligned().NoWrap());
        t.AddColumn(new TableColumn("min").RightAligned().NoWrap());
        t.AddColumn(new TableColumn("max").RightAligned().NoWrap());
        t.AddColumn(new TableColumn("spread").RightAligned().NoWrap());
        foreach (var r in results)
            t.AddRow(r.Key, Format(r.Key, r.Median), Format(r.Key, r.Min), Format(r.Key, r.Max),
                r.Median > 0 ? "±" + (50 * (r.Max - r.Min) / r.Median).ToString("0", CultureInfo.InvariantCulture) + " %" : "–");
        console.Write(t);
    }
}
