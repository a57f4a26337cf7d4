using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Display;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver.Diagnostics;

/// <summary>
/// The frame the display controller is scanning out, read as a driver would: CURRENT_SURFACE, WIDTH, HEIGHT,
/// PITCH and FORMAT on the device bus (native-layout.md §12), then the surface's bytes from device memory.
/// </summary>
/// <param name="Width">Pixels per line.</param>
/// <param name="Height">Lines.</param>
/// <param name="PitchBytes">Bytes per line in <see cref="Bgra"/>.</param>
/// <param name="Surface">Encoded physical address of the surface.</param>
/// <param name="Bgra">A copy of the surface bytes (B8G8R8A8).</param>
public sealed record DisplayedFrame(int Width, int Height, int PitchBytes, ulong Surface, byte[] Bgra)
{
    private const uint CurrentSurface = MmioMap.DisplayBase + DisplayRegisters.CurrentSurface, WidthReg = MmioMap.DisplayBase + DisplayRegisters.Width;
    private const uint HeightReg = MmioMap.DisplayBase + DisplayRegisters.Height, PitchReg = MmioMap.DisplayBase + DisplayRegisters.Pitch;
    private const uint FormatReg = MmioMap.DisplayBase + DisplayRegisters.Format;

    /// <summary>Reads the displayed frame through <paramref name="bus"/> (a machine's <see cref="Machine.Bus"/>).</summary>
    /// <exception cref="FrameCaptureException">No surface is displayed, the mode is unset, the format is not
    /// B8G8R8A8, or the surface does not lie in memory.</exception>
    public static DisplayedFrame Read(IDeviceBus bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        var memory = bus.Memory;
        ulong surface = bus.ReadRegister(CurrentSurface);
        uint width = bus.ReadRegister32(WidthReg), height = bus.ReadRegister32(HeightReg), pitch = bus.ReadRegister32(PitchReg);
        uint format = bus.ReadRegister32(FormatReg);
        if (surface == 0) throw new FrameCaptureException("the display shows no surface (CURRENT_SURFACE is 0)");
        if (width == 0 || height == 0) throw new FrameCaptureException($"the display mode is unset (WIDTH {width}, HEIGHT {height})");
        if (format != 0) throw new FrameCaptureException($"display FORMAT {format} is not 0 (B8G8R8A8)");
        if (pitch < 4UL * width) throw new FrameCaptureException($"display PITCH {pitch} is less than 4 × WIDTH {width}");
        ulong bytes = (ulong)pitch * height;
        if (bytes > int.MaxValue || !PhysicalAddress.TryDecode(surface, out var pa) || !memory.Contains(pa, bytes))
            throw new FrameCaptureException($"surface 0x{surface:X} of {bytes} bytes does not lie in device memory");
        return new DisplayedFrame((int)width, (int)height, (int)pitch, surface, memory.GetSpan(pa, (int)bytes).ToArray());
    }

    /// <summary>Writes the frame as a PNG file.</summary>
    public void WritePng(Stream output) => PngWriter.WriteBgra(output, Bgra, Width, Height, PitchBytes);
}

/// <summary>The displayed frame could not be read (no surface, bad mode or format).</summary>
public sealed class FrameCaptureException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FrameCaptureException(string message) : base(message) { }
}
