using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.RunLists;

namespace Coproc.Fast.Driver.VidSch.RunLists;

// Design: the CPU side of seed 001 §6.5. The device owns the write pointer (HB_WRPTR, a free-running record count it
// publishes after the record is in memory); this reader owns the read pointer (a free-running count kept here, never
// written to the device). Records between them are complete (claim 11). Record n lives at index (n - 1) mod capacity,
// so wrap-around needs no CPU help (the device wraps by itself) and reading across the end is two slices. If the reader
// falls more than a capacity behind, the oldest records were overwritten: it skips to the oldest one still present
// and counts the loss — the buffer must be ≥ 2 × the run-list length so this cannot happen between two interrupts.
/// <summary>
/// Reads the device's context-switch history buffer between its read pointer and the hardware write pointer
/// (native-layout.md §10.6). Talks to the device only through the device bus (registers and memory). Not thread-safe (the scheduler's
/// interrupt handler owns it).
/// </summary>
public sealed class HistoryBufferReader
{
    private readonly IDeviceBus _bus;
    private readonly DeviceMemory _memory;
    private readonly PhysicalAddress _base;

    private HistoryBufferReader(IDeviceBus bus, PhysicalAddress buffer, int capacity)
    {
        _bus = bus;
        _memory = bus.Memory;
        _base = buffer;
        Capacity = capacity;
    }

    /// <summary>
    /// Programs the history buffer (HB_BASE, HB_SIZE) and switches the device to N-element run lists (RL_MODE = History).
    /// The buffer must be in system memory, 4 KiB aligned, a multiple of 64 bytes, and no engine may hold a run list.
    /// </summary>
    /// <exception cref="RunListConfigurationException">The device refused (status says why); nothing changed.</exception>
    public static HistoryBufferReader Enable(IDeviceBus bus, PhysicalAddress buffer, uint bytes)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.WriteRegister(MmioMap.RunListBase + RunListRegisters.HistoryBase, buffer.Encoded);
        bus.WriteRegister32(MmioMap.RunListBase + RunListRegisters.HistorySize, bytes);
        bus.WriteRegister32(MmioMap.RunListBase + RunListRegisters.Mode, (uint)RunListMode.History);
        var status = (RunListConfigStatus)bus.ReadRegister32(MmioMap.RunListBase + RunListRegisters.ConfigStatus);
        if (status != RunListConfigStatus.Ok) throw new RunListConfigurationException(status, $"history buffer {buffer} of {bytes} bytes");
        int capacity = (int)bus.ReadRegister32(MmioMap.RunListBase + RunListRegisters.HistoryCapacity);
        return new HistoryBufferReader(bus, buffer, capacity);
    }

    /// <summary>Switches the device to two-element run lists (seed 001 §6.4); the history buffer is no longer written.</summary>
    /// <exception cref="RunListConfigurationException">An engine still holds a run list.</exception>
    public static void UseTwoElementLists(IDeviceBus bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.WriteRegister32(MmioMap.RunListBase + RunListRegisters.Mode, (uint)RunListMode.TwoElement);
        var status = (RunListConfigStatus)bus.ReadRegister32(MmioMap.RunListBase + RunListRegisters.ConfigStatus);
        if (status != RunListConfigStatus.Ok) throw new RunListConfigurationException(status, "two-element mode");
    }

    /// <summary>Records the buffer holds.</summary>
    public int Capacity { get; }

    /// <summary>Records consumed so far (the CPU-owned read pointer).</summary>
    public ulong ReadPointer { get; private set; }

    /// <summary>Records overwritten before they were read.</summary>
    public long LostRecords { get; private set; }

    /// <summary>The device's write pointer, read now (HB_WRPTR).</summary>
    public ulong WritePointer => _bus.ReadRegister(MmioMap.RunListBase + RunListRegisters.HistoryWritePtr);

    /// <summary>Records written and not yet read (capped at <see cref="Capacity"/>).</summary>
    public int Available => (int)Math.Min((ulong)Capacity, WritePointer - ReadPointer);

    /// <summary>
    /// Copies the records between the read pointer and the write pointer (oldest first, at most
    /// <paramref name="destination"/>.Length) and advances the read pointer past them. Returns the count.
    /// </summary>
    public int Read(Span<HistoryRecord> destination)
    {
        ulong write = WritePointer; // acquire: every record below it is complete
        if (write - ReadPointer > (ulong)Capacity)
        {
            LostRecords += (long)(write - ReadPointer - (ulong)Capacity);
            ReadPointer = write - (ulong)Capacity;
        }
        int n = (int)Math.Min((ulong)destination.Length, write - ReadPointer);
        var records = MemoryMarshal.Cast<byte, HistoryRecord>(_memory.GetSpan(_base, Capacity * HistoryRecord.SizeInBytes));
        for (int i = 0; i < n; i++) destination[i] = records[(int)((ReadPointer + (ulong)i) % (ulong)Capacity)];
        ReadPointer += (ulong)n;
        return n;
    }

    /// <summary>Reads every available record into a new array (convenience for handlers and tests; allocates).</summary>
    public HistoryRecord[] ReadAll()
    {
        var buffer = new HistoryRecord[Capacity];
        int n = Read(buffer);
        return buffer.AsSpan(0, n).ToArray();
    }
}
