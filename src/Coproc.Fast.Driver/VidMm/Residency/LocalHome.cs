using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm.Residency;

/// <summary>
/// Where a resident managed allocation lives in local memory: one extent (the common case, no array), or several
/// extents in allocation order when no single free block was large enough (discontiguous residency through the page
/// tables: the kernel-view alias and the process mappings point at the pieces in order, docs/memory.md).
/// </summary>
internal readonly struct LocalHome
{
    private readonly PhysicalExtent _single;
    private readonly PhysicalExtent[]? _pieces;

    public LocalHome(PhysicalExtent single) { _single = single; _pieces = null; }

    public LocalHome(PhysicalExtent[] pieces)
    {
        if (pieces.Length == 1) { _single = pieces[0]; _pieces = null; }
        else { _single = default; _pieces = pieces; }
    }

    public static implicit operator LocalHome(PhysicalExtent single) => new(single);

    /// <summary>Pieces (0 for no home).</summary>
    public int Count => _pieces?.Length ?? (_single.Bytes == 0 ? 0 : 1);

    /// <summary>True when the home is one extent.</summary>
    public bool IsContiguous => _pieces is null;

    /// <summary>The one extent of a contiguous home.</summary>
    public PhysicalExtent Single => _single;

    /// <summary>Piece <paramref name="i"/>, in allocation order.</summary>
    public PhysicalExtent this[int i] => _pieces is null ? _single : _pieces[i];

    /// <summary>The first extent and the rest (null when contiguous), as VidMm's allocation record stores them.</summary>
    public (PhysicalExtent First, PhysicalExtent[]? More) Split() =>
        _pieces is null ? (_single, null) : (_pieces[0], _pieces[1..]);
}
