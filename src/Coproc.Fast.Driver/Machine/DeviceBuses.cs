using System.Collections.Concurrent;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Driver;

/// <summary>Deterministic mode's bus: MMIO writes take effect at once (same thread as the device).</summary>
internal sealed class DirectDeviceBus(Coprocessor device) : IDeviceBus
{
    public DeviceMemory Memory => device.Memory;

    public ulong Cycle => device.Mmio.Read64(MmioMap.DeviceBase + DeviceRegisters.Cycle);

    public bool Kicked;

    public void WriteRegister(uint offset, ulong value) => device.Mmio.Write64(offset, value);

    public void WriteRegister32(uint offset, uint value) => device.Mmio.Write32(offset, value);

    public void Kick() => Kicked = true;
}

/// <summary>
/// Threaded mode's bus: register writes are posted to a lock-free queue the device thread applies between steps
/// (a bus transaction reaching the device), and the device clock is read from the value the device thread publishes.
/// </summary>
internal sealed class PostedDeviceBus(Coprocessor device) : IDeviceBus
{
    private readonly ConcurrentQueue<(uint Offset, ulong Value, bool Narrow)> _writes = new();
    private long _cycle;
    private int _kicked;

    public DeviceMemory Memory => device.Memory;

    public ulong Cycle => (ulong)Volatile.Read(ref _cycle);

    public ManualResetEventSlim Wake { get; } = new(false, spinCount: 200);

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
        Wake.Set();
    }

    /// <summary>Device thread: applies posted writes; true when anything was pending or a kick arrived.</summary>
    public bool ApplyPosted()
    {
        bool any = Interlocked.Exchange(ref _kicked, 0) != 0;
        while (_writes.TryDequeue(out var w))
        {
            if (w.Narrow) device.Mmio.Write32(w.Offset, (uint)w.Value);
            else device.Mmio.Write64(w.Offset, w.Value);
            any = true;
        }
        return any;
    }

    /// <summary>True when writes or a kick are pending (without consuming them).</summary>
    public bool ApplyPostedPeek() => Volatile.Read(ref _kicked) != 0 || !_writes.IsEmpty;

    public void Publish(ulong cycle) => Volatile.Write(ref _cycle, (long)cycle);
}
