using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Device.Rings;
using Coproc.Fast.Device.Scheduling;

namespace Coproc.Fast.Workloads;

/// <summary>
/// The device side of the ring-3 benchmarks: a thread that services the scheduling core and, as a stand-in for the
/// command processor, walks each runnable queue's packet headers from ReadPtr to WritePtr and writes ReadPtr back.
/// Spins briefly when idle, then parks on the doorbell interrupt line (PERFORMANCE.md: waking costs ~40 µs).
/// </summary>
internal sealed unsafe class Ring3DeviceThread : IDisposable
{
    private readonly Coprocessor _device;
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _consumed;

    public Ring3DeviceThread(Coprocessor device)
    {
        _device = device;
        _thread = new Thread(Run) { IsBackground = true, Name = "device" };
        _thread.Start();
    }

    /// <summary>Packets consumed so far.</summary>
    public long Consumed => Volatile.Read(ref _consumed);

    private void Run()
    {
        var core = _device.SchedulingCore;
        var line = _device.DoorbellBlock.Interrupt;
        var memory = _device.Memory;
        while (!_stop)
        {
            core.Service(_device.Cycle);
            bool worked = false;
            while (core.TryGetNext(EngineKind.Render, out var q))
            {
                Consume(memory, core, q);
                worked = true;
            }
            if (!worked) line.Wait(spinIterations: 20_000, parkMilliseconds: 50);
        }
    }

    private void Consume(DeviceMemory memory, SchedulingCore core, in RunnableQueue q)
    {
        var d = (RingDescriptor*)memory.TryPointer(q.Descriptor.Location, q.Descriptor.Offset, RingDescriptor.SizeInBytes);
        PhysicalAddress.TryDecode(d->Base, out var b);
        byte* ring = memory.TryPointer(b.Location, b.Offset, d->SizeBytes);
        uint mask = d->SizeBytes - 1;
        ulong read = Volatile.Read(ref d->ReadPtr), write = Volatile.Read(ref d->WritePtr);
        long n = 0;
        while (read != write)
        {
            var h = new PacketHeader(*(uint*)(ring + ((uint)read & mask)));
            int len = h.LengthDwords;
            if (len == 0)
            {
                core.FaultQueue(q.Doorbell, QueueFaultReason.MalformedPacket, read);
                return;
            }
            read += (ulong)len * 4;
            n++;
        }
        Volatile.Write(ref d->ReadPtr, read);
        Volatile.Write(ref _consumed, _consumed + n);
        core.Report(q, (ulong)n, drained: read == Volatile.Read(ref d->WritePtr));
    }

    public void Dispose()
    {
        _stop = true;
        _device.DoorbellBlock.Interrupt.Kick();
        _thread.Join();
    }
}
