using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Display;

/// <summary>
/// A minimal display controller (native-layout.md §12; seed 001 §9): one CRTC that scans out a physically
/// contiguous surface, a vsync every <see cref="VsyncPeriod"/> cycles, immediate flips (visible at once) and
/// synchronized flips (latched; only the last one before a vsync takes effect). CURRENT_SURFACE reports the
/// surface actually displayed, never a latched one (§9.2), so a flip is acknowledged only once it is effective.
/// </summary>
internal sealed class DisplayController : IMmioBlock
{
    private readonly DeviceMemory _memory;
    private readonly InterruptController _interrupts;
    private ulong _latched;
    private bool _flipPending;

    /// <summary>Creates the controller.</summary>
    public DisplayController(DeviceMemory memory, InterruptController interrupts, uint vsyncPeriod)
    {
        _memory = memory;
        _interrupts = interrupts;
        VsyncPeriod = vsyncPeriod;
    }

    /// <summary>Encoded physical address of the surface being scanned out (0 = none yet).</summary>
    public ulong CurrentSurface { get; private set; }

    /// <summary>True while a synchronized flip is latched and waits for the next vsync.</summary>
    public bool FlipPending => _flipPending;

    /// <summary>The latched surface (valid while <see cref="FlipPending"/>).</summary>
    public ulong LatchedSurface => _flipPending ? _latched : 0;

    /// <summary>Cycles between vsyncs; 0 disables vsync.</summary>
    public uint VsyncPeriod { get; private set; }

    /// <summary>Vsyncs so far.</summary>
    public ulong VsyncCount { get; private set; }

    /// <summary>Flips that became visible.</summary>
    public ulong FlipCount { get; private set; }

    /// <summary>Mode: width in pixels.</summary>
    public uint Width { get; private set; }

    /// <summary>Mode: height in lines.</summary>
    public uint Height { get; private set; }

    /// <summary>Mode: bytes per line.</summary>
    public uint Pitch { get; private set; }

    /// <summary>Mode: pixel format (0 = 32-bit B8G8R8A8).</summary>
    public uint Format { get; private set; }

    /// <summary>Bytes a surface of the current mode covers (at least one pixel).</summary>
    public ulong SurfaceBytes => Math.Max(4UL, (ulong)Pitch * Height);

    /// <summary>
    /// Flips to a surface (FLIP packet). Returns false, changing nothing, when the surface does not lie entirely
    /// inside its memory.
    /// </summary>
    public bool Flip(ulong encodedSurface, bool vsync)
    {
        if (!PhysicalAddress.TryDecode(encodedSurface, out var pa) || !_memory.Contains(pa, SurfaceBytes)) return false;
        if (vsync)
        {
            // seed 001 §9.1: only the last synchronized flip before a vsync is latched.
            _latched = encodedSurface;
            _flipPending = true;
        }
        else
        {
            // An immediate flip supersedes any latched one: the newest flip wins.
            _flipPending = false;
            CurrentSurface = encodedSurface;
            FlipCount++;
        }
        return true;
    }

    /// <summary>A vertical sync: the latched flip (if any) becomes visible, then the vsync interrupt is raised.</summary>
    public void Vsync(ulong cycle)
    {
        VsyncCount++;
        if (_flipPending)
        {
            CurrentSurface = _latched;
            _flipPending = false;
            FlipCount++;
        }
        _interrupts.Raise(new InterruptInfo(InterruptSource.Vsync, InterruptSources.NoEngine, 0, VsyncCount, CurrentSurface, cycle));
    }

    /// <inheritdoc />
    public uint Base => MmioMap.DisplayBase;

    /// <inheritdoc />
    public uint Size => MmioMap.BlockSize;

    /// <inheritdoc />
    public bool TryRead(uint offset, int width, out ulong value)
    {
        value = offset switch
        {
            DisplayRegisters.CurrentSurface => CurrentSurface,
            DisplayRegisters.LatchedSurface => LatchedSurface,
            DisplayRegisters.VsyncPeriod => VsyncPeriod,
            DisplayRegisters.Status => _flipPending ? DisplayRegisters.StatusFlipLatched : 0u,
            DisplayRegisters.VsyncCount => VsyncCount,
            DisplayRegisters.FlipCount => FlipCount,
            DisplayRegisters.Width => Width,
            DisplayRegisters.Height => Height,
            DisplayRegisters.Pitch => Pitch,
            DisplayRegisters.Format => Format,
            DisplayRegisters.ScanoutBase => CurrentSurface,
            _ => ulong.MaxValue,
        };
        if (value == ulong.MaxValue) return false;
        bool is64 = offset is DisplayRegisters.CurrentSurface or DisplayRegisters.LatchedSurface or DisplayRegisters.VsyncCount or DisplayRegisters.FlipCount or DisplayRegisters.ScanoutBase;
        if (width == 4 && is64) value = (uint)value;
        return true;
    }

    /// <inheritdoc />
    public bool TryWrite(uint offset, int width, ulong value)
    {
        switch (offset)
        {
            case DisplayRegisters.VsyncPeriod: VsyncPeriod = (uint)value; return true;
            case DisplayRegisters.Width: Width = (uint)value; return true;
            case DisplayRegisters.Height: Height = (uint)value; return true;
            case DisplayRegisters.Pitch: Pitch = (uint)value; return true;
            case DisplayRegisters.Format: Format = (uint)value; return true;
            case DisplayRegisters.ScanoutBase when width == 8:
                // Mode set by the kernel driver (seed 001 §7.2): immediate, not queued in a stream.
                // A surface outside memory is ignored (the write is still claimed).
                Flip(value, vsync: false);
                return true;
            default: return false;
        }
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset(uint vsyncPeriod)
    {
        _latched = 0;
        _flipPending = false;
        CurrentSurface = 0;
        VsyncPeriod = vsyncPeriod;
        VsyncCount = FlipCount = 0;
        Width = Height = Pitch = Format = 0;
    }
}
