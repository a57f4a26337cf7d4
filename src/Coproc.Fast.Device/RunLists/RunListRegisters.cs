namespace Coproc.Fast.Device.RunLists;

/// <summary>
/// Register offsets of the run-list block, relative to <see cref="Mmio.MmioMap.RunListBase"/> (0x800;
/// native-layout.md §10.5). Device-wide registers (mode, history buffer) come first; each engine then has
/// <see cref="EngineStride"/> bytes at <see cref="EngineBase"/> + engine × <see cref="EngineStride"/>.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class RunListRegisters
{
    /// <summary>RW32 RL_MODE: a <see cref="RunListMode"/>. A write is refused (RL_CONFIG_STATUS) while any engine has a run list.</summary>
    public const uint Mode = 0x00;
    /// <summary>R32 RL_MAX_ENTRIES: the longest run list accepted in N-element mode (it reads <see cref="MaxEntriesValue"/>).</summary>
    public const uint MaxEntries = 0x04;
    /// <summary>
    /// The value RL_MAX_ENTRIES reads: at most 16 save areas per run list (native-layout.md §10.5). Guest driver: size
    /// run-list arrays and check RL_COUNT with it.
    /// </summary>
    public const int MaxEntriesValue = 16;
    /// <summary>RW64 HB_BASE: encoded PA of the history buffer (system memory, 4 KiB aligned); latched by an RL_MODE write.</summary>
    public const uint HistoryBase = 0x08;
    /// <summary>RW32 HB_SIZE: history buffer size in bytes (a multiple of 64); latched by an RL_MODE write.</summary>
    public const uint HistorySize = 0x10;
    /// <summary>R32 RL_CONFIG_STATUS: the <see cref="RunListConfigStatus"/> of the last RL_MODE write.</summary>
    public const uint ConfigStatus = 0x14;
    /// <summary>R64 HB_WRPTR: history records written since the buffer was configured (free-running; index = value mod capacity).</summary>
    public const uint HistoryWritePtr = 0x18;
    /// <summary>R32 HB_CAPACITY: records the configured history buffer holds (0 = none).</summary>
    public const uint HistoryCapacity = 0x20;

    /// <summary>Offset of engine 0's registers.</summary>
    public const uint EngineBase = 0x40;
    /// <summary>Bytes of registers per engine.</summary>
    public const uint EngineStride = 0x20;

    /// <summary>Per engine, RW64 RL_BASE: encoded PA of the run list to submit (an array of u64 save-area PAs, 8-byte aligned).</summary>
    public const uint ListBase = 0x00;
    /// <summary>Per engine, RW32 RL_COUNT: entries of the run list to submit.</summary>
    public const uint ListCount = 0x08;
    /// <summary>Per engine, W32 RL_SUBMIT: any value submits (RL_BASE, RL_COUNT) as the pending run list. R32: the <see cref="RunListSubmitStatus"/> of the last submission.</summary>
    public const uint Submit = 0x0C;
    /// <summary>Per engine, R32 RL_STATE: see <see cref="RunListState"/>.</summary>
    public const uint State = 0x10;
    /// <summary>Per engine, R32 RL_SERIAL: bits 0..15 serial of the current run list, 16..31 serial of the pending one (0 = none). Serials count accepted submissions from 1.</summary>
    public const uint Serial = 0x14;
    /// <summary>Per engine, R64 RL_CURRENT_BASE: RL_BASE of the current run list (its entries were latched at submission).</summary>
    public const uint CurrentBase = 0x18;
}

/// <summary>Bit fields of RL_STATE.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class RunListState
{
    /// <summary>Bits 0..7: index of the running entry in the current list; 0xFF when the engine runs none of them.</summary>
    public const uint RunningIndexMask = 0xFF;
    /// <summary>Bit 8: a pending run list awaits the next switch point.</summary>
    public const uint PendingBit = 1u << 8;
    /// <summary>Bit 9: a current run list exists.</summary>
    public const uint CurrentBit = 1u << 9;
    /// <summary>Bit 10: the pending list waits for an ENABLE_CONTEXT_SWITCH (behaviour 28).</summary>
    public const uint DeferredBit = 1u << 10;
    /// <summary>Bits 16..23: entries in the current list.</summary>
    public const int CurrentCountShift = 16;
    /// <summary>Bits 24..31: entries in the pending list.</summary>
    public const int PendingCountShift = 24;
}

/// <summary>RL_MODE values: how run lists report switches (seed 001 §6.4 / §6.5).</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum RunListMode : uint
{
    /// <summary>Solution 1: at most two entries; an interrupt on every switch including X→X; the driver queries the running context.</summary>
    TwoElement = 0,
    /// <summary>Solution 2: up to <see cref="HardwareRunList.MaxEntries"/> entries; every switch is also recorded in the history buffer.</summary>
    History = 1,
}

/// <summary>RL_CONFIG_STATUS values.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum RunListConfigStatus : uint
{
    /// <summary>Applied.</summary>
    Ok = 0,
    /// <summary>An engine has a current or pending run list: drain them first (submit nothing, CONTEXT_SWITCH 0).</summary>
    Busy = 1,
    /// <summary>HB_BASE is not a 4 KiB aligned system-memory address inside memory (with HB_SIZE bytes).</summary>
    BadHistoryBase = 2,
    /// <summary>HB_SIZE is zero or not a multiple of the 64-byte record.</summary>
    BadHistorySize = 3,
    /// <summary>Unknown mode value.</summary>
    BadMode = 4,
}

/// <summary>RL_SUBMIT read-back: the outcome of the last submission.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum RunListSubmitStatus : uint
{
    /// <summary>Accepted: the list is pending until the engine's next switch point.</summary>
    Ok = 0,
    /// <summary>A pending list is outstanding (seed 001 §6.2: submit only when none is pending); nothing changed.</summary>
    PendingBusy = 1,
    /// <summary>RL_COUNT is 0, above 2 in two-element mode, or above RL_MAX_ENTRIES.</summary>
    BadCount = 2,
    /// <summary>RL_BASE does not decode, is not 8-byte aligned, or the array is outside memory.</summary>
    BadAddress = 3,
    /// <summary>An entry is not a valid save area (local, 256-byte aligned, inside memory).</summary>
    BadEntry = 4,
    /// <summary>The same save area appears twice.</summary>
    DuplicateEntry = 5,
    /// <summary>History mode and the history buffer holds fewer than 2 × RL_COUNT records (seed 001 §6.5 requirement 2).</summary>
    HistoryTooSmall = 6,
}
