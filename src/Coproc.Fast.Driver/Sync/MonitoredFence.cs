using System.Diagnostics;
using System.Runtime.CompilerServices;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Driver.Sync;

// Design: a monitored fence (seed 004) is a 64-bit, only-increasing value in device-visible memory. The device
// writes it (FENCE packets) and then interrupts; the CPU writes it with Signal. Waiters first spin on the value,
// then block in a heap ordered by target value, so a signal wakes exactly those whose target it reached.
// Lost-wake-up argument (a Dekker pair): Signal stores the value with a CAS (a full fence) and then reads
// _waiterCount; a blocking waiter increments _waiterCount with Interlocked (a full fence) after pushing itself and
// then re-reads the value. Either the signaller sees the waiter (and pops it under the lock) or the waiter sees the
// value (and releases itself through the same locked path). Values compare wrap-safely (FenceValue).
/// <summary>
/// A monitored fence: a 64-bit increasing value at a physical address in device memory, signalled by the CPU
/// (<see cref="Signal"/>) or by the device (then <see cref="NotifySignaled"/> from the fence interrupt), waited on by
/// the CPU (<see cref="Wait"/>: spin, then block, with timeout) or checked without blocking (<see cref="IsSignaled"/>)
/// in deterministic runs.
/// </summary>
public sealed unsafe class MonitoredFence
{
    /// <summary>Default spin iterations before a wait blocks.</summary>
    public const int DefaultSpinIterations = 200;

    private readonly ulong* _value;
    private readonly Lock _lock = new();
    private readonly MonitoredFenceWaiters _waiters = new();
    private readonly Stack<MonitoredFenceWaiter> _pool = new();
    private int _waiterCount;

    /// <summary>Creates a fence over the 8 bytes at <paramref name="address"/> (8-byte aligned), leaving its value as found.</summary>
    /// <exception cref="ArgumentException">Misaligned address.</exception>
    /// <exception cref="PhysicalAccessFaultException">The address is outside memory.</exception>
    public MonitoredFence(DeviceMemory memory, PhysicalAddress address)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if ((address.Offset & 7) != 0) throw new ArgumentException($"a monitored fence must be 8-byte aligned; {address} is not", nameof(address));
        _value = (ulong*)memory.TryPointer(address.Location, address.Offset, 8);
        if (_value == null) throw new PhysicalAccessFaultException(address, 8, memory.SizeOf(address.Location));
        Address = address;
    }

    /// <summary>Where the value lives.</summary>
    public PhysicalAddress Address { get; }

    /// <summary>The current value (acquire load).</summary>
    public ulong CurrentValue
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref *_value);
    }

    /// <summary>CPU waiters currently blocked.</summary>
    public int BlockedWaiters => Volatile.Read(ref _waiterCount);

    /// <summary>True when the fence has reached <paramref name="target"/> (non-blocking; deterministic mode).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsSignaled(ulong target) => FenceValue.IsReached(CurrentValue, target);

    /// <summary>Non-blocking wait: true and the current value when <paramref name="target"/> is reached.</summary>
    public bool TryWait(ulong target, out ulong current)
    {
        current = CurrentValue;
        return FenceValue.IsReached(current, target);
    }

    /// <summary>
    /// CPU signal: raises the value to <paramref name="value"/> (a lower or equal value leaves it unchanged — fences only
    /// increase) and wakes the waiters it satisfies. Returns the number of waiters woken.
    /// </summary>
    public int Signal(ulong value)
    {
        ulong cur = Volatile.Read(ref *_value);
        while (FenceValue.Precedes(cur, value))
        {
            ulong seen = Interlocked.CompareExchange(ref *_value, value, cur);
            if (seen == cur) break;
            cur = seen;
        }
        return NotifySignaled();
    }

    /// <summary>
    /// Wakes the blocked waiters whose targets the value in memory has reached (call it after the device wrote the
    /// fence, i.e. from the fence interrupt). Returns the number woken.
    /// </summary>
    public int NotifySignaled()
    {
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _waiterCount) == 0) return 0;
        int woken = 0;
        lock (_lock)
        {
            ulong current = CurrentValue;
            while (_waiters.TryPopReached(current, out var w))
            {
                Interlocked.Decrement(ref _waiterCount);
                lock (w)
                {
                    w.Released = true;
                    Monitor.Pulse(w);
                }
                woken++;
            }
        }
        return woken;
    }

    /// <summary>
    /// Waits on the CPU until the fence reaches <paramref name="target"/>: spins <paramref name="spinIterations"/> times,
    /// then blocks. Returns false when <paramref name="timeout"/> passes first (<see cref="Timeout.InfiniteTimeSpan"/> = no limit).
    /// </summary>
    public bool Wait(ulong target, TimeSpan timeout, int spinIterations = DefaultSpinIterations)
    {
        for (int i = 0; i < spinIterations; i++)
        {
            if (IsSignaled(target)) return true;
            Thread.SpinWait(16);
        }
        return IsSignaled(target) || WaitBlocking(target, timeout);
    }

    private bool WaitBlocking(ulong target, TimeSpan timeout)
    {
        MonitoredFenceWaiter w;
        lock (_lock)
        {
            w = _pool.Count > 0 ? _pool.Pop() : new MonitoredFenceWaiter();
            w.Target = target;
            w.Released = false;
            _waiters.Push(w);
            Interlocked.Increment(ref _waiterCount);
        }
        if (IsSignaled(target)) NotifySignaled(); // the Dekker re-check: a signal may have missed us

        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        bool released;
        lock (w)
        {
            while (!w.Released)
            {
                long left = deadline == long.MaxValue ? -1 : deadline - Stopwatch.GetTimestamp();
                if (left != -1 && left <= 0) break;
                int ms = left == -1 ? Timeout.Infinite : (int)Math.Min(int.MaxValue, Math.Max(1, left * 1000 / Stopwatch.Frequency));
                Monitor.Wait(w, ms);
            }
            released = w.Released;
        }
        lock (_lock)
        {
            if (!released && !w.Released)
            {
                _waiters.Remove(w);
                Interlocked.Decrement(ref _waiterCount);
            }
            released |= w.Released;
            _pool.Push(w);
        }
        return released;
    }
}
