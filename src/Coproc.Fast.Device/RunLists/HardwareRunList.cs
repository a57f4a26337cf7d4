using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.RunLists;

/// <summary>
/// One engine's hardware run list (seed 001 §6.1–§6.2): the <b>current</b> list the engine walks without CPU help and
/// the <b>pending</b> list it switches to at its next switch point. Entries are save-area PAs latched from memory at
/// submission, so the driver may reuse the array afterwards. Owned by the engine's command processor (device thread).
/// </summary>
internal sealed unsafe class HardwareRunList
{
    /// <summary>Longest run list accepted (RL_MAX_ENTRIES).</summary>
    public const int MaxEntries = RunListRegisters.MaxEntriesValue;

    private readonly DeviceMemory _memory;
    private readonly RunListControl _control;
    internal readonly ulong[] Current = new ulong[MaxEntries];
    internal readonly ulong[] Pending = new ulong[MaxEntries];

    internal HardwareRunList(DeviceMemory memory, RunListControl control)
    {
        _memory = memory;
        _control = control;
    }

    /// <summary>Entries in the current list (0 = no current list).</summary>
    public int CurrentCount { get; internal set; }

    /// <summary>Entries in the pending list (0 = none pending).</summary>
    public int PendingCount { get; private set; }

    /// <summary>Index of the running entry in the current list, -1 when the engine runs none of them.</summary>
    public int RunningIndex { get; internal set; } = -1;

    /// <summary>Serial of the current list (accepted submissions are numbered from 1), 0 = none.</summary>
    public uint CurrentSerial { get; private set; }

    /// <summary>Serial of the pending list, 0 = none.</summary>
    public uint PendingSerial { get; private set; }

    /// <summary>RL_BASE of the current list.</summary>
    public ulong CurrentBase { get; private set; }

    /// <summary>Outcome of the last submission.</summary>
    public RunListSubmitStatus LastStatus { get; private set; }

    /// <summary>Staging register RL_BASE.</summary>
    internal ulong StagedBase { get; set; }

    /// <summary>Staging register RL_COUNT.</summary>
    internal uint StagedCount { get; set; }

    private ulong _pendingBase;
    private uint _serials;

    /// <summary>Entry <paramref name="index"/> of the current list.</summary>
    public ulong Entry(int index) => (uint)index < (uint)CurrentCount ? Current[index] : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Index of <paramref name="saveArea"/> in the current list, -1 when absent.</summary>
    public int IndexOf(ulong saveArea)
    {
        for (int i = 0; i < CurrentCount; i++) if (Current[i] == saveArea) return i;
        return -1;
    }

    /// <summary>RL_SUBMIT: validates the staged list and makes it pending. On any error nothing changes.</summary>
    internal RunListSubmitStatus Submit()
    {
        LastStatus = Validate();
        if (LastStatus == RunListSubmitStatus.Ok)
        {
            var pa = PhysicalAddress.Decode(StagedBase);
            var src = (ulong*)_memory.TryPointer(pa.Location, pa.Offset, StagedCount * 8UL);
            for (int i = 0; i < (int)StagedCount; i++) Pending[i] = src[i];
            PendingCount = (int)StagedCount;
            PendingSerial = ++_serials;
            _pendingBase = StagedBase;
        }
        return LastStatus;
    }

    private RunListSubmitStatus Validate()
    {
        // seed 001 §6.2: a new list is submitted only when no pending one is outstanding.
        if (PendingCount != 0) return RunListSubmitStatus.PendingBusy;
        uint n = StagedCount;
        uint max = _control.Mode == RunListMode.TwoElement ? 2u : MaxEntries;
        if (n == 0 || n > max) return RunListSubmitStatus.BadCount;
        if (!PhysicalAddress.TryDecode(StagedBase, out var pa) || (pa.Offset & 7) != 0) return RunListSubmitStatus.BadAddress;
        var src = (ulong*)_memory.TryPointer(pa.Location, pa.Offset, n * 8UL);
        if (src == null) return RunListSubmitStatus.BadAddress;
        for (int i = 0; i < (int)n; i++)
        {
            if (!IsValidSaveArea(src[i])) return RunListSubmitStatus.BadEntry;
            for (int j = 0; j < i; j++) if (src[j] == src[i]) return RunListSubmitStatus.DuplicateEntry;
        }
        // seed 001 §6.5 requirement 2: room for the current and the pending list's switches before the CPU reads.
        if (_control.Mode == RunListMode.History && (ulong)_control.History.Capacity < 2UL * n) return RunListSubmitStatus.HistoryTooSmall;
        return RunListSubmitStatus.Ok;
    }

    /// <summary>True for a save-area address the engine can load (local, 256-byte aligned, inside memory).</summary>
    internal bool IsValidSaveArea(ulong encoded) =>
        PhysicalAddress.TryDecode(encoded, out var pa) && pa.Location == MemoryLocation.Local &&
        (pa.Offset & (ContextSaveArea.Alignment - 1)) == 0 && _memory.Contains(pa, ContextSaveArea.SizeInBytes);

    /// <summary>Pending → current (the engine reached a switch point); the pending list is cleared.</summary>
    internal void Promote()
    {
        Array.Copy(Pending, Current, PendingCount);
        CurrentCount = PendingCount;
        CurrentSerial = PendingSerial;
        CurrentBase = _pendingBase;
        PendingCount = 0;
        PendingSerial = 0;
        RunningIndex = -1;
    }

    /// <summary>Drops the current list (a CONTEXT_SWITCH request takes the engine out of run-list mode).</summary>
    internal void ClearCurrent()
    {
        CurrentCount = 0;
        CurrentSerial = 0;
        CurrentBase = 0;
        RunningIndex = -1;
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        Array.Clear(Current);
        Array.Clear(Pending);
        CurrentCount = PendingCount = 0;
        RunningIndex = -1;
        CurrentSerial = PendingSerial = 0;
        CurrentBase = 0;
        LastStatus = default;
        StagedBase = 0;
        StagedCount = 0;
        _pendingBase = 0;
        _serials = 0;
    }
}
