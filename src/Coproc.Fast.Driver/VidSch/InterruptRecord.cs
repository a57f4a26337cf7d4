namespace Coproc.Fast.Driver.VidSch;

/// <summary>
/// One entry of the interrupt controller's information queue as the driver reads it through INFO_SOURCE,
/// INFO_CONTEXT, INFO_DATA0/1 and INFO_CYCLE (native-layout.md §9.2).
/// </summary>
/// <param name="Source">Interrupt source bit index (0 fence … 8 error).</param>
/// <param name="Engine">Engine (0xFF none).</param>
/// <param name="ContextId">Context id.</param>
/// <param name="Data0">Source-specific data.</param>
/// <param name="Data1">Source-specific data.</param>
/// <param name="Cycle">Device cycle at which it was raised.</param>
public readonly record struct InterruptRecord(byte Source, byte Engine, uint ContextId, ulong Data0, ulong Data1, ulong Cycle)
{
    /// <summary>FENCE source index.</summary>
    public const byte Fence = 0;
    /// <summary>TRAP source index.</summary>
    public const byte Trap = 1;
    /// <summary>CONTEXT_SWITCH source index.</summary>
    public const byte ContextSwitch = 2;
    /// <summary>PAGE_FAULT source index.</summary>
    public const byte PageFault = 3;
    /// <summary>PROTECTION_FAULT source index.</summary>
    public const byte ProtectionFault = 4;
    /// <summary>INVALID_COMMAND source index.</summary>
    public const byte InvalidCommand = 5;
    /// <summary>ERROR source index.</summary>
    public const byte Error = 8;
}
