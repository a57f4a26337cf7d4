using System.Globalization;
using System.Diagnostics;
using Coproc.Fast.Fuzz.Campaigns;
using Coproc.Fast.Fuzz.Harness;
using Coproc.Fast.Fuzz.Targets;

namespace Coproc.Fast.Fuzz;

/// <summary>
/// <c>coproc-fuzz</c>: the in-process campaigns, the threaded soak and the coverage-guided targets (docs/reliability.md).
/// <code>
/// campaign &lt;ring0|ring3|guest|scenario|submit|all&gt; [--seed N] [--iterations N] [--seconds S] [--hang-seconds S] [--case N]
/// soak [--seconds S] [--seed N] [--without ring3|faults]
/// target &lt;packet-decoder|kmd-validator|mmio&gt;           (under afl-fuzz: reads inputs from stdin, SharpFuzz)
/// replay &lt;packet-decoder|kmd-validator|mmio&gt; FILE...     (runs a target on saved inputs, e.g. a crash)
/// write-corpus DIR                                          (writes the seed corpus, fuzz/corpus)
/// </code>
/// Exit codes: 0 every oracle held; 1 an oracle failed (seed, case and reproducer printed); 2 usage; 3 hang (watchdog).
/// </summary>
internal static class Program
{
    private static readonly ICampaign[] Campaigns =
        [new Ring0SubmitCampaign(), new Ring3QueueCampaign(), new MaliciousGuestCampaign(), new ScenarioFileCampaign(), new SubmitCampaign()];

    public static int Main(string[] args)
    {
        if (args.Length == 0) return Usage();
        Dictionary<string, string> o;
        try
        {
            o = args[0] == "campaign" && args.Length >= 2 ? Options(args, 2) : args[0] == "soak" ? Options(args, 1) : new();
            foreach (var (k, v) in o)
                _ = k switch
                {
                    "seed" or "iterations" => (double)ulong.Parse(v, System.Globalization.CultureInfo.InvariantCulture),
                    "case" when args[0] == "campaign" && args[1] == "submit" => (double)long.Parse(v, System.Globalization.CultureInfo.InvariantCulture),
                    "seconds" or "hang-seconds" => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture),
                    "without" when args[0] == "soak" && v is "ring3" or "faults" => 0,
                    _ => throw new ArgumentException($"unknown option --{k}"),
                };
            if (args[0] is "target" or "replay" && args.Length >= 2 && !FuzzTargets.Names.Contains(args[1]))
                throw new ArgumentException($"unknown target '{args[1]}' ({string.Join(", ", FuzzTargets.Names)})");
            if (args[0] == "campaign" && args.Length >= 2 && args[1] != "all" && Campaigns.All(c => c.Name != args[1]))
                throw new ArgumentException($"unknown campaign '{args[1]}' (ring0, ring3, guest, scenario, submit, all)");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"coproc-fuzz: {e.Message}");
            return Usage();
        }
        return args[0] switch
        {
            "campaign" when args.Length >= 2 => RunCampaigns(args[1], o),
            "soak" => RunSoak(o),
            "target" when args.Length == 2 => FuzzTargets.RunUnderAfl(args[1]),
            "replay" when args.Length >= 3 => FuzzTargets.Replay(args[1], args[2..]),
            "write-corpus" when args.Length == 2 => FuzzTargets.WriteCorpus(args[1]),
            _ => Usage(),
        };
    }

    private static int RunCampaigns(string which, Dictionary<string, string> o)
    {
        var chosen = which == "all" ? Campaigns : Campaigns.Where(c => c.Name == which).ToArray();
        ulong seed = ulong.Parse(o.GetValueOrDefault("seed", "1"), CultureInfo.InvariantCulture);
        var settings = new CampaignSettings(seed, long.Parse(o.GetValueOrDefault("iterations", long.MaxValue.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
            TimeSpan.FromSeconds(double.Parse(o.GetValueOrDefault("seconds", "60"), System.Globalization.CultureInfo.InvariantCulture)),
            TimeSpan.FromSeconds(double.Parse(o.GetValueOrDefault("hang-seconds", "120"), System.Globalization.CultureInfo.InvariantCulture)),
            FirstCase: long.Parse(o.GetValueOrDefault("case", "0"), CultureInfo.InvariantCulture));
        int failed = 0;
        foreach (var c in chosen)
        {
            var stats = new CampaignStats();
            var heartbeat = new Heartbeat();
            var clock = Stopwatch.StartNew();
            Console.WriteLine($"campaign {c.Name} (seed {seed}): {c.Description}");
            using (new Watchdog(c.Name, seed, heartbeat, settings.HangAfter))
            {
                try
                {
                    c.Run(settings, stats, heartbeat);
                    Console.WriteLine($"PASS {c.Name}: {stats} in {clock.Elapsed.TotalSeconds:0.0} s");
                }
                catch (CampaignFailure f)
                {
                    failed++;
                    Console.WriteLine($"FAIL {c.Name}: seed {seed}, case {f.CaseNumber}: {f.Message}");
                    if (f.InnerException is { } inner) Console.WriteLine($"  exception: {inner.GetType().FullName}\n{Indent(inner.StackTrace)}");
                    Console.WriteLine(f.Reproducer.TrimEnd());
                    Console.WriteLine($"  replay: dotnet run --project fuzz/Coproc.Fast.Fuzz -c Release -- campaign {c.Name} --seed {seed} --iterations {f.CaseNumber + 1}");
                    Console.WriteLine($"  figures before the failure: {stats} in {clock.Elapsed.TotalSeconds:0.0} s");
                }
            }
        }
        return failed == 0 ? 0 : 1;
    }

    private static int RunSoak(Dictionary<string, string> o)
    {
        ulong seed = ulong.Parse(o.GetValueOrDefault("seed", "1"), CultureInfo.InvariantCulture);
        var seconds = TimeSpan.FromSeconds(double.Parse(o.GetValueOrDefault("seconds", "600"), System.Globalization.CultureInfo.InvariantCulture));
        var heartbeat = new Heartbeat();
        var stats = new CampaignStats();
        var clock = Stopwatch.StartNew();
        using var watchdog = new Watchdog("soak", seed, heartbeat, TimeSpan.FromSeconds(60));
        try
        {
            string without = o.GetValueOrDefault("without", "");
            new ThreadedSoak(withRing3: without != "ring3", withFaults: without != "faults").Run(new CampaignSettings(seed, long.MaxValue, seconds, TimeSpan.FromSeconds(60)), stats, heartbeat);
            Console.WriteLine($"PASS soak: {stats} in {clock.Elapsed.TotalSeconds:0.0} s");
            return 0;
        }
        catch (CampaignFailure f)
        {
            Console.WriteLine($"FAIL soak: seed {seed}: {f.Message}");
            if (f.InnerException is { } inner) Console.WriteLine($"  exception: {inner.GetType().FullName}\n{Indent(inner.StackTrace)}");
            Console.WriteLine(f.Reproducer.TrimEnd());
            Console.WriteLine($"  figures before the failure: {stats} in {clock.Elapsed.TotalSeconds:0.0} s");
            return 1;
        }
    }

    private static string Indent(string? text) => string.Join('\n', (text ?? "").Split('\n').Take(12).Select(l => "    " + l.Trim()));

    private static Dictionary<string, string> Options(string[] args, int from)
    {
        var o = new Dictionary<string, string>();
        for (int i = from; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length) throw new ArgumentException($"expected --name value, got '{args[i]}'");
            o[args[i][2..]] = args[++i];
        }
        return o;
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: coproc-fuzz campaign <ring0|ring3|guest|scenario|submit|all> [--seed N] [--iterations N] [--seconds S] [--hang-seconds S]");
        Console.Error.WriteLine("       coproc-fuzz campaign submit ... --case N               (starts at case N: --iterations 1 replays it alone)");
        Console.Error.WriteLine("       coproc-fuzz soak [--seconds S] [--seed N] [--without ring3|faults]");
        Console.Error.WriteLine("       coproc-fuzz target <packet-decoder|kmd-validator|mmio>     (under afl-fuzz)");
        Console.Error.WriteLine("       coproc-fuzz replay <packet-decoder|kmd-validator|mmio> FILE...");
        Console.Error.WriteLine("       coproc-fuzz write-corpus DIR");
        return 2;
    }
}
