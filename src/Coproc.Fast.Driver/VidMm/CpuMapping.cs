using Coproc.Fast.Driver.Cpu;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// One CPU mapping of a portion of an allocation (seed 002): the VA region, the portion, the aperture pages
/// behind it (local memory only) and a reference count, because a map request that lies entirely inside it
/// reuses it instead of making a new one.
/// </summary>
internal sealed class CpuMapping
{
    public required int Id { get; init; }
    public required CpuAddressHalf Half { get; init; }
    public required ulong Va { get; init; }
    public required ulong Bytes { get; init; }
    public required AllocationHandle Allocation { get; init; }
    public required ulong AllocationOffset { get; init; }
    public required bool Writable { get; init; }
    /// <summary>Aperture runs behind the mapping, in page order; null for system memory mapped directly.</summary>
    public required (ulong First, ulong Pages)[]? ApertureRuns { get; init; }

    /// <summary>Sum of the counts in <see cref="_handedOut"/> (or of the base address alone).</summary>
    public int RefCount { get; private set; } = 1;

    // Addresses handed out by map requests and how many times each is still held. Null while only Va was handed out.
    private Dictionary<ulong, int>? _handedOut;

    public bool Contains(ulong allocationOffset, ulong bytes) =>
        allocationOffset >= AllocationOffset && allocationOffset - AllocationOffset + bytes <= Bytes;

    public void AddReference(ulong va)
    {
        _handedOut ??= new Dictionary<ulong, int> { [Va] = RefCount };
        _handedOut[va] = _handedOut.GetValueOrDefault(va) + 1;
        RefCount++;
    }

    public bool WasHandedOut(ulong va) => _handedOut is null ? va == Va && RefCount > 0 : _handedOut.GetValueOrDefault(va) > 0;

    /// <summary>Drops one reference held at <paramref name="va"/>; returns the remaining count.</summary>
    public int Release(ulong va)
    {
        if (_handedOut is not null)
        {
            int left = _handedOut[va] - 1;
            if (left == 0) _handedOut.Remove(va); else _handedOut[va] = left;
        }
        return --RefCount;
    }
}
