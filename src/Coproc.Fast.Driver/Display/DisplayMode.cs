namespace Coproc.Fast.Driver.Display;

/// <summary>The display mode set through the display registers (native-layout.md §12): 32-bit BGRA pixels.</summary>
/// <param name="Width">Pixels per line.</param>
/// <param name="Height">Lines.</param>
/// <param name="PitchBytes">Bytes from a line to the next.</param>
public readonly record struct DisplayMode(uint Width, uint Height, uint PitchBytes)
{
    /// <summary>Bytes the display scans (pitch × height).</summary>
    public ulong SurfaceBytes => (ulong)PitchBytes * Height;
}
