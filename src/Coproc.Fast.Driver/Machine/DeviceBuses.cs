using System.Collections.Concurrent;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver;

/// <summary>
/// The bus of a device stepped on the caller's thread: every register access takes effect at once. Deterministic mode's
/// bus (<see cref="Machine"/>), and the one to give driver parts built over a device you step yourself (test rigs,
/// tools); never use it on a device another thread steps (docs/embedding.md §6: one thread at a time).
/// </summary>
public sealed class DirectDeviceBus : IDeviceBus
{
    private readonly MmioRegisterFile _registers;

    /// <summary>Creates the bus over <paramref name="device"/>'s register BAR, memory and doorbell BAR.</summary>
    public DirectDeviceBus(Coprocessor device)
    {
        ArgumentNullException.ThrowIfNull(device);
        _registers = device.Mmio;
        Memory = device.Memory;
        Doorbells = device.DoorbellAperture;
    }

    /// <inheritdoc />
    public DeviceMemory Memory { get; }

    /// <inheritdoc />
    public DoorbellAperture Doorbells { get; }

    /// <inheritdoc />
    public ulong Cycle => _registers.Read64(MmioMap.DeviceBase + DeviceRegisters.Cycle);

    /// <summary>Set by <see cref="Kick"/>; the deterministic loop clears it when it steps.</summary>
    internal bool Kicked;

    /// <inheritdoc />
    public uint ReadRegister32(uint offset) => _registers.Read32(offset);

    /// <inheritdoc />
    public ulong ReadRegister(uint offset) => _registers.Read64(offset);

    /// <inheritdoc />
    public void WriteRegister(uint offset, ulong value) => _registers.Write64(offset, value);

    /// <inheritdoc />
    public void WriteRegister32(uint offset, uint value) => _registers.Write32(offset, value);

    /// <inheritdoc />
    public void Kick() => Kicked = true;
}

// Design: the device may be touched by one thread at a time (docs/embedding.md §6). Writes — the hot ones: CONTEXT_SWITCH,
// NEXT_CONTEXT, TLB invalidation, flips — are posted to a lock-free FIFO and never wait. Everything that touches the
// register file or steps the device holds _bus: the device thread while it applies the queue and steps, and a register
// read, which first applies the queue (so it sees every write posted before it, from any thread: PCI's "a read does not
// pass a posted write") and then reads. A read from another thread therefore waits for at most the device's current
// step; it never waits for the device thread to come round, so it cannot deadlock against a lock the device thread
// takes between steps (the kernel lock, in the run-list back end). _bus is a leaf lock: nothing is acquired under it.
// Deterministic mode needs none of this (DirectDeviceBus).
/// <summary>
/// Threaded mode's bus: register writes are posted to a lock-free queue the device thread applies between steps (a bus
/// transaction reaching the device); a register read applies the queue and reads under the bus lock the device thread
/// holds while it steps; the device clock is read from the value the device thread publishes.
/// </summary>
internal sealed class PostedDeviceBus(Coprocessor device) : IDeviceBus
{
    private readonly ConcurrentQueue<(uint Offset, ulong Value, bool Narrow)> _writes = new();
    private readonly MmioRegisterFile _registers = device.Mmio;
    private readonly Lock _bus = new();
    private long _cycle;
    private int _kicked;
    private int _readersWaiting;

    public DeviceMemory Memory => device.Memory;

    public DoorbellAperture Doorbells => device.DoorbellAperture;

    public ulong Cycle => (ulong)Volatile.Read(ref _cycle);

    /// <summary>The device thread's park while it waits for a driver thread (it has work; Machine.Threaded.cs).</summary>
    public ManualResetEventSlim Wake { get; } = new(false, spinCount: 200);

    /// <summary>
    /// Wakes the device thread from either wait: the park above, and its idle wait, which is the doorbell block's host
    /// wait (<see cref="DoorbellAperture.WaitForDoorbell"/>, docs/embedding.md) — a ring-3 doorbell store wakes that one
    /// by itself; posted writes, kicks and the driver threads' hand-backs raise the same line here.
    /// </summary>
    public void WakeDevice()
    {
        Wake.Set();
        device.DoorbellAperture.WakeDoorbellWaiter();
    }

    public uint ReadRegister32(uint offset)
    {
        Interlocked.Increment(ref _readersWaiting);
        lock (_bus)
        {
            Interlocked.Decrement(ref _readersWaiting);
            ApplyQueued();
            return _registers.Read32(offset);
        }
    }

    public ulong ReadRegister(uint offset)
    {
        Interlocked.Increment(ref _readersWaiting);
        lock (_bus)
        {
            Interlocked.Decrement(ref _readersWaiting);
            ApplyQueued();
            return _registers.Read64(offset);
        }
    }

    public void WriteRegister(uint offset, ulong value)
    {
        _writes.Enqueue((offset, value, false));
        Kick();
    }

    public void WriteRegister32(uint offset, uint value)
    {
        _writes.Enqueue((offset, value, true));
        Kick();
    }

    public void Kick()
    {
        Volatile.Write(ref _kicked, 1);
        WakeDevice();
    }

    /// <summary>Device thread: applies posted writes; true when anything was pending or a kick arrived.</summary>
    public bool ApplyPosted()
    {
        bool any = Interlocked.Exchange(ref _kicked, 0) != 0;
        if (_writes.IsEmpty) return any;
        lock (_bus) ApplyQueued();
        return true;
    }

    /// <summary>Device thread: applies posted writes and steps the device by <paramref name="cycles"/>, holding the bus.</summary>
    public void Step(ulong cycles)
    {
        // A reader waiting for the bus gets it before the next step (Lock does not hand over on release by itself).
        var spin = new SpinWait();
        while (Volatile.Read(ref _readersWaiting) != 0 && spin.Count < 20) spin.SpinOnce();
        lock (_bus)
        {
            ApplyQueued();
            device.Step(cycles);
        }
    }

    // Under _bus: the posted writes in FIFO order.
    private void ApplyQueued()
    {
        while (_writes.TryDequeue(out var w))
        {
            if (w.Narrow) _registers.Write32(w.Offset, (uint)w.Value);
            else _registers.Write64(w.Offset, w.Value);
        }
    }

    /// <summary>True when writes or a kick are pending (without consuming them).</summary>
    public bool ApplyPostedPeek() => Volatile.Read(ref _kicked) != 0 || !_writes.IsEmpty;

    public void Publish(ulong cycle) => Volatile.Write(ref _cycle, (long)cycle);
}
