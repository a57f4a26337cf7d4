using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 1: ring-3 submissions of 64-byte packets (one 16-dword NOP each) into a user
/// queue, doorbell per packet and per 64, consumed by a device thread running the real device path (<c>Coprocessor.Step</c>:
/// scheduling core + the render engine's command processor decoding and executing each packet),
/// against a hand-written SPSC ring, a bounded single-reader/writer Channel and a ConcurrentQueue moving the same
/// 64-byte payloads. Every method moves <see cref="Messages"/> messages and waits until all are consumed.
/// </summary>
[MemoryDiagnoser]
public class Ring3SubmissionBenchmarks
{
    /// <summary>Messages per invocation.</summary>
    public const int Messages = 1 << 16;

    private const int Capacity = Ring3QueueWorkload.Capacity; // 4096 × 64 B = 256 KiB for every queue
    private Ring3QueueWorkload? _ring3;
    private UserQueue _queue = null!;
    private SpscRing64? _spsc;
    private ChannelPipe64? _channel;
    private ConcurrentQueue<Payload64> _cq = null!;
    private Thread? _cqConsumer;
    private long _cqConsumed;
    private volatile bool _stop;
    private readonly uint[] _packet = new uint[16];
    private long _sent;

    // Each benchmark starts only its own consumer thread: on a 2-core machine an idle spinning consumer of another
    // queue would steal the core the measured consumer needs.
    [GlobalSetup(Targets = [nameof(Ring3_DoorbellPerPacket), nameof(Ring3_DoorbellPer64)])]
    public void SetupRing3()
    {
        _ring3 = new Ring3QueueWorkload(); // shared with `coproc bench`
        _queue = _ring3.Queue;
        MakePacket();
    }

    [GlobalSetup(Targets = [nameof(Spsc_PublishPerMessage), nameof(Spsc_PublishPer64)])]
    public void SetupSpsc()
    {
        _spsc = new SpscRing64(Capacity);
        MakePacket();
    }

    [GlobalSetup(Target = nameof(Channels_BoundedSpsc))]
    public void SetupChannels()
    {
        _channel = new ChannelPipe64(Capacity); // shared with `coproc bench`
        MakePacket();
    }

    [GlobalSetup(Target = nameof(ConcurrentQueue_64B))]
    public void SetupConcurrentQueue()
    {
        _cq = new ConcurrentQueue<Payload64>();
        _cqConsumer = new Thread(ConsumeConcurrentQueue) { IsBackground = true };
        _cqConsumer.Start();
        MakePacket();
    }

    private void MakePacket()
    {
        _packet[0] = PacketHeader.Make(Opcode.Nop, 16);
        for (int i = 1; i < 16; i++) _packet[i] = (uint)i;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _ring3?.Dispose();
        _spsc?.Dispose();
        _channel?.Dispose();
        _cqConsumer?.Join();
    }

    /// <summary>Baseline: plain SPSC ring, publish per message.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Messages)]
    public void Spsc_PublishPerMessage()
    {
        var msg = MemoryMarshal.AsBytes(_packet.AsSpan());
        for (int i = 0; i < Messages; i++)
        {
            while (!_spsc!.TryWrite(msg)) Thread.SpinWait(1);
            _spsc!.Publish();
        }
        _sent += Messages;
        while (_spsc!.Consumed < _sent) Thread.SpinWait(1);
    }

    /// <summary>Plain SPSC ring, publish per 64 messages.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public void Spsc_PublishPer64()
    {
        var msg = MemoryMarshal.AsBytes(_packet.AsSpan());
        for (int i = 0; i < Messages; i += 64)
        {
            for (int k = 0; k < 64; k++)
                while (!_spsc!.TryWrite(msg))
                {
                    _spsc!.Publish();
                    Thread.SpinWait(1);
                }
            _spsc!.Publish();
        }
        _sent += Messages;
        while (_spsc!.Consumed < _sent) Thread.SpinWait(1);
    }

    /// <summary>Ring 3: user queue write + WritePtr publish + doorbell per packet.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public void Ring3_DoorbellPerPacket()
    {
        var q = _queue;
        ReadOnlySpan<uint> p = _packet;
        for (int i = 0; i < Messages; i++)
            while (!q.TrySubmit(p)) Thread.SpinWait(1);
        WaitForDevice();
    }

    /// <summary>Ring 3: 64 packets written, then one publish and one doorbell.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public void Ring3_DoorbellPer64()
    {
        var q = _queue;
        ReadOnlySpan<uint> p = _packet;
        for (int i = 0; i < Messages; i += 64)
        {
            for (int k = 0; k < 64; k++)
                while (!q.TryWrite(p))
                {
                    q.Flush();
                    Thread.SpinWait(1);
                }
            q.Flush();
        }
        WaitForDevice();
    }

    /// <summary>System.Threading.Channels, bounded, single reader and writer.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public void Channels_BoundedSpsc()
    {
        var w = _channel!.Writer;
        Payload64 item = default;
        MemoryMarshal.Cast<uint, byte>(_packet).CopyTo(MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref item[0], 16)));
        for (int i = 0; i < Messages; i++)
            while (!w.TryWrite(item)) Thread.SpinWait(1);
        _channelSent += Messages;
        while (_channel.Consumed < _channelSent) Thread.SpinWait(1);
    }

    /// <summary>ConcurrentQueue of 64-byte structs.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public void ConcurrentQueue_64B()
    {
        var cq = _cq; // a local: the consumer writes _cqConsumed in this object on every item
        Payload64 item = default;
        item[0] = _packet[0];
        for (int i = 0; i < Messages; i++) cq.Enqueue(item);
        _cqTarget += Messages;
        while (Volatile.Read(ref _cqConsumed) < _cqTarget) Thread.SpinWait(1);
    }

    private long _cqTarget;
    private long _channelSent;

    private void WaitForDevice()
    {
        ulong target = _queue.WritePosition;
        while (_queue.DeviceReadPtr != target) Thread.SpinWait(1);
    }

    private void ConsumeConcurrentQueue()
    {
        int idle = 0;
        while (!_stop)
        {
            if (_cq.TryDequeue(out var item))
            {
                Volatile.Write(ref _cqConsumed, _cqConsumed + 1 + (item[0] & 0));
                idle = 0;
                continue;
            }
            if (++idle < 20_000) Thread.SpinWait(1);
            else Thread.Yield();
        }
    }
}
