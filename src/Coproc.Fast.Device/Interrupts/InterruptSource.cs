namespace Coproc.Fast.Device.Interrupts;

/// <summary>
/// Interrupt sources; the value is the source's bit number in the STATUS, ENABLE and ACK registers
/// (native-layout.md §9).
/// </summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public enum InterruptSource : byte
{
    /// <summary>A FENCE with the interrupt flag wrote its value.</summary>
    Fence = 0,
    /// <summary>A TRAP retired (seed 001 §8.2).</summary>
    Trap = 1,
    /// <summary>An engine switched context (request done, context empty, yielded on WAIT, fault).</summary>
    ContextSwitch = 2,
    /// <summary>A context touched an invalid VA (memory fault, restartable).</summary>
    PageFault = 3,
    /// <summary>A context broke a protection rule: write to a read-only page, privileged page or packet from a limited buffer.</summary>
    ProtectionFault = 4,
    /// <summary>A context's stream held a malformed or misplaced packet.</summary>
    InvalidCommand = 5,
    /// <summary>Vertical sync of the display controller.</summary>
    Vsync = 6,
    /// <summary>A doorbell rang (doorbell block, seed 003).</summary>
    Doorbell = 7,
    /// <summary>A device error: a bad context-switch request, an invalid ring, a physical access out of range, SIGNAL overflow.</summary>
    Error = 8,
}

/// <summary>Interrupt constants.</summary>
/// <remarks>Called by: guest driver (values of registers and of documented fields); see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class InterruptSources
{
    /// <summary>Number of sources.</summary>
    public const int Count = 9;

    /// <summary>Mask of all source bits.</summary>
    public const uint AllMask = (1u << Count) - 1;

    /// <summary>Engine field value for interrupts that no engine raised (vsync, doorbell).</summary>
    public const byte NoEngine = 0xFF;
}

/// <summary>
/// One entry of the interrupt information queue (native-layout.md §9.2): who raised what, with two
/// source-specific data words.
/// </summary>
/// <param name="Source">The source.</param>
/// <param name="Engine">The engine (<see cref="InterruptSources.NoEngine"/> for none).</param>
/// <param name="ContextId">The context (from its save area), 0 when none; for CONTEXT_SWITCH the context switched away from.</param>
/// <param name="Data0">Source-specific: fence value, trap id, switch reason, fault address, vsync count.</param>
/// <param name="Data1">Source-specific: fence address, trap offset, save area switched to, save area of the faulted context (its fault record is at +128).</param>
/// <param name="Cycle">Device cycle at which it was raised.</param>
internal readonly record struct InterruptInfo(InterruptSource Source, byte Engine, uint ContextId, ulong Data0, ulong Data1, ulong Cycle);

/// <summary>
/// The device's single outgoing interrupt line, owned by a driver or a host emulator. Called only when the
/// level changes; the owner then reads STATUS and the information queue over MMIO.
/// Host: implements it and connects it (<see cref="InterruptController.Line"/> or <see cref="Bus.CoprocBusDevice.InterruptLine"/>).
/// </summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public interface IInterruptLine
{
    /// <summary>Called by the device on the host's pin: the line went up (true) or down (false) (native-layout.md §20.2, §20.4).</summary>
    void SetLevel(bool asserted);
}
