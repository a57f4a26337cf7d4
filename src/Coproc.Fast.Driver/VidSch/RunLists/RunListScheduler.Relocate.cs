namespace Coproc.Fast.Driver.VidSch.RunLists;

// Fix-ups of saved contexts (seed 001 §4.1): "in a saved context the KMD can modify the ring location, the page table
// or any physical memory reference stored there (needed when those resources move in memory)". Safe only while the
// device cannot load the context: it is not the engine's current context and is in neither the current nor the pending
// run list. The device loads contexts only from those lists, and lists change only under KernelLock, so holding it
// keeps the context off the device for the whole fix-up; its RingLock holds off its submitters (lock order: kernel,
// then ring — as everywhere else).
public sealed partial class RunListScheduler
{
    /// <summary>Rings moved by <see cref="TryRelocateRing"/>.</summary>
    public long RingsRelocated { get; private set; }

    /// <summary>
    /// True when the device cannot load <paramref name="context"/> now: it is neither the engine's current context nor
    /// in the current or pending run list (seed 001 §4.1 "a context that is not running").
    /// </summary>
    public bool IsOffDevice(VaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (KernelLock) return IsOffDeviceLocked(context.SaveArea);
    }

    private bool IsOffDeviceLocked(ulong saveArea)
    {
        foreach (var l in _lanes)
        {
            var r = l.Submitter;
            if (r.RunningContext == saveArea || r.Current.Contains(saveArea) || r.Pending.Contains(saveArea)) return false;
        }
        return true;
    }

    /// <summary>
    /// Moves <paramref name="context"/>'s ring to a new place in local memory and fixes up the ring location its saved
    /// context refers to (seed 001 §4.1), keeping every queued DMA buffer: the next load runs them from the new ring.
    /// Returns false, changing nothing, while the context is running or listed (<see cref="IsOffDevice"/>).
    /// </summary>
    public bool TryRelocateRing(VaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (KernelLock)
        {
            if (!_byId.TryGetValue((uint)context.Id, out var mine) || mine != context)
                throw new ArgumentException("the context belongs to another scheduler", nameof(context));
            if (!IsOffDeviceLocked(context.SaveArea)) return false;
            lock (context.RingLock) context.Hw.RelocateRing();
            RingsRelocated++;
            return true;
        }
    }

    /// <summary>Page-table roots moved by <see cref="TryRelocatePageTable"/>.</summary>
    public long PageTablesRelocated { get; private set; }

    /// <summary>
    /// Moves <paramref name="process"/>'s top-level page table and fixes up the address-space descriptor in the saved
    /// context of every one of its contexts (seed 001 §4.1). Returns false, changing nothing, while any of them is
    /// running or listed, or while VidMm's paging context still has queued paging buffers (they may name this space's
    /// tables by physical address).
    /// </summary>
    public bool TryRelocatePageTable(VaProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        lock (KernelLock)
        {
            if (!_processes.Contains(process)) throw new ArgumentException("the process belongs to another scheduler", nameof(process));
            if (Paging.HasWork) return false;
            foreach (var c in _contexts)
                if (c.Process == process && !IsOffDeviceLocked(c.SaveArea)) return false;
            process.Space.RelocateTopLevelTable();
            var descriptor = process.Space.Descriptor;
            foreach (var c in _contexts)
                if (c.Process == process)
                    _memory.Region(c.Hw.SaveArea.Location).Ref<Coproc.Fast.Device.Contexts.ContextSaveArea>(c.Hw.SaveArea.Offset).AddressSpace = descriptor;
            PageTablesRelocated++;
            return true;
        }
    }
}
