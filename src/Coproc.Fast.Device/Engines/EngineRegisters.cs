namespace Coproc.Fast.Device.Engines;

/// <summary>
/// Register offsets of an engine's block (native-layout.md §10.1): engine e's registers are at
/// <see cref="Mmio.MmioMap.EngineBase"/> + e × <see cref="Stride"/> + offset (<see cref="At"/>). Drivers, hosts and tests
/// use these names instead of raw offsets.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class EngineRegisters
{
    /// <summary>Bytes per engine block.</summary>
    public const uint Stride = 0x80;

    /// <summary>W64 CONTEXT_SWITCH: save the current context and load the save area at this PA (0 = go idle).</summary>
    public const uint ContextSwitch = 0x00;
    /// <summary>R64 CURRENT_CONTEXT: PA of the loaded save area, 0 = idle.</summary>
    public const uint CurrentContext = 0x08;
    /// <summary>RW64 NEXT_CONTEXT: the context the engine switches to by itself; 0 = none.</summary>
    public const uint NextContext = 0x10;
    /// <summary>R64 DEFERRED_CONTEXT: target of a deferred CONTEXT_SWITCH (valid with <see cref="StatusSwitchDeferred"/>).</summary>
    public const uint DeferredContext = 0x18;
    /// <summary>R32 STATUS: the Status* bits.</summary>
    public const uint Status = 0x20;
    /// <summary>R32 LAST_SWITCH_REASON (SwitchReason).</summary>
    public const uint LastSwitchReason = 0x24;
    /// <summary>R64 PACKETS: packets completed.</summary>
    public const uint Packets = 0x28;
    /// <summary>R64 BUSY_CYCLES: cycles spent on contexts.</summary>
    public const uint BusyCycles = 0x30;
    /// <summary>R32 LAST_FAULT: bits 0..15 FaultReason, 16..31 detail.</summary>
    public const uint LastFault = 0x38;
    /// <summary>R32 LAST_FAULT_CONTEXT: context id.</summary>
    public const uint LastFaultContext = 0x3C;
    /// <summary>R64 LAST_FAULT_ADDRESS.</summary>
    public const uint LastFaultAddress = 0x40;
    /// <summary>R64 LAST_FAULT_OFFSET.</summary>
    public const uint LastFaultOffset = 0x48;
    /// <summary>R32 LAST_FAULT_OPCODE: bits 0..7 opcode, 8..15 FaultLocation.</summary>
    public const uint LastFaultOpcode = 0x50;
    /// <summary>R64 REJECTED_REQUEST: last CONTEXT_SWITCH or NEXT_CONTEXT value rejected.</summary>
    public const uint RejectedRequest = 0x58;
    /// <summary>R64 SWITCH_COUNT.</summary>
    public const uint SwitchCount = 0x60;

    /// <summary>STATUS bit 0: a context is loaded.</summary>
    public const uint StatusLoaded = 1;
    /// <summary>STATUS bit 1: runnable.</summary>
    public const uint StatusRunnable = 2;
    /// <summary>STATUS bit 2: the loaded context is empty.</summary>
    public const uint StatusEmpty = 4;
    /// <summary>STATUS bit 3: waiting (WAIT / WAIT_FENCE).</summary>
    public const uint StatusWaiting = 8;
    /// <summary>STATUS bit 4: faulted.</summary>
    public const uint StatusFaulted = 16;
    /// <summary>STATUS bit 5: context switching disabled.</summary>
    public const uint StatusSwitchDisabled = 32;
    /// <summary>STATUS bit 6: a CONTEXT_SWITCH is deferred.</summary>
    public const uint StatusSwitchDeferred = 64;
    /// <summary>STATUS bit 7: executing a DMA buffer.</summary>
    public const uint StatusInIndirect = 128;

    /// <summary>Offset in the register BAR of <paramref name="register"/> of <paramref name="engine"/>.</summary>
    public static uint At(EngineKind engine, uint register) => Mmio.MmioMap.EngineBase + (uint)engine * Stride + register;
}
