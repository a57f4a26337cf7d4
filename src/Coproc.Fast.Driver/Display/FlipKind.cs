namespace Coproc.Fast.Driver.Display;

/// <summary>The two flips of seed 001 §9.1.</summary>
public enum FlipKind : byte
{
    /// <summary>The display base changes as the FLIP executes (may tear); notified by the fence + interrupt after it.</summary>
    Immediate = 0,
    /// <summary>Latched, shown at the next vsync; only the last one latched before a vsync counts.</summary>
    Vsync = 1,
}

/// <summary>What became of a flip (seed 001 §9.2: acknowledged only once effective).</summary>
public enum FlipStatus : byte
{
    /// <summary>Unknown id (not a flip of this chain, or already forgotten).</summary>
    Unknown = 0,
    /// <summary>Submitted; its FLIP has not executed yet (waiting behind the context's earlier work).</summary>
    Queued,
    /// <summary>A vsync flip whose FLIP executed: latched, not yet visible.</summary>
    Latched,
    /// <summary>Visible: CURRENT_SURFACE showed it (immediate: at once; vsync: at a vsync).</summary>
    Presented,
    /// <summary>Replaced by a later flip before it became visible (never shown).</summary>
    Dropped,
    /// <summary>Its context was reset before the FLIP executed.</summary>
    Failed,
}

/// <summary>A flip-completion notification (<see cref="PresentManager.FlipCompleted"/>).</summary>
/// <param name="Context">Context that submitted it.</param>
/// <param name="FlipId">Its id (the submission id of its kernel DMA buffer).</param>
/// <param name="Status">Presented, Dropped or Failed.</param>
/// <param name="Surface">Encoded physical address of the surface.</param>
/// <param name="Cycle">Device cycle of the event that decided it (the fence or the vsync).</param>
public readonly record struct FlipNotice(int Context, long FlipId, FlipStatus Status, ulong Surface, ulong Cycle);
