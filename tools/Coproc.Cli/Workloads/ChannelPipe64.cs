using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Coproc.Fast.Workloads;

/// <summary>One 64-byte message, the size of a ring-3 packet in the comparisons.</summary>
[InlineArray(16)]
internal struct Payload64
{
    private uint _element;
}

/// <summary>
/// Peer of the ring-3 queue in docs/performance.md goal 1: a bounded <see cref="Channel{T}"/> (single reader and writer,
/// wait when full) of 64-byte structs with a consumer thread that spins briefly, then waits asynchronously.
/// </summary>
internal sealed class ChannelPipe64 : IDisposable
{
    private readonly Channel<Payload64> _channel;
    private readonly Thread _consumer;
    private long _consumed;

    public ChannelPipe64(int capacity)
    {
        _channel = Channel.CreateBounded<Payload64>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        _consumer = new Thread(Consume) { IsBackground = true, Name = "channel-consumer" };
        _consumer.Start();
    }

    public ChannelWriter<Payload64> Writer => _channel.Writer;

    /// <summary>Messages consumed so far.</summary>
    public long Consumed => Volatile.Read(ref _consumed);

    private void Consume()
    {
        var r = _channel.Reader;
        int idle = 0;
        while (true)
        {
            if (r.TryRead(out var item))
            {
                Volatile.Write(ref _consumed, _consumed + 1 + (item[0] & 0)); // keep the read
                idle = 0;
                continue;
            }
            if (++idle < 20_000) Thread.SpinWait(1);
            else if (!r.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) return;
        }
    }

    public void Dispose()
    {
        _channel.Writer.TryComplete();
        _consumer.Join();
    }
}
