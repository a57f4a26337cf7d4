using System.Runtime.CompilerServices;

namespace Coproc.Fast.Driver.Kernel;

/// <summary>
/// The <see cref="Ring0Gate"/>'s entry counts, exact per process without an interlocked operation or a dictionary
/// lookup per entry (docs/performance.md goal 2). Each (thread, process) pair has its own slot that only that thread
/// writes (plain stores: a single writer loses no update); a reader sums the process's slots. The entering thread
/// remembers its last slot, so the steady state is one compare and two stores. Slots outlive their threads, so a
/// finished thread's entries still count.
/// </summary>
internal sealed class Ring0GateCounters
{
    // The entering thread's last slot (of whichever gate it last entered): checked against this instance and process.
    [ThreadStatic] private static Slot? t_last;

    private readonly object _lock = new();
    // Keyed by (thread << 32) | process: a primitive key hashes the same in every process (a machine save-state keeps the
    // dictionary's buckets, MachineStateGraph.cs; a tuple's hash is seeded per process).
    private readonly Dictionary<ulong, Slot> _byThreadAndProcess = new();
    private Slot[] _slots = [];

    /// <summary>Counts one entry of <paramref name="processId"/> carrying <paramref name="bytes"/> argument bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Count(uint processId, int bytes)
    {
        var slot = t_last;
        if (slot is null || slot.Owner != this || slot.ProcessId != processId) slot = Find(processId);
        // Single writer (this thread): volatile stores publish each count to readers without a lock prefix.
        Volatile.Write(ref slot.Entries, slot.Entries + 1);
        Volatile.Write(ref slot.Bytes, slot.Bytes + bytes);
    }

    /// <summary>Entries of one process (every thread's slot).</summary>
    public long EntriesOf(uint processId)
    {
        long n = 0;
        foreach (var s in Volatile.Read(ref _slots))
            if (s.ProcessId == processId) n += Volatile.Read(ref s.Entries);
        return n;
    }

    /// <summary>Entries of every process.</summary>
    public long TotalEntries()
    {
        long n = 0;
        foreach (var s in Volatile.Read(ref _slots)) n += Volatile.Read(ref s.Entries);
        return n;
    }

    /// <summary>Argument bytes of every entry.</summary>
    public long TotalCopiedBytes()
    {
        long n = 0;
        foreach (var s in Volatile.Read(ref _slots)) n += Volatile.Read(ref s.Bytes);
        return n;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Slot Find(uint processId)
    {
        ulong key = ((ulong)(uint)Environment.CurrentManagedThreadId << 32) | processId;
        lock (_lock)
        {
            if (!_byThreadAndProcess.TryGetValue(key, out var slot))
            {
                slot = new Slot(this, processId);
                _byThreadAndProcess.Add(key, slot);
                // Copy-on-write so readers enumerate without the lock.
                var grown = new Slot[_slots.Length + 1];
                _slots.CopyTo(grown, 0);
                grown[^1] = slot;
                Volatile.Write(ref _slots, grown);
            }
            t_last = slot;
            return slot;
        }
    }

    private sealed class Slot(Ring0GateCounters owner, uint processId)
    {
        public readonly Ring0GateCounters Owner = owner;
        public readonly uint ProcessId = processId;
        public long Entries;
        public long Bytes;
    }
}
