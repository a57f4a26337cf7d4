using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Rings;

namespace Coproc.Fast.Driver.VidSch.RunLists;

/// <summary>
/// The driver's queries on a context that is not running (seed 001 §4.1 "KMD queries on non-running contexts"; §5.6
/// "when the scheduler is told a context is empty, it queries the driver, which inspects the saved context for queued
/// but unprocessed commands"). Reads the save area (native-layout.md §11) and the ring descriptor from memory.
/// </summary>
public static class SavedContextQuery
{
    /// <summary>
    /// True when the saved context still has work: it stopped inside a DMA buffer or on a wait, or its ring's WritePtr is
    /// past the saved position — the "empty" race of behaviour 19 (a buffer appended just after the tail re-read).
    /// </summary>
    public static bool HasQueuedWork(DeviceMemory memory, PhysicalAddress saveArea)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var save = Read(memory, saveArea);
        if ((save.Flags & (ContextFlags.InIndirect | ContextFlags.Waiting)) != 0) return true;
        if (!PhysicalAddress.TryDecode(save.RingDescriptor, out var desc) || !memory.Contains(desc, RingDescriptor.SizeInBytes)) return false;
        return Volatile.Read(ref memory.Region(desc.Location).Ref<RingDescriptor>(desc.Offset).WritePtr) != save.RingPosition;
    }

    /// <summary>The saved context: switch reason, cycles run, fault record (seed 001 §4.1 queries 1, 3, 4).</summary>
    public static ContextSaveArea Read(DeviceMemory memory, PhysicalAddress saveArea)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!memory.Contains(saveArea, ContextSaveArea.SizeInBytes))
            throw new ArgumentOutOfRangeException(nameof(saveArea), saveArea, "save area outside memory");
        return memory.Region(saveArea.Location).Ref<ContextSaveArea>(saveArea.Offset);
    }
}
