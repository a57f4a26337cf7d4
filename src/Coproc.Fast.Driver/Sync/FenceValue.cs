using System.Runtime.CompilerServices;

namespace Coproc.Fast.Driver.Sync;

/// <summary>
/// Wrap-safe comparison of 64-bit monitored-fence values (seed 004): a value is reached when
/// <c>(long)(current - target) &gt;= 0</c>, which stays right across a wrap as long as the values compared are
/// within 2^63 of each other.
/// </summary>
public static class FenceValue
{
    /// <summary>True when <paramref name="current"/> has reached <paramref name="target"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsReached(ulong current, ulong target) => (long)(current - target) >= 0;

    /// <summary>True when <paramref name="a"/> comes strictly before <paramref name="b"/> in fence order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Precedes(ulong a, ulong b) => (long)(a - b) < 0;
}
