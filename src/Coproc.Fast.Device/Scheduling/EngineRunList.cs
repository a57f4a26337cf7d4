using System.Numerics;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;

namespace Coproc.Fast.Device.Scheduling;

// Design: one engine's run list, owned by the device thread (no locks). Runnable queues are either in one of the
// engine's hardware slots (what the command processor may run) or waiting in a FIFO per priority level. As in
// gem5's HSA hardware scheduler, more runnable queues than slots are time-sliced round-robin: a slotted queue that
// has used its time slice while another of equal or higher priority waits goes to the back of its level and frees
// its slot; a waiting queue of higher priority than the lowest slotted one takes that slot at once (the displaced
// queue goes to the front of its level, it loses its slot, not its turn). A queue is in at most one place
// (_member); entries are tagged with the registration generation so a queue unregistered or faulted meanwhile is
// dropped when it surfaces, never run.
/// <summary>
/// One engine's run list: <see cref="SlotCount"/> hardware slots plus priority-ordered waiting queues
/// (seed 003 "engine run lists"; priorities 0 lowest .. 15 highest).
/// </summary>
internal sealed class EngineRunList
{
    /// <summary>Number of priority levels.</summary>
    public const int PriorityLevels = 16;

    private readonly DoorbellBlock _block;
    private readonly int[] _slots;
    private readonly uint[] _slotGeneration;
    private readonly ulong[] _slotUsed;
    private readonly int[] _fifo = new int[PriorityLevels * DoorbellVector.Count];
    private readonly uint[] _fifoGeneration = new uint[PriorityLevels * DoorbellVector.Count];
    private readonly int[] _fifoHead = new int[PriorityLevels];
    private readonly int[] _fifoCount = new int[PriorityLevels];
    private readonly bool[] _member = new bool[DoorbellVector.Count];
    private readonly uint[] _memberGeneration = new uint[DoorbellVector.Count];
    private int _waitingMask;
    private int _slotted; // slots holding a doorbell (_slots[s] >= 0): IsEmpty and the idle tests are O(1), not a scan
    private int _cursor = -1;

    internal EngineRunList(EngineKind engine, DoorbellBlock block, int slotCount)
    {
        Engine = engine;
        _block = block;
        _slots = new int[slotCount];
        _slotGeneration = new uint[slotCount];
        _slotUsed = new ulong[slotCount];
        Array.Fill(_slots, -1);
    }

    /// <summary>The engine.</summary>
    public EngineKind Engine { get; }

    /// <summary>Hardware slots.</summary>
    public int SlotCount => _slots.Length;

    /// <summary>The doorbell in slot <paramref name="slot"/>, or -1 when empty.</summary>
    public int SlotDoorbell(int slot) => _slots[slot];

    /// <summary>Runnable queues waiting for a slot.</summary>
    public int WaitingCount
    {
        get
        {
            int n = 0;
            foreach (int c in _fifoCount) n += c;
            return n;
        }
    }

    /// <summary>True when no queue is slotted or waiting (the engine has no user-queue work).</summary>
    public bool IsEmpty => _waitingMask == 0 && !AnySlotted();

    /// <summary>True when doorbell <paramref name="doorbell"/>'s queue is slotted or waiting here.</summary>
    public bool Contains(int doorbell) => _member[doorbell];

    /// <summary>Rotations forced by time slices (a slotted queue gave way to a waiting one).</summary>
    public long TimeSliceRotations { get; private set; }

    internal void MakeRunnable(DoorbellRegistration reg)
    {
        int db = reg.Index;
        if (_member[db] && _memberGeneration[db] == reg.Generation) return;
        _member[db] = true;
        _memberGeneration[db] = reg.Generation;
        PushBack(reg.Priority, db, reg.Generation);
        Refill();
    }

    internal bool TryGetNext(out RunnableQueue queue) => TryGetNext(default, out queue);

    /// <summary>
    /// The highest-priority slotted queue (round-robin among equals), ignoring the doorbells set in
    /// <paramref name="skip"/> (a 256-bit set; empty = none) — the queues that yielded on a wait in the caller's slice.
    /// </summary>
    internal bool TryGetNext(ReadOnlySpan<ulong> skip, out RunnableQueue queue)
    {
        // Design: every engine asks once per Step slice, idle or not; with nothing slotted or waiting, Pick and Refill
        // below would change nothing, so answer at once (an idle Step was ≈ 260 ns, mostly these scans; docs/performance.md).
        if (_waitingMask == 0 && !AnySlotted())
        {
            queue = default;
            return false;
        }
        int best = Pick(skip);
        if (best < 0)
        {
            Refill();
            best = Pick(skip);
            if (best < 0)
            {
                queue = default;
                return false;
            }
        }
        _cursor = best;
        var r = _block[_slots[best]];
        queue = new RunnableQueue
        {
            Doorbell = r.Index, Slot = best, Generation = _slotGeneration[best], Engine = Engine, Priority = r.Priority,
            TimeSliceCycles = r.TimeSliceCycles, ContextId = r.ContextId, Descriptor = r.Descriptor, SaveArea = r.SaveArea,
        };
        return true;
    }

    private int Pick(ReadOnlySpan<ulong> skip)
    {
        int best = -1, bestPriority = -1;
        int n = _slots.Length;
        for (int k = 1; k <= n; k++)
        {
            int s = _cursor + k; // _cursor ∈ [-1, n): s < 2n, so one subtraction wraps it (no division per slot)
            if (s >= n) s -= n;
            int db = _slots[s];
            if (db < 0) continue;
            var reg = _block[db];
            if (reg.State != DoorbellState.Registered || reg.Generation != _slotGeneration[s])
            {
                Evict(s);
                continue;
            }
            if (!skip.IsEmpty && (skip[db >> 6] & (1UL << db)) != 0) continue;
            if (reg.Priority > bestPriority)
            {
                best = s;
                bestPriority = reg.Priority;
            }
        }
        return best;
    }

    /// <summary>
    /// The priority the next <see cref="TryGetNext(ReadOnlySpan{ulong}, out RunnableQueue)"/> would hand out — the highest
    /// of the live slotted queues not in <paramref name="skip"/> and of the waiting levels — with that queue's time slice;
    /// -1 when there is none. Changes nothing (the engine's arbitration against its kernel context, native-layout.md
    /// §13.7). Allocation-free.
    /// </summary>
    internal int PeekPriority(ReadOnlySpan<ulong> skip, out uint timeSlice)
    {
        int best = -1;
        timeSlice = 0;
        if (_waitingMask == 0 && !AnySlotted()) return -1;
        for (int s = 0; s < _slots.Length; s++)
        {
            int db = _slots[s];
            if (db < 0) continue;
            var reg = _block[db];
            if (reg.State != DoorbellState.Registered || reg.Generation != _slotGeneration[s]) continue;
            if (!skip.IsEmpty && (skip[db >> 6] & (1UL << db)) != 0) continue;
            if (reg.Priority > best)
            {
                best = reg.Priority;
                timeSlice = reg.TimeSliceCycles;
            }
        }
        int level = HighestWaitingPriority();
        if (level > best)
        {
            var head = _block[_fifo[level * DoorbellVector.Count + _fifoHead[level]]];
            best = level;
            timeSlice = head.TimeSliceCycles;
        }
        return best;
    }

    /// <summary>Live queues of priority <paramref name="priority"/> slotted or waiting here (equals the kernel context takes turns with).</summary>
    internal int CountAt(int priority)
    {
        int n = _fifoCount[priority];
        for (int s = 0; s < _slots.Length; s++)
        {
            int db = _slots[s];
            if (db < 0) continue;
            var reg = _block[db];
            if (reg.State == DoorbellState.Registered && reg.Generation == _slotGeneration[s] && reg.Priority == priority) n++;
        }
        return n;
    }

    internal bool IsSlotted(in RunnableQueue q)
    {
        int s = q.Slot;
        if ((uint)s >= (uint)_slots.Length || _slots[s] != q.Doorbell || _slotGeneration[s] != q.Generation) return false;
        var reg = _block[q.Doorbell];
        return reg.State == DoorbellState.Registered && reg.Generation == q.Generation;
    }

    internal void Report(in RunnableQueue q, ulong cyclesUsed, bool drained)
    {
        int s = q.Slot;
        if ((uint)s >= (uint)_slots.Length || _slots[s] != q.Doorbell || _slotGeneration[s] != q.Generation) return;
        if (drained)
        {
            Evict(s);
            Refill();
            return;
        }
        _slotUsed[s] += cyclesUsed;
        if (_slotUsed[s] < q.TimeSliceCycles) return;
        _slotUsed[s] = 0;
        if (HighestWaitingPriority() >= q.Priority)
        {
            // Time slice over and a peer waits: round-robin (gem5's hardware scheduler).
            SetSlot(s, -1);
            PushBack(q.Priority, q.Doorbell, q.Generation);
            TimeSliceRotations++;
            Refill();
        }
    }

    private void Refill()
    {
        while (_waitingMask != 0)
        {
            int level = 31 - BitOperations.LeadingZeroCount((uint)_waitingMask);
            int free = Array.IndexOf(_slots, -1);
            if (free < 0)
            {
                int lowest = LowestSlot(out int lowestPriority);
                if (lowestPriority >= level) return;
                int displaced = _slots[lowest];
                SetSlot(lowest, -1);
                PushFront(_block[displaced].Priority, displaced, _slotGeneration[lowest]);
                free = lowest;
            }
            int db = PopFront(level, out uint generation);
            var reg = _block[db];
            if (reg.State != DoorbellState.Registered || reg.Generation != generation)
            {
                Forget(db, generation);
                continue;
            }
            SetSlot(free, db);
            _slotGeneration[free] = generation;
            _slotUsed[free] = 0;
        }
    }

    private int LowestSlot(out int priority)
    {
        int slot = 0;
        priority = int.MaxValue;
        for (int s = 0; s < _slots.Length; s++)
        {
            int p = _block[_slots[s]].Priority;
            if (p < priority)
            {
                priority = p;
                slot = s;
            }
        }
        return slot;
    }

    private bool AnySlotted() => _slotted != 0;

    // Every change of a slot goes through here, so _slotted always equals the number of non-negative _slots entries.
    private void SetSlot(int slot, int doorbell)
    {
        _slotted += (doorbell >= 0 ? 1 : 0) - (_slots[slot] >= 0 ? 1 : 0);
        _slots[slot] = doorbell;
    }

    private int HighestWaitingPriority() => _waitingMask == 0 ? -1 : 31 - BitOperations.LeadingZeroCount((uint)_waitingMask);

    private void Evict(int slot)
    {
        Forget(_slots[slot], _slotGeneration[slot]);
        SetSlot(slot, -1);
    }

    // An entry of an older registration must not clear the membership of the doorbell's current one.
    private void Forget(int db, uint generation)
    {
        if (_memberGeneration[db] == generation) _member[db] = false;
    }

    private void PushBack(int level, int db, uint generation)
    {
        int n = DoorbellVector.Count;
        if (_fifoCount[level] == n) DropStale(level);
        int i = level * n + (_fifoHead[level] + _fifoCount[level]) % n;
        _fifo[i] = db;
        _fifoGeneration[i] = generation;
        _fifoCount[level]++;
        _waitingMask |= 1 << level;
    }

    private void PushFront(int level, int db, uint generation)
    {
        int n = DoorbellVector.Count;
        if (_fifoCount[level] == n) DropStale(level);
        _fifoHead[level] = (_fifoHead[level] + n - 1) % n;
        _fifo[level * n + _fifoHead[level]] = db;
        _fifoGeneration[level * n + _fifoHead[level]] = generation;
        _fifoCount[level]++;
        _waitingMask |= 1 << level;
    }

    // A level can only fill up with entries of earlier registrations (each live queue is queued at most once);
    // drop those, keeping the order of the rest.
    private void DropStale(int level)
    {
        int n = DoorbellVector.Count, count = _fifoCount[level], kept = 0;
        for (int k = 0; k < count; k++)
        {
            int i = level * n + (_fifoHead[level] + k) % n;
            int db = _fifo[i];
            uint g = _fifoGeneration[i];
            var reg = _block[db];
            if (reg.State != DoorbellState.Registered || reg.Generation != g || _memberGeneration[db] != g)
            {
                Forget(db, g);
                continue;
            }
            int j = level * n + (_fifoHead[level] + kept++) % n;
            _fifo[j] = db;
            _fifoGeneration[j] = g;
        }
        _fifoCount[level] = kept;
        if (kept == 0) _waitingMask &= ~(1 << level);
    }

    private int PopFront(int level, out uint generation)
    {
        int n = DoorbellVector.Count;
        generation = _fifoGeneration[level * n + _fifoHead[level]];
        int db = _fifo[level * n + _fifoHead[level]];
        _fifoHead[level] = (_fifoHead[level] + 1) % n;
        if (--_fifoCount[level] == 0) _waitingMask &= ~(1 << level);
        return db;
    }

    /// <summary>Device reset (native-layout.md §20.3): back to the power-on state.</summary>
    internal void Reset()
    {
        Array.Fill(_slots, -1);
        _slotted = 0;
        Array.Clear(_slotGeneration);
        Array.Clear(_slotUsed);
        Array.Clear(_fifo);
        Array.Clear(_fifoGeneration);
        Array.Clear(_fifoHead);
        Array.Clear(_fifoCount);
        Array.Clear(_member);
        Array.Clear(_memberGeneration);
        _waitingMask = 0;
        _cursor = -1;
        TimeSliceRotations = 0;
    }
}
