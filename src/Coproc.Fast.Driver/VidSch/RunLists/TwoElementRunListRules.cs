namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// The construction rules of seed 001 §6.4 (solution 1, claims 6–7) that let the scheduler tell "the coprocessor left
/// the head of the current list" from "the coprocessor moved to the pending list" with nothing but a context-switch
/// interrupt and a query of the running context. Given current (a, b): rule 1 — <c>a</c> never appears in the new
/// list; rule 2 — <c>b</c> appears only as the new list's head.
/// </summary>
public static class TwoElementRunListRules
{
    /// <summary>Largest two-element run list.</summary>
    public const int MaxEntries = 2;

    /// <summary>
    /// Checks <paramref name="proposed"/> against <paramref name="current"/> (either may be a one-entry list; an empty
    /// current list constrains nothing). Throws <see cref="RunListRuleViolationException"/> naming the broken rule.
    /// </summary>
    public static void Validate(ReadOnlySpan<ulong> current, ReadOnlySpan<ulong> proposed)
    {
        if (proposed.Length is < 1 or > MaxEntries)
            throw new RunListRuleViolationException(RunListRule.Length, 0, $"a two-element run list has 1 or 2 entries, not {proposed.Length}");
        if (proposed.Length == 2 && proposed[0] == proposed[1])
            throw new RunListRuleViolationException(RunListRule.Length, proposed[0], "the same context twice");
        if (current.Length >= 1 && proposed.Contains(current[0]))
            throw new RunListRuleViolationException(RunListRule.Rule1, current[0],
                $"rule 1: the head of the current list (0x{current[0]:X}) must not appear in the new list");
        if (current.Length >= 2 && proposed.Length == 2 && proposed[1] == current[1])
            throw new RunListRuleViolationException(RunListRule.Rule2, current[1],
                $"rule 2: the second context of the current list (0x{current[1]:X}) may appear in the new list only as its head");
    }

    /// <summary>
    /// The decision table of seed 001 §6.4 (derived in the guide) for a context-switch interrupt: given current list
    /// <paramref name="current"/>, pending list <paramref name="pending"/> (empty = none) and the running context
    /// <paramref name="running"/> read from the device (0 = idle), what the interrupt means. Sound only for lists built
    /// with <see cref="Validate"/>.
    /// </summary>
    public static TwoElementOutcome Resolve(ReadOnlySpan<ulong> current, ReadOnlySpan<ulong> pending, ulong running)
    {
        if (running == 0) return TwoElementOutcome.Idle;
        if (pending.IsEmpty)
            return current.Length > 0 && current[0] == running ? TwoElementOutcome.StillOnHead : TwoElementOutcome.LeftHead;
        // Rule 1: the current head is not in the pending list, so running it means the pending list has not started.
        if (current.Length > 0 && current[0] == running) return TwoElementOutcome.StillOnHead;
        // Rule 2: the current second entry can only be the pending head — either way the hardware runs the pending head.
        if (pending[0] == running) return TwoElementOutcome.PendingHeadRunning;
        // Neither head: the hardware took the pending list and already left its head.
        return pending.Contains(running) ? TwoElementOutcome.PendingLeftHead : TwoElementOutcome.LeftHead;
    }

    /// <summary>True when <paramref name="proposed"/> obeys the rules against <paramref name="current"/>.</summary>
    public static bool IsValid(ReadOnlySpan<ulong> current, ReadOnlySpan<ulong> proposed)
    {
        if (proposed.Length is < 1 or > MaxEntries || (proposed.Length == 2 && proposed[0] == proposed[1])) return false;
        if (current.Length >= 1 && proposed.Contains(current[0])) return false;
        return !(current.Length >= 2 && proposed.Length == 2 && proposed[1] == current[1]);
    }
}

/// <summary>What a context-switch interrupt means under the two-element rules (<see cref="TwoElementRunListRules.Resolve"/>).</summary>
public enum TwoElementOutcome
{
    /// <summary>The engine is idle: read the saved contexts' switch reasons.</summary>
    Idle,
    /// <summary>Still on the current head (possibly a fake X→X switch): keep waiting.</summary>
    StillOnHead,
    /// <summary>No pending list and the engine left the current head: build and submit a new list.</summary>
    LeftHead,
    /// <summary>The engine runs the pending list's head: treat the pending list as current.</summary>
    PendingHeadRunning,
    /// <summary>The engine took the pending list and already left its head: make it current and build the next list.</summary>
    PendingLeftHead,
}

/// <summary>Which construction rule a run list broke.</summary>
public enum RunListRule
{
    /// <summary>Wrong number of entries (or a duplicate) for a two-element list.</summary>
    Length,
    /// <summary>Rule 1: the current head appears in the new list.</summary>
    Rule1,
    /// <summary>Rule 2: the current second entry appears in the new list other than as its head.</summary>
    Rule2,
}

/// <summary>A run list violating the two-element construction rules (seed 001 §6.4) — a scheduler bug.</summary>
public sealed class RunListRuleViolationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RunListRuleViolationException(RunListRule rule, ulong context, string message) : base(message)
    {
        Rule = rule;
        Context = context;
    }

    /// <summary>The rule broken.</summary>
    public RunListRule Rule { get; }

    /// <summary>The offending context's save-area PA (0 when none applies).</summary>
    public ulong Context { get; }
}
