namespace Coproc.Fast.Device.Display;

/// <summary>
/// Register offsets of the display controller at <see cref="Mmio.MmioMap.DisplayBase"/> (native-layout.md §12), relative
/// to the block. Drivers, hosts and tests use these names instead of raw offsets.
/// </summary>
/// <remarks>Called by: guest driver (register offsets, with MmioMap) and host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public static class DisplayRegisters
{
    /// <summary>R64 CURRENT_SURFACE: PA actually displayed.</summary>
    public const uint CurrentSurface = 0x00;
    /// <summary>R64 LATCHED_SURFACE: PA waiting for the next vsync (0 = none).</summary>
    public const uint LatchedSurface = 0x08;
    /// <summary>RW32 VSYNC_PERIOD in device cycles (0 = no vsync).</summary>
    public const uint VsyncPeriod = 0x10;
    /// <summary>R32 STATUS: <see cref="StatusFlipLatched"/>.</summary>
    public const uint Status = 0x14;
    /// <summary>R64 VSYNC_COUNT.</summary>
    public const uint VsyncCount = 0x18;
    /// <summary>R64 FLIP_COUNT: surfaces that became visible.</summary>
    public const uint FlipCount = 0x20;
    /// <summary>RW32 WIDTH (pixels).</summary>
    public const uint Width = 0x28;
    /// <summary>RW32 HEIGHT (lines).</summary>
    public const uint Height = 0x2C;
    /// <summary>RW32 PITCH (bytes per line).</summary>
    public const uint Pitch = 0x30;
    /// <summary>RW32 FORMAT: 0 = 32-bit B8G8R8A8.</summary>
    public const uint Format = 0x34;
    /// <summary>RW64 SCANOUT_BASE: immediate mode-set surface PA.</summary>
    public const uint ScanoutBase = 0x38;

    /// <summary>STATUS bit 0: a vsync flip is latched.</summary>
    public const uint StatusFlipLatched = 1;
}
