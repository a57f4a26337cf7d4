using System.Numerics;
using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Doorbells;

/// <summary>
/// The doorbells rung since the previous snapshot (seed 003: "a snapshot of every doorbell rung since the last
/// read"): 256 bits inline, no allocation. Walk it with <see cref="NextSet"/>, which costs one
/// <see cref="BitOperations.TrailingZeroCount(ulong)"/> per rung doorbell.
/// </summary>
internal struct DoorbellSnapshot
{
    private Words _words;

    /// <summary>Word <paramref name="index"/> (doorbells 64·index .. 64·index+63).</summary>
    public ulong this[int index]
    {
        readonly get => _words[index];
        set => _words[index] = value;
    }

    /// <summary>True when no doorbell is in the snapshot.</summary>
    public readonly bool IsEmpty => (_words[0] | _words[1] | _words[2] | _words[3]) == 0;

    /// <summary>Number of rung doorbells in the snapshot.</summary>
    public readonly int Count =>
        BitOperations.PopCount(_words[0]) + BitOperations.PopCount(_words[1]) + BitOperations.PopCount(_words[2]) + BitOperations.PopCount(_words[3]);

    /// <summary>True when doorbell <paramref name="doorbell"/> is in the snapshot.</summary>
    public readonly bool Contains(int doorbell) => (_words[(doorbell >> 6) & 3] & (1UL << (doorbell & 63))) != 0;

    /// <summary>Removes and returns the lowest rung doorbell; false when none is left.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool NextSet(out int doorbell)
    {
        for (int w = 0; w < DoorbellVector.WordCount; w++)
        {
            ulong v = _words[w];
            if (v == 0) continue;
            _words[w] = v & (v - 1);
            doorbell = (w << 6) | BitOperations.TrailingZeroCount(v);
            return true;
        }
        doorbell = -1;
        return false;
    }

    [InlineArray(DoorbellVector.WordCount)]
    private struct Words
    {
        private ulong _element;
    }
}
