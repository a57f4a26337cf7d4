namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// How long a campaign runs and from which seed: whichever of the bounds is reached first ends it. <paramref name="FirstCase"/>:
/// the case to start from (the <c>submit</c> campaign, whose cases are independent, replays one case alone with it).
/// </summary>
internal sealed record CampaignSettings(ulong Seed, long Iterations, TimeSpan Budget, TimeSpan HangAfter, bool Verbose = false, long FirstCase = 0);

/// <summary>An oracle said no: the case that broke it, what broke, and a reproducer a reader can run by hand.</summary>
internal sealed class CampaignFailure(long caseNumber, string what, string reproducer, Exception? inner = null)
    : Exception(what, inner)
{
    public long CaseNumber { get; } = caseNumber;
    public string Reproducer { get; } = reproducer;
}

/// <summary>Figures a campaign reports: cases tried and what happened to them.</summary>
internal sealed class CampaignStats
{
    private readonly SortedDictionary<string, long> _counters = new(StringComparer.Ordinal);

    public long Cases { get; set; }

    public void Count(string what, long n = 1)
    {
        _counters.TryGetValue(what, out long v);
        _counters[what] = v + n;
    }

    public override string ToString() =>
        $"{Cases} cases" + string.Concat(_counters.Select(kv => $", {kv.Value} {kv.Key}"));
}

/// <summary>
/// One in-process campaign: deterministic from its seed (case i draws from <see cref="FuzzRandom.ForCase"/>), bounded
/// by iterations and wall time, and judged by an oracle. <see cref="Run"/> throws <see cref="CampaignFailure"/> on the
/// first broken promise; the runner prints seed, case number and reproducer and exits non-zero.
/// </summary>
internal interface ICampaign
{
    string Name { get; }

    /// <summary>One line: what is attacked and what the oracle checks.</summary>
    string Description { get; }

    void Run(CampaignSettings settings, CampaignStats stats, Heartbeat heartbeat);
}
