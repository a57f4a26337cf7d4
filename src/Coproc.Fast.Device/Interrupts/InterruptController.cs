using Coproc.Fast.Device.Mmio;

namespace Coproc.Fast.Device.Interrupts;

/// <summary>
/// The interrupt controller (native-layout.md §9): a pending bit per <see cref="InterruptSource"/>, an enable
/// mask, write-1-to-clear acknowledge, and a bounded information queue of <see cref="InterruptInfo"/> entries.
/// The single outgoing line is asserted while (STATUS &amp; ENABLE) ≠ 0; the owner is told of level changes
/// through <see cref="IInterruptLine"/> and may also poll <see cref="IsAsserted"/>.
/// Public surface: the output pin only — the host connects <see cref="Line"/> (or polls <see cref="IsAsserted"/>); the
/// guest driver reaches the controller through its registers (<see cref="InterruptRegisters"/>), never through this object.
/// </summary>
/// <remarks>Called by: host; see docs/embedding.md, "What is public, and who calls it".</remarks>
public sealed class InterruptController : IMmioBlock
{
    /// <summary>Guest driver and host: capacity of the information queue (native-layout.md §9.2; INFO_DROPPED counts overflow).</summary>
    public const int QueueCapacity = 64;

    internal InterruptController() { }

    // Register offsets inside the block (native-layout.md §9.1).

    private readonly InterruptInfo[] _queue = new InterruptInfo[QueueCapacity];
    private int _head, _count;
    private uint _status, _enable = InterruptSources.AllMask;
    private bool _asserted;
    private bool _inLineCallback;

    /// <summary>Pending sources (bit per source).</summary>
    internal uint Status => _status;

    /// <summary>Enabled sources; all enabled at reset.</summary>
    internal uint Enable
    {
        get => _enable;
        set { _enable = value & InterruptSources.AllMask; UpdateLine(); }
    }

    /// <summary>Host: true while the outgoing line is asserted (STATUS &amp; ENABLE ≠ 0).</summary>
    public bool IsAsserted => _asserted;

    /// <summary>
    /// Host: who is told of level changes; null = polled only (native-layout.md §20.2). Owned by
    /// <see cref="Bus.CoprocBusDevice"/> when the device sits behind the PCI façade: give your pin to the façade then.
    /// </summary>
    public IInterruptLine? Line { get; set; }

    /// <summary>Interrupts raised since reset (all sources).</summary>
    internal ulong RaisedCount { get; private set; }

    /// <summary>Information entries dropped because the queue was full (the STATUS bit is still set).</summary>
    internal uint DroppedCount { get; private set; }

    /// <summary>Entries in the information queue.</summary>
    internal int QueuedCount => _count;

    /// <summary>Raises an interrupt: sets the source's pending bit and queues its information.</summary>
    internal void Raise(in InterruptInfo info)
    {
        RaisedCount++;
        if (_count == QueueCapacity) DroppedCount++;
        else
        {
            _queue[(_head + _count) % QueueCapacity] = info;
            _count++;
        }
        _status |= 1u << (int)info.Source;
        UpdateLine();
    }

    /// <summary>Clears the pending bits set in <paramref name="mask"/> (write-1-to-clear).</summary>
    internal void Acknowledge(uint mask)
    {
        _status &= ~mask;
        UpdateLine();
    }

    /// <summary>The oldest queued entry, without removing it.</summary>
    internal bool TryPeek(out InterruptInfo info)
    {
        info = _count > 0 ? _queue[_head] : default;
        return _count > 0;
    }

    /// <summary>Removes and returns the oldest queued entry.</summary>
    internal bool TryDequeue(out InterruptInfo info)
    {
        if (!TryPeek(out info)) return false;
        _head = (_head + 1) % QueueCapacity;
        _count--;
        return true;
    }

    private void UpdateLine()
    {
        bool level = (_status & _enable) != 0;
        if (level == _asserted) return;
        _asserted = level;
        if (Line is not { } line) return;
        // The flag lets Coprocessor.Step's containment filter tell an exception thrown by the host's own SetLevel (the
        // host's, passed through unchanged) from one of the device's (exception filters run before this finally).
        _inLineCallback = true;
        try { line.SetLevel(level); }
        finally { _inLineCallback = false; }
    }

    /// <summary>True while the host's <see cref="IInterruptLine.SetLevel"/> runs (see <see cref="Core.Coprocessor.Step"/>).</summary>
    internal bool InLineCallback => _inLineCallback;

    /// <inheritdoc />
    uint IMmioBlock.Base => MmioMap.InterruptBase;

    /// <inheritdoc />
    uint IMmioBlock.Size => MmioMap.BlockSize;

    /// <inheritdoc />
    bool IMmioBlock.TryRead(uint offset, int width, out ulong value)
    {
        var head = _count > 0 ? _queue[_head] : default;
        switch (offset)
        {
            case InterruptRegisters.Status: value = _status; return true;
            case InterruptRegisters.Enable: value = _enable; return true;
            case InterruptRegisters.RaiseCount: value = (uint)RaisedCount; return true;
            case InterruptRegisters.InfoCount: value = (uint)_count; return true;
            case InterruptRegisters.InfoDropped: value = DroppedCount; return true;
            case InterruptRegisters.InfoSource: value = _count == 0 ? InterruptRegisters.InfoSourceEmpty : (uint)head.Source | ((uint)head.Engine << 8); return true;
            case InterruptRegisters.InfoContext: value = head.ContextId; return true;
            case InterruptRegisters.InfoData0: value = width == 8 ? head.Data0 : (uint)head.Data0; return true;
            case InterruptRegisters.InfoData0 + 4 when width == 4: value = (uint)(head.Data0 >> 32); return true;
            case InterruptRegisters.InfoData1: value = width == 8 ? head.Data1 : (uint)head.Data1; return true;
            case InterruptRegisters.InfoData1 + 4 when width == 4: value = (uint)(head.Data1 >> 32); return true;
            case InterruptRegisters.InfoCycle: value = width == 8 ? head.Cycle : (uint)head.Cycle; return true;
            case InterruptRegisters.InfoCycle + 4 when width == 4: value = (uint)(head.Cycle >> 32); return true;
            default: value = 0; return false;
        }
    }

    /// <inheritdoc />
    bool IMmioBlock.TryWrite(uint offset, int width, ulong value)
    {
        switch (offset)
        {
            case InterruptRegisters.Enable: Enable = (uint)value; return true;
            case InterruptRegisters.Ack: Acknowledge((uint)value); return true;
            case InterruptRegisters.InfoPop: TryDequeue(out _); return true;
            default: return false;
        }
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        Array.Clear(_queue);
        _head = _count = 0;
        _status = 0;
        _enable = InterruptSources.AllMask;
        RaisedCount = 0;
        DroppedCount = 0;
        UpdateLine(); // a line asserted before the reset goes down (SetLevel(false))
    }
}
