using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>One context waiting on the paging list: what it needs and since when.</summary>
/// <param name="Context">The faulted context.</param>
/// <param name="FaultVa">The faulting VA (all a page-level fault reports, seed 001 §5.8).</param>
/// <param name="Resources">What VidMm must make resident for it to progress.</param>
/// <param name="Since">Device cycle it joined the list (the boost clock).</param>
public readonly record struct PagingRequest(VaContext Context, ulong FaultVa, ResourceReference[] Resources, ulong Since);

/// <summary>
/// The scheduler's list of contexts needing fault resolution (seed 001 §5.6, §13): the paging thread takes the highest
/// <b>effective</b> priority first, where a waiting context gains one level per boost period — the periodic priority
/// boost that makes a passed-over low-priority context eventually win (behaviour 16). Ties go to the oldest request.
/// Deterministic: effective priority is a function of the virtual clock only.
/// </summary>
public sealed class PagingList
{
    private readonly List<PagingRequest> _items = new();

    /// <summary>Creates the list with a boost period in device cycles (≥ 1).</summary>
    public PagingList(ulong boostPeriodCycles)
    {
        ArgumentOutOfRangeException.ThrowIfZero(boostPeriodCycles);
        BoostPeriodCycles = boostPeriodCycles;
    }

    /// <summary>Cycles a waiting context needs to gain one priority level.</summary>
    public ulong BoostPeriodCycles { get; }

    /// <summary>Contexts waiting.</summary>
    public int Count => _items.Count;

    /// <summary>Requests resolved only thanks to a boost (a higher base priority was waiting at the time).</summary>
    public long BoostedPicks { get; private set; }

    /// <summary>Adds a request.</summary>
    public void Add(in PagingRequest request) => _items.Add(request);

    /// <summary>Effective priority of <paramref name="r"/> at <paramref name="now"/>: base + one level per boost period waited.</summary>
    public int EffectivePriority(in PagingRequest r, ulong now)
    {
        ulong boosts = now > r.Since ? (now - r.Since) / BoostPeriodCycles : 0;
        return (int)Math.Min(int.MaxValue, r.Context.Priority + (long)Math.Min(boosts, int.MaxValue));
    }

    /// <summary>Highest effective priority waiting (int.MinValue when empty) — VidMm's context priority tracks it (§5.6).</summary>
    public int MaxEffectivePriority(ulong now)
    {
        int best = int.MinValue;
        foreach (var r in _items) best = Math.Max(best, EffectivePriority(r, now));
        return best;
    }

    /// <summary>Removes and returns the request to serve now; false when empty.</summary>
    public bool TryTake(ulong now, out PagingRequest request)
    {
        int pick = -1, best = int.MinValue, bestBase = int.MinValue;
        for (int i = 0; i < _items.Count; i++)
        {
            int p = EffectivePriority(_items[i], now);
            bestBase = Math.Max(bestBase, _items[i].Context.Priority);
            if (p > best || (p == best && _items[i].Since < _items[pick].Since)) { best = p; pick = i; }
        }
        if (pick < 0) { request = default; return false; }
        request = _items[pick];
        if (request.Context.Priority < bestBase) BoostedPicks++;
        _items.RemoveAt(pick);
        return true;
    }

    /// <summary>Removes every request of <paramref name="context"/> (it went into error).</summary>
    public void Remove(VaContext context) => _items.RemoveAll(r => r.Context == context);
}
