using System.Globalization;
using System.Text.Json;
using Coproc.Fast.Workloads;
using Spectre.Console;

namespace Coproc.Cli.Commands;

/// <summary>
/// <c>coproc bench [--quick] [--json] [--scale X]</c>: quick side-by-side versions of the perf/ comparisons in one
/// process, printed as a table or, with <c>--json</c>, as one JSON object whose keys docs/cli.md documents. Ratios
/// are quotients of two measurements of this run (docs/performance.md); there are no pass/fail thresholds here.
/// </summary>
public static class BenchCommand
{
    /// <summary>The keys every <c>--json</c> object contains (issue 7 §3), in output order.</summary>
    public static readonly IReadOnlyList<string> RequiredKeys =
    [
        "ring3_submits_per_s", "ring0_submits_per_s", "ring3_over_ring0",
        "spsc_baseline_msgs_per_s", "ring3_over_spsc", "channels_msgs_per_s", "ring3_over_channels",
        "cp_nop_packets_per_s", "copy_1mib_over_memcpy", "fill_1mib_over_memset",
        "tlb_hit_translations_per_s", "alloc_bytes_per_ring3_submit",
    ];

    /// <summary>Runs the command.</summary>
    public static int Run(IReadOnlyList<string> args, CliConsole io)
    {
        bool json = false, quick = false;
        double? scale = null;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--json": json = true; break;
                case "--quick": quick = true; break;
                case "--scale":
                    if (++i >= args.Count || !double.TryParse(args[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !(s > 0) || s > 1000)
                        throw new UsageException("--scale expects a number in (0, 1000]");
                    scale = s;
                    break;
                default: throw new UsageException($"unknown option '{args[i]}' for bench");
            }
        }
        var plan = new QuickBenchPlan(scale ?? (quick ? 1 : 8), quick ? 3 : 5);
        var results = Measure(plan, json ? null : io.Console);
        if (json) WriteJson(io.Out, results, quick, plan.Scale);
        else PrintTable(io.Console, results);
        return 0;
    }

    /// <summary>Runs every measurement; returns the keyed results (required keys first, then details).</summary>
    internal static IReadOnlyList<(string Key, double Value)> Measure(QuickBenchPlan plan, IAnsiConsole? progress)
    {
        void Say(string what) => progress?.MarkupLine($"[grey]measuring {Markup.Escape(what)}…[/]");
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

    private static void WriteJson(TextWriter output, IReadOnlyList<(string Key, double Value)> results, bool quick, double scale)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var (key, value) in results) w.WriteNumber(key, double.IsFinite(value) ? Math.Round(value, 4) : 0);
            w.WriteBoolean("quick", quick);
            w.WriteNumber("scale", scale);
            w.WriteString("ring0_path", "UMD buffer, Ring0Gate (Real policy) copy-in, KMD validation, DMA buffer, VidSch queue; executed and retired every 64 submissions");
            w.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
    }

    private static string Format(string key, double value) =>
        key.Contains("_over_", StringComparison.Ordinal) ? value.ToString("0.00", CultureInfo.InvariantCulture) + "×"
        : key.EndsWith("_per_s", StringComparison.Ordinal) ? (value / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M/s"
        : key.StartsWith("alloc_", StringComparison.Ordinal) ? value.ToString("0.##", CultureInfo.InvariantCulture) + " B"
        : value.ToString("0.00", CultureInfo.InvariantCulture);

    private static void PrintTable(IAnsiConsole console, IReadOnlyList<(string Key, double Value)> results)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("coproc bench (ratios: this run)");
        t.AddColumn("measurement");
        t.AddColumn(new TableColumn("value").RightAligned());
        foreach (var (key, value) in results)
            t.AddRow(key, Format(key, value));
        console.Write(t);
    }
}
