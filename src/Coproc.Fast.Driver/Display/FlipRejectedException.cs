namespace Coproc.Fast.Driver.Display;

/// <summary>Why the kernel refused a present call (nothing was queued).</summary>
public enum FlipRejection
{
    /// <summary>The context is not the caller's, or not of this device.</summary>
    UnknownContext = 1,
    /// <summary>The context has no flip chain (<see cref="PresentManager.CreateFlipChain(VidSch.GpuContext, int)"/>).</summary>
    NoFlipChain,
    /// <summary>The allocation is not a primary surface of this present manager (seed 001 §9.1: the CRTC scans a contiguous surface).</summary>
    NotPrimarySurface,
    /// <summary>The caller does not own the surface.</summary>
    NotOwned,
    /// <summary>No display mode is set.</summary>
    NoMode,
    /// <summary>The surface is smaller than the mode's pitch × height.</summary>
    SurfaceTooSmall,
}

/// <summary>A present call was refused; nothing was queued and nothing changed.</summary>
public sealed class FlipRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FlipRejectedException(FlipRejection reason, string detail) : base($"flip rejected: {reason} ({detail})") => Reason = reason;

    /// <summary>Why.</summary>
    public FlipRejection Reason { get; }
}
