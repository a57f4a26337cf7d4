namespace Coproc.Fast.Fuzz.Harness;

/// <summary>
/// SplitMix64: a tiny generator whose sequence is fixed by its seed on every runtime and platform (System.Random's
/// seeded sequence is an implementation detail), so a campaign's seed and case number reproduce a failure anywhere.
/// </summary>
internal struct FuzzRandom(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The generator of case <paramref name="caseNumber"/> of a campaign run with <paramref name="seed"/>.</summary>
    public static FuzzRandom ForCase(ulong seed, long caseNumber) => new(Mix(seed ^ Mix((ulong)caseNumber + 0x632BE59BD9B4E019UL)));

    public ulong NextU64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        return Mix(z);
    }

    public uint NextU32() => (uint)(NextU64() >> 32);

    /// <summary>Uniform in [0, n) (n &gt; 0).</summary>
    public int Below(int n) => (int)((NextU64() >> 33) % (ulong)n);

    public ulong Below(ulong n) => n == 0 ? 0 : NextU64() % n;

    /// <summary>True with probability 1/<paramref name="n"/>.</summary>
    public bool OneIn(int n) => Below(n) == 0;

    public T Pick<T>(IReadOnlyList<T> items) => items[Below(items.Count)];

    /// <summary>A 32-bit value biased towards the boundaries parsers get wrong.</summary>
    public uint Interesting32()
    {
        switch (Below(10))
        {
            case 0: return 0;
            case 1: return 1;
            case 2: return uint.MaxValue;
            case 3: return 0x8000_0000;
            case 4: return (uint)Below(64);
            case 5: return 1u << Below(32);
            case 6: return (1u << Below(32)) - 1;
            case 7: return 0x1000 * (uint)Below(4096);
            default: return NextU32();
        }
    }

    /// <summary>A 64-bit value biased towards the boundaries address arithmetic gets wrong.</summary>
    public ulong Interesting64()
    {
        switch (Below(8))
        {
            case 0: return 0;
            case 1: return ulong.MaxValue;
            case 2: return 1UL << Below(64);
            case 3: return (1UL << Below(64)) - 1;
            case 4: return 0x1000UL * (ulong)Below(1 << 20);
            case 5: return Interesting32();
            default: return NextU64();
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
