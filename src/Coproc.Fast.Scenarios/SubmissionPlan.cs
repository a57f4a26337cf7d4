namespace Coproc.Fast.Scenarios;

/// <summary>One planned submission of a periodic context.</summary>
/// <param name="Cycle">Device cycle at which the process submits.</param>
/// <param name="Context">Index of the context in <see cref="Scenario.Contexts"/> order.</param>
/// <param name="Index">0-based submission number of that context.</param>
/// <param name="Misbehaviour">What this submission carries besides its packet mix, for a misbehaving context.</param>
public readonly record struct PlannedSubmission(ulong Cycle, int Context, int Index, MisbehaviourKind? Misbehaviour);

/// <summary>
/// When every context submits, decided before the run so a deterministic run is reproducible from the scenario and
/// the seed alone. Periodic contexts (<c>period_cycles</c> &gt; 0) get a timeline: <c>start + k × period</c> plus a
/// seeded jitter of up to 1/32 of the period (none for compositors, which are vsync-locked), cut at the duration and
/// at <c>count</c>. Back-to-back contexts (<c>period_cycles</c> = 0) have no timeline: a runner keeps
/// <c>buffers_in_flight</c> of theirs outstanding from <c>start_cycle</c> on, up to <see cref="BackToBackLimit"/>.
/// </summary>
public sealed class SubmissionPlan
{
    private readonly int[] _limits;

    private SubmissionPlan(IReadOnlyList<PlannedSubmission> periodic, IReadOnlyList<int> backToBack, int[] limits)
    {
        Periodic = periodic;
        BackToBackContexts = backToBack;
        _limits = limits;
    }

    /// <summary>Periodic submissions in (cycle, context, index) order.</summary>
    public IReadOnlyList<PlannedSubmission> Periodic { get; }

    /// <summary>Contexts that submit back to back.</summary>
    public IReadOnlyList<int> BackToBackContexts { get; }

    /// <summary>Most submissions of a back-to-back context (<see cref="int.MaxValue"/> when its count is 0 = unlimited).</summary>
    public int BackToBackLimit(int context) => _limits[context];

    /// <summary>Plans <paramref name="scenario"/> with <paramref name="seed"/>.</summary>
    public static SubmissionPlan Build(Scenario scenario, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var contexts = scenario.Contexts.ToList();
        var periodic = new List<PlannedSubmission>();
        var backToBack = new List<int>();
        var limits = new int[contexts.Count];
        for (int c = 0; c < contexts.Count; c++)
        {
            var ctx = contexts[c].Context;
            var s = ctx.Submission;
            var misbehaviours = ctx.Misbehaviours.ToDictionary(m => m.AtSubmission, m => m.Kind);
            if (s.PeriodCycles == 0)
            {
                backToBack.Add(c);
                limits[c] = s.Count == 0 ? int.MaxValue : s.Count;
                continue;
            }
            limits[c] = 0;
            ulong state = seed ^ (0x9E3779B97F4A7C15UL * (ulong)(c + 1));
            ulong maxJitter = ctx.Kind == ContextKind.Compositor ? 0 : s.PeriodCycles / 32;
            for (int k = 0; s.Count == 0 || k < s.Count; k++)
            {
                ulong nominal = s.StartCycle + (ulong)k * s.PeriodCycles;
                if (nominal >= scenario.DurationCycles || nominal < s.StartCycle) break; // past the end (or wrapped)
                ulong jitter = maxJitter == 0 ? 0 : Next(ref state) % (maxJitter + 1);
                ulong at = Math.Min(nominal + jitter, scenario.DurationCycles - 1);
                periodic.Add(new PlannedSubmission(at, c, k, misbehaviours.TryGetValue(k, out var m) ? m : null));
            }
        }
        periodic.Sort((a, b) => a.Cycle != b.Cycle ? a.Cycle.CompareTo(b.Cycle) : a.Context != b.Context ? a.Context.CompareTo(b.Context) : a.Index.CompareTo(b.Index));
        return new SubmissionPlan(periodic, backToBack, limits);
    }

    /// <summary>The misbehaviour a back-to-back context's <paramref name="index"/>-th submission carries, if any.</summary>
    public static MisbehaviourKind? MisbehaviourAt(ContextSpec context, int index)
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var m in context.Misbehaviours)
            if (m.AtSubmission == index) return m.Kind;
        return null;
    }

    // SplitMix64: small, fast, and the same on every platform (System.Random's algorithm is not a contract).
    private static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
