using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Bus;

/// <summary>
/// The device as a PCI function on a host emulator's bus (native-layout.md §20.7): configuration space, per-BAR reads
/// and writes of 1, 2, 4 or 8 bytes, the interrupt line, the clock, reset and NEXT_EVENT — the whole surface a host
/// needs, with nothing that reaches into engines. Never throws, whatever the offset, width or value.
/// </summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class CoprocBusDevice
{
    /// <summary>Host: BAR slot of the register window (4 KiB).</summary>
    public const int RegistersBar = 0;
    /// <summary>Host: BAR slot of the aperture window (64-bit, prefetchable; slots 1–2).</summary>
    public const int ApertureBar = 1;
    /// <summary>Host: BAR slot of the local-memory window (64-bit, prefetchable; slots 3–4).</summary>
    public const int LocalMemoryBar = 3;
    /// <summary>Host: BAR slot of the doorbell window (1 MiB).</summary>
    public const int DoorbellBar = 5;

    /// <summary>Host: wraps <paramref name="device"/>; the host keeps owning (and disposes) it.</summary>
    public CoprocBusDevice(Coprocessor device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        Config = new PciConfigSpace(MmioMap.RegisterBarSize, device.Options.ApertureBytes, device.LocalMemoryBar.Size, DoorbellAperture.SizeInBytes);
        // The device's one interrupt level goes through the router, which drives INTA or sends MSI messages (§20.7.1).
        _hostLine = device.Interrupts.Line;
        _router = new InterruptRouter(this);
        device.Interrupts.Line = _router;
        Config.MsiEnableChanged = _router.OnMsiEnableChanged;
    }

    private IInterruptLine? _hostLine;
    private IMsiTarget? _msiTarget;
    private readonly InterruptRouter _router;

    /// <summary>Host: the device behind the façade.</summary>
    public Coprocessor Device { get; }

    /// <summary>Host: PCI configuration space.</summary>
    public PciConfigSpace Config { get; }

    /// <summary>
    /// Host: the interrupt line (INTA): the host's pin. It follows the device's interrupt level (§9) while MSI is disabled, and
    /// stays low while MSI is enabled (§20.7.1). Setting it does not call <see cref="IInterruptLine.SetLevel"/>; read
    /// <see cref="InterruptLineLevel"/> for the current level.
    /// </summary>
    public IInterruptLine? InterruptLine
    {
        get => _hostLine;
        set => _hostLine = value;
    }

    /// <summary>Host: the INTA level now: the device's level while MSI is disabled, false while it is enabled.</summary>
    public bool InterruptLineLevel => !Config.MsiEnabled && Device.Interrupts.IsAsserted;

    /// <summary>Host: where MSI messages go (native-layout.md §20.7.1); null drops them (counted in <see cref="SuppressedMessages"/>).</summary>
    public IMsiTarget? MsiTarget
    {
        get => _msiTarget;
        set => _msiTarget = value;
    }

    /// <summary>Host: MSI messages sent to <see cref="MsiTarget"/>.</summary>
    public long MessagesSent { get; private set; }

    /// <summary>Host: MSI messages not sent: bus master disabled (COMMAND bit 2) or no <see cref="MsiTarget"/>.</summary>
    public long SuppressedMessages { get; private set; }

    // Design: the interrupt controller keeps one level (§9) and calls SetLevel on each change; a rising edge is exactly
    // "a new interrupt after the handler had cleared every pending source", which is when an MSI function sends a
    // message. So MSI is a view of the same level: no second pending state to save, reset or keep consistent.
    private sealed class InterruptRouter(CoprocBusDevice bus) : IInterruptLine
    {
        public void SetLevel(bool asserted)
        {
            if (!bus.Config.MsiEnabled) bus._hostLine?.SetLevel(asserted);
            else if (asserted) bus.SendMessage();
        }

        // Called after a config write flipped MSI enable: INTA is handed over without losing a pending interrupt.
        public void OnMsiEnableChanged()
        {
            bool level = bus.Device.Interrupts.IsAsserted;
            if (!level) return;
            if (bus.Config.MsiEnabled)
            {
                bus._hostLine?.SetLevel(false);
                bus.SendMessage();
            }
            else bus._hostLine?.SetLevel(true);
        }
    }

    private void SendMessage()
    {
        if (!Config.BusMasterEnabled || _msiTarget is not { } target)
        {
            SuppressedMessages++;
            return;
        }
        MessagesSent++;
        target.WriteMessage(Config.MsiAddress, Config.MsiData);
    }

    /// <summary>Host: bus reads that returned all ones because memory space was disabled, the BAR unknown or the width unsupported.</summary>
    public long IgnoredAccesses { get; private set; }

    /// <summary>
    /// Host: a read of <paramref name="width"/> (1, 2, 4, 8) bytes at <paramref name="offset"/> in BAR <paramref name="bar"/>,
    /// little-endian. Registers: 4/8-byte aligned accesses as §6; 1- and 2-byte reads return bytes of the containing dword.
    /// Doorbells read 0. All ones when memory space is disabled (COMMAND bit 1) or the BAR/width is not one of these.
    /// </summary>
    public ulong ReadBar(int bar, ulong offset, int width)
    {
        if (!Config.MemorySpaceEnabled || width is not (1 or 2 or 4 or 8)) return Ignored(width);
        switch (bar)
        {
            case RegistersBar:
                if (offset >= MmioMap.RegisterBarSize) return Ignored(width);
                if (width >= 4) return width == 8 ? Device.Mmio.Read64((uint)offset) : Device.Mmio.Read32((uint)offset);
                uint dword = Device.Mmio.Read32((uint)offset & ~3u);
                return (dword >> (int)(8 * (offset & 3))) & Mask(width);
            case ApertureBar:
            {
                ulong v = 0;
                Device.Aperture.Read(offset, AsBytes(ref v, width));
                return v;
            }
            case LocalMemoryBar:
            {
                ulong v = 0;
                Device.LocalMemoryBar.Read(offset, AsBytes(ref v, width));
                return v;
            }
            case DoorbellBar: return 0;
            default: return Ignored(width);
        }
    }

    /// <summary>
    /// Host: a write of <paramref name="width"/> bytes. Registers: 4/8-byte only (1/2-byte writes are dropped as unclaimed).
    /// Doorbells: a 4- or 8-byte store rings the page's doorbell as a bus store without a process id
    /// (<see cref="DoorbellAperture.BusWriter"/>, §13.1); narrower stores are dropped. Dropped while memory space is disabled.
    /// </summary>
    public void WriteBar(int bar, ulong offset, int width, ulong value)
    {
        if (!Config.MemorySpaceEnabled || width is not (1 or 2 or 4 or 8))
        {
            IgnoredAccesses++;
            return;
        }
        switch (bar)
        {
            case RegistersBar:
                if (offset < MmioMap.RegisterBarSize && width >= 4)
                {
                    if (width == 8) Device.Mmio.Write64((uint)offset, value);
                    else Device.Mmio.Write32((uint)offset, (uint)value);
                }
                else IgnoredAccesses++;
                return;
            case ApertureBar: Device.Aperture.Write(offset, AsBytes(ref value, width)); return;
            case LocalMemoryBar: Device.LocalMemoryBar.Write(offset, AsBytes(ref value, width)); return;
            case DoorbellBar:
                if (width >= 4) Device.DoorbellAperture.Write32(offset & ~3UL, (uint)value);
                else IgnoredAccesses++;
                return;
            default: IgnoredAccesses++; return;
        }
    }

    /// <summary>Host: advances the device clock (<see cref="Coprocessor.Step"/>).</summary>
    public void Step(ulong cycles) => Device.Step(cycles);

    /// <summary>Host: device reset (§20.3). Configuration space is the bus's and is not changed (BARs stay programmed).</summary>
    public void Reset() => Device.Reset();

    /// <summary>Host: the first cycle at which stepping can change anything (§20.5).</summary>
    public ulong NextEventCycle => Device.NextEventCycle;

    private ulong Ignored(int width)
    {
        IgnoredAccesses++;
        return width >= 8 ? ulong.MaxValue : Mask(width);
    }

    private static ulong Mask(int width) => width >= 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;

    private static unsafe Span<byte> AsBytes(ref ulong value, int width) =>
        new(System.Runtime.CompilerServices.Unsafe.AsPointer(ref value), width);

    /// <summary>
    /// Host: writes the device state (as <see cref="Coprocessor.SaveState(Stream, bool)"/>) and this façade's: configuration space
    /// (BARs, COMMAND, INTERRUPT_LINE) and its counters (native-layout.md §20.8, block BUSF).
    /// </summary>
    public void SaveState(Stream stream, bool includeSystemMemory = false) => Device.SaveState(stream, includeSystemMemory, this);

    /// <summary>
    /// Host: restores a stream written by <see cref="SaveState"/> into this façade and its device (native-layout.md §20.8). The
    /// interrupt is re-routed for the restored configuration: INTA gets one <see cref="IInterruptLine.SetLevel"/> call
    /// when its level (<see cref="InterruptLineLevel"/>) differs from before, and one MSI message is sent when MSI is
    /// enabled and the device's level rose.
    /// </summary>
    /// <exception cref="DeviceStateException">As <see cref="Coprocessor.RestoreState(Stream)"/>, and for a stream written by
    /// <see cref="Coprocessor.SaveState(Stream, bool)"/> (no façade block).</exception>
    public void RestoreState(Stream stream)
    {
        // The restored configuration may route the interrupt differently (MSI enable), so the device's own post-restore
        // SetLevel is held back (its line is a host slot, kept as set here) and the façade decides what INTA and MSI see.
        bool levelBefore = Device.Interrupts.IsAsserted, pinBefore = InterruptLineLevel;
        Device.Interrupts.Line = null;
        try { Device.RestoreState(stream, this); }
        finally
        {
            Device.Interrupts.Line = _router;
            Config.MsiEnableChanged = _router.OnMsiEnableChanged;
            bool pinAfter = InterruptLineLevel;
            if (pinAfter != pinBefore) _hostLine?.SetLevel(pinAfter);
            if (Config.MsiEnabled && Device.Interrupts.IsAsserted && !levelBefore) SendMessage();
        }
    }
}
