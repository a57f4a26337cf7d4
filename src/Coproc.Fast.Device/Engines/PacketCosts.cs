namespace Coproc.Fast.Device.Engines;

/// <summary>
/// Cycle cost of each packet (native-layout.md §10.4). Defaults model a 1 GHz command processor with a
/// 32 B/cycle copy path (32 GB/s) and a 64 B/cycle fill path: a NOP costs one fetch/decode cycle, memory
/// writes a few cycles of queueing, fences and traps a pipeline drain point, a context switch the save and
/// restore of the 256-byte save area plus a TLB warm-up. Every value is a plain cycle count so a benchmark or a
/// policy study can change it.
/// </summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public readonly record struct PacketCosts
{
    /// <summary>Host: NOP (and fetch/decode of any packet).</summary>
    public int Nop { get; init; }
    /// <summary>Host: WRITE_DATA base cost.</summary>
    public int WriteDataBase { get; init; }
    /// <summary>Host: WRITE_DATA per data dword.</summary>
    public int WriteDataPerDword { get; init; }
    /// <summary>Host: COPY base cost (charged once, when the packet starts).</summary>
    public int CopyBase { get; init; }
    /// <summary>Host: COPY throughput, bytes per cycle.</summary>
    public int CopyBytesPerCycle { get; init; }
    /// <summary>Host: FILL base cost (charged once, when the packet starts).</summary>
    public int FillBase { get; init; }
    /// <summary>Host: FILL throughput, bytes per cycle.</summary>
    public int FillBytesPerCycle { get; init; }
    /// <summary>Host: TIMESTAMP.</summary>
    public int Timestamp { get; init; }
    /// <summary>Host: FENCE (any kind).</summary>
    public int Fence { get; init; }
    /// <summary>Host: TRAP.</summary>
    public int Trap { get; init; }
    /// <summary>Host: WAIT, SIGNAL and WAIT_FENCE (one counter read-modify-write).</summary>
    public int Sync { get; init; }
    /// <summary>Host: INDIRECT (redirect set-up).</summary>
    public int Indirect { get; init; }
    /// <summary>Host: ENABLE/DISABLE_CONTEXT_SWITCH, WAIT_FOR_FLIP when satisfied.</summary>
    public int Control { get; init; }
    /// <summary>Host: FLIP and REG_WRITE.</summary>
    public int Register { get; init; }
    /// <summary>Host: UPDATE_PAGE_TABLE base cost.</summary>
    public int PageTableBase { get; init; }
    /// <summary>Host: UPDATE_PAGE_TABLE per entry.</summary>
    public int PageTablePerEntry { get; init; }
    /// <summary>Host: TLB_FLUSH.</summary>
    public int TlbFlush { get; init; }
    /// <summary>Host: a context switch: save the current context and load the next.</summary>
    public int ContextSwitch { get; init; }

    /// <summary>Host: the documented defaults.</summary>
    public static PacketCosts Default { get; } = new()
    {
        Nop = 1, WriteDataBase = 4, WriteDataPerDword = 1, CopyBase = 64, CopyBytesPerCycle = 32, FillBase = 64,
        FillBytesPerCycle = 64, Timestamp = 4, Fence = 8, Trap = 16, Sync = 8, Indirect = 16, Control = 2, Register = 16,
        PageTableBase = 16, PageTablePerEntry = 2, TlbFlush = 64, ContextSwitch = 500,
    };

    /// <summary>Host: throws <see cref="ArgumentOutOfRangeException"/> for a negative cost, a zero throughput or a free context switch.</summary>
    public void Validate()
    {
        if (CopyBytesPerCycle <= 0) throw new ArgumentOutOfRangeException(nameof(CopyBytesPerCycle), CopyBytesPerCycle, "must be positive");
        if (FillBytesPerCycle <= 0) throw new ArgumentOutOfRangeException(nameof(FillBytesPerCycle), FillBytesPerCycle, "must be positive");
        // A switch must cost something: two contexts yielding to each other on WAIT would otherwise spin forever in one step.
        if (ContextSwitch < 1) throw new ArgumentOutOfRangeException(nameof(ContextSwitch), ContextSwitch, "must be at least 1");
        if ((Nop | WriteDataBase | WriteDataPerDword | CopyBase | FillBase | Timestamp | Fence | Trap | Sync | Indirect | Control |
             Register | PageTableBase | PageTablePerEntry | TlbFlush | ContextSwitch) < 0)
            throw new ArgumentOutOfRangeException(nameof(PacketCosts), "costs must not be negative");
    }
}
