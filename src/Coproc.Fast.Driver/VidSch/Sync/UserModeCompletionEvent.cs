namespace Coproc.Fast.Driver.VidSch.Sync;

/// <summary>
/// A CPU synchronization event a process passes with a submission to be told when the coprocessor finished it (seed
/// 001 §10.4): the scheduler signals it when it processes the buffer's user-mode notification, i.e. after the
/// buffer's trailing scheduler fence was written and its interrupt serviced — never before. A buffer that fails (its
/// context reset) signals it too, so no CPU waiter hangs; the status says which. Manual reset; waits spin, then block,
/// with a timeout.
/// </summary>
public sealed class UserModeCompletionEvent : IDisposable
{
    private readonly ManualResetEventSlim _event = new(false, spinCount: 200);
    private long _signals;

    /// <summary>True once signalled (and not reset since).</summary>
    public bool IsSignaled => _event.IsSet;

    /// <summary>How many times the scheduler signalled it.</summary>
    public long SignalCount => Interlocked.Read(ref _signals);

    /// <summary>The scheduler-fence value read by the walk that signalled it last (0 before).</summary>
    public ulong SignaledAtFence { get; private set; }

    /// <summary>The device cycle at which it was signalled last (0 before).</summary>
    public ulong SignaledAtCycle { get; private set; }

    /// <summary>Waits (spin, then block) until signalled or <paramref name="timeout"/> passes; true when signalled.</summary>
    public bool Wait(TimeSpan timeout) => _event.Wait(timeout);

    /// <summary>Makes it unsignalled again (for reuse with another submission).</summary>
    public void Reset() => _event.Reset();

    internal void Signal(ulong fence, ulong cycle)
    {
        SignaledAtFence = fence;
        SignaledAtCycle = cycle;
        Interlocked.Increment(ref _signals);
        _event.Set();
    }

    /// <summary>Frees the wait handle.</summary>
    public void Dispose() => _event.Dispose();
}
