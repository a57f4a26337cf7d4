using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.RunLists;

/// <summary>
/// Device-wide run-list configuration (native-layout.md §10.5): the <see cref="RunListMode"/> (seed 001 §6.4 two-element
/// lists or §6.5 N-element lists with the history buffer) and the one <see cref="HistoryBuffer"/> per device.
/// </summary>
internal sealed class RunListControl
{
    internal RunListControl(DeviceMemory memory) => History = new HistoryBuffer(memory);

    /// <summary>The active mode.</summary>
    public RunListMode Mode { get; private set; } = RunListMode.TwoElement;

    /// <summary>The history buffer (written in <see cref="RunListMode.History"/> only).</summary>
    public HistoryBuffer History { get; }

    /// <summary>Staging register HB_BASE.</summary>
    internal ulong StagedHistoryBase { get; set; }

    /// <summary>Staging register HB_SIZE.</summary>
    internal uint StagedHistorySize { get; set; }

    /// <summary>Outcome of the last RL_MODE write.</summary>
    public RunListConfigStatus LastStatus { get; private set; }

    /// <summary>True when history records are written.</summary>
    internal bool Recording => Mode == RunListMode.History;

    /// <summary>RL_MODE write; <paramref name="busy"/> = some engine has a current or pending list.</summary>
    internal RunListConfigStatus SetMode(uint value, bool busy)
    {
        LastStatus = Apply(value, busy);
        return LastStatus;
    }

    private RunListConfigStatus Apply(uint value, bool busy)
    {
        if (value > (uint)RunListMode.History) return RunListConfigStatus.BadMode;
        if (busy) return RunListConfigStatus.Busy;
        if (value == (uint)RunListMode.History)
        {
            var s = History.Configure(StagedHistoryBase, StagedHistorySize);
            if (s != RunListConfigStatus.Ok) return s;
        }
        Mode = (RunListMode)value;
        return RunListConfigStatus.Ok;
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        Mode = RunListMode.TwoElement;
        StagedHistoryBase = 0;
        StagedHistorySize = 0;
        LastStatus = default;
        History.Reset();
    }
}
