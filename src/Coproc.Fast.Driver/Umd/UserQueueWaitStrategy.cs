namespace Coproc.Fast.Driver.Umd;

/// <summary>
/// How <see cref="UserQueue.Submit"/> waits for space when the queue is full: spin, then yield, then block
/// (STYLE.md: Disruptor's pluggable wait strategies). The device raises no "space available" interrupt for a user
/// queue, so the block phase sleeps <see cref="BlockMilliseconds"/> between checks of ReadPtr.
/// </summary>
/// <param name="SpinIterations">Checks separated by a short busy spin (~a cross-core hand-off each).</param>
/// <param name="YieldIterations">Checks separated by <see cref="Thread.Yield"/>.</param>
/// <param name="BlockMilliseconds">Sleep between checks once spinning and yielding are exhausted (≥ 1).</param>
/// <param name="Timeout">Give up with <see cref="UserQueueFullException"/> after this long; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> = never.</param>
public readonly record struct UserQueueWaitStrategy(int SpinIterations, int YieldIterations, int BlockMilliseconds, TimeSpan Timeout)
{
    /// <summary>1,000 spins, 100 yields, then 1 ms sleeps, no timeout.</summary>
    public static UserQueueWaitStrategy Default => new(1000, 100, 1, System.Threading.Timeout.InfiniteTimeSpan);

    /// <summary>Busy spin only (lowest latency; burns its core), no timeout.</summary>
    public static UserQueueWaitStrategy BusySpin => new(int.MaxValue, 0, 1, System.Threading.Timeout.InfiniteTimeSpan);
}

/// <summary>A blocking submit found the user queue full for longer than its wait strategy's timeout.</summary>
public sealed class UserQueueFullException : Exception
{
    /// <summary>Creates the exception.</summary>
    public UserQueueFullException(int doorbell, int packetBytes, ulong freeBytes, TimeSpan waited)
        : base($"user queue of doorbell {doorbell} stayed full for {waited.TotalMilliseconds:F0} ms: {packetBytes} bytes needed, {freeBytes} free")
    {
        Doorbell = doorbell;
        PacketBytes = packetBytes;
        FreeBytes = freeBytes;
    }

    /// <summary>The queue's doorbell.</summary>
    public int Doorbell { get; }

    /// <summary>Bytes the packet (plus any end-of-ring padding) needed.</summary>
    public int PacketBytes { get; }

    /// <summary>Free bytes at the time of giving up.</summary>
    public ulong FreeBytes { get; }
}
