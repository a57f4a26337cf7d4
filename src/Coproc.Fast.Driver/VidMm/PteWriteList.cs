using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.VidMm;

/// <summary>
/// Page-table edits gathered instead of written: runs of consecutive 64-bit entries (first entry's physical
/// address + values) and the TLB invalidations that must follow them. The paging buffer turns each run into one
/// UPDATE_PAGE_TABLE packet and each invalidation into one TLB_FLUSH (native-layout.md §8.2), so the device sees
/// the new translations in stream order, after the copies before them (seed 001 §4.2, behaviour 13).
/// Reused between builds: clearing keeps the capacity, so steady-state building allocates nothing.
/// </summary>
internal sealed class PteWriteList
{
    private readonly List<ulong> _values = new(512);
    private readonly List<(PhysicalAddress Slot, int Start, int Count)> _runs = new(8);
    private readonly List<(ushort Asid, ulong Va, ulong Pages)> _flushes = new(4);

    public int RunCount => _runs.Count;
    public int FlushCount => _flushes.Count;
    public int EntryCount => _values.Count;

    public void Clear()
    {
        _values.Clear();
        _runs.Clear();
        _flushes.Clear();
    }

    /// <summary>Starts a run of entries at <paramref name="slot"/>; following <see cref="Add"/> calls append to it.</summary>
    public void BeginRun(PhysicalAddress slot) => _runs.Add((slot, _values.Count, 0));

    /// <summary>Appends one entry to the current run.</summary>
    public void Add(ulong entry)
    {
        _values.Add(entry);
        var r = _runs[^1];
        _runs[^1] = (r.Slot, r.Start, r.Count + 1);
    }

    /// <summary>Records a TLB invalidation of [va, va + pages·4 KiB) in one address space.</summary>
    public void Flush(ushort asid, ulong va, ulong pages) => _flushes.Add((asid, va, pages));

    public (PhysicalAddress Slot, int Start, int Count) Run(int i) => _runs[i];

    public (ushort Asid, ulong Va, ulong Pages) FlushAt(int i) => _flushes[i];

    public ReadOnlySpan<ulong> Values(int start, int count) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_values).Slice(start, count);

    /// <summary>Applies the gathered edits directly with CPU writes (for callers that know no context can be using the tables).</summary>
    public void ApplyDirect(DeviceMemory memory)
    {
        for (int i = 0; i < _runs.Count; i++)
        {
            var (slot, start, count) = _runs[i];
            for (int k = 0; k < count; k++) memory.Write64(slot.Add((ulong)k * 8), _values[start + k]);
        }
    }
}
