using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Device.RunLists;

// Design: the device side of seed 001 §6.5 solution 2. One buffer per device (claim 9), in system memory, 4 KiB
// aligned, written only by the device thread. Ordering (claim 11): the whole 64-byte record is stored first, then the
// free-running write pointer is published with a release store; the CPU reads the pointer with an acquire load
// (HB_WRPTR), so every record below the pointer it sees is complete. The buffer wraps at its end without CPU help:
// record n lives at index (n - 1) mod capacity. Nothing stops the device from overwriting records the CPU has not read
// yet — the driver sizes the buffer at ≥ 2 × the run-list length (checked at submission) and detects overruns from
// the pointer distance.
/// <summary>The history buffer of run-list mode <see cref="RunListMode.History"/> (native-layout.md §10.6).</summary>
internal sealed unsafe class HistoryBuffer
{
    private readonly DeviceMemory _memory;
    private byte* _base;
    private ulong _writePtr;

    internal HistoryBuffer(DeviceMemory memory) => _memory = memory;

    /// <summary>Encoded PA of the buffer, 0 when none is configured.</summary>
    public ulong BaseAddress { get; private set; }

    /// <summary>Records the buffer holds.</summary>
    public int Capacity { get; private set; }

    /// <summary>Records written since configuration (HB_WRPTR, acquire load).</summary>
    public ulong WritePointer => Volatile.Read(ref _writePtr);

    /// <summary>Checks and latches a buffer; resets the write pointer. Returns the status; on failure nothing changes.</summary>
    internal RunListConfigStatus Configure(ulong encodedBase, uint bytes)
    {
        if (bytes == 0 || bytes % HistoryRecord.SizeInBytes != 0) return RunListConfigStatus.BadHistorySize;
        if (!PhysicalAddress.TryDecode(encodedBase, out var pa) || pa.Location != MemoryLocation.System || (pa.Offset & 0xFFF) != 0)
            return RunListConfigStatus.BadHistoryBase;
        byte* p = _memory.TryPointer(pa.Location, pa.Offset, bytes);
        if (p == null) return RunListConfigStatus.BadHistoryBase;
        _base = p;
        BaseAddress = encodedBase;
        Capacity = (int)(bytes / HistoryRecord.SizeInBytes);
        Volatile.Write(ref _writePtr, 0);
        return RunListConfigStatus.Ok;
    }

    /// <summary>Appends a record (its <see cref="HistoryRecord.Sequence"/> is filled in): record first, then the pointer.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal void Append(ref HistoryRecord record)
    {
        if (_base == null) return;
        ulong n = _writePtr + 1;
        record.Sequence = n;
        byte* slot = _base + (long)((n - 1) % (ulong)Capacity) * HistoryRecord.SizeInBytes;
        Unsafe.WriteUnaligned(slot, record);
        Volatile.Write(ref _writePtr, n); // seed 001 §6.5 claim 11: the record is visible before the pointer moves
        _memory.NoteWritten(slot, HistoryRecord.SizeInBytes);
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        _base = null;
        BaseAddress = 0;
        Capacity = 0;
        Volatile.Write(ref _writePtr, 0);
    }
}
