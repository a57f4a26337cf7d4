using System.Runtime.InteropServices;

namespace Coproc.Fast.Workloads;

/// <summary>
/// Baseline: a plain hand-written single-producer/single-consumer ring of 64-byte slots over native memory, head
/// and tail on their own cache lines, each side caching the other's index — the physical limit the ring-3 path is
/// measured against (docs/performance.md goal 1). Its consumer thread busy-spins (yielding after a while). Everything the
/// consumer touches lives in native memory on cache lines of its own (tail, head, consumed count, stop flag) and it
/// keeps the slot pointer and mask in locals: an earlier version read <c>_stop</c>/<c>_mask</c> and wrote a
/// <c>_consumed</c> field in this object, on the line holding the producer's <c>_tail</c>, so every batch bounced that
/// line between the cores (false sharing, unfair to the baseline). Head doubles as the consumed count.
/// </summary>
internal sealed unsafe class SpscRing64 : IDisposable
{
    private readonly byte* _slots;
    private readonly long* _indices; // [0] = tail (producer), [16] = head (consumer; also the consumed count), [48] = stop: 128+ bytes apart
    private readonly int _mask;
    private long _tail, _cachedHead;
    private readonly Thread _consumer;

    public SpscRing64(int capacity)
    {
        _slots = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * 64), 4096);
        _indices = (long*)NativeMemory.AlignedAlloc(512, 128);
        NativeMemory.Clear(_indices, 512);
        _mask = capacity - 1;
        _consumer = new Thread(Consume) { IsBackground = true, Name = "spsc-consumer" };
        _consumer.Start();
    }

    public long Consumed => Volatile.Read(ref _indices[16]);

    /// <summary>Writes one 64-byte message without publishing; false when full.</summary>
    public bool TryWrite(ReadOnlySpan<byte> message)
    {
        if (_tail - _cachedHead > _mask)
        {
            _cachedHead = Volatile.Read(ref _indices[16]);
            if (_tail - _cachedHead > _mask) return false;
        }
        message.CopyTo(new Span<byte>(_slots + ((_tail & _mask) << 6), 64));
        _tail++;
        return true;
    }

    public void Publish() => Volatile.Write(ref _indices[0], _tail);

    private void Consume()
    {
        long* indices = _indices;
        byte* slots = _slots;
        long mask = _mask;
        long head = 0;
        int idle = 0;
        while (Volatile.Read(ref indices[48]) == 0)
        {
            long tail = Volatile.Read(ref indices[0]);
            if (tail == head)
            {
                if (++idle > 20_000) Thread.Yield();
                else Thread.SpinWait(1);
                continue;
            }
            idle = 0;
            uint sum = 0;
            for (; head != tail; head++) sum += *(uint*)(slots + ((head & mask) << 6)); // read each header, as the device does
            Volatile.Write(ref indices[16], head + (sum & 0)); // one store per batch; (sum & 0) keeps the reads
        }
    }

    public void Dispose()
    {
        Volatile.Write(ref _indices[48], 1);
        _consumer.Join();
        NativeMemory.AlignedFree(_slots);
        NativeMemory.AlignedFree(_indices);
    }
}
