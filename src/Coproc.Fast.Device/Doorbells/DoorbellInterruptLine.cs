using System.Runtime.CompilerServices;

namespace Coproc.Fast.Device.Doorbells;

// Design: the doorbell block's interrupt to the scheduling core (seed 003: "the doorbell block … interrupts the
// scheduling core"). The pending condition is the doorbell vector's summary word itself, so raising costs nothing
// beyond the ring's own stores unless the servicing thread is parked. Parking is an asymmetric Dekker pair: a ringer
// stores the summary (a plain release store, no fence: ringing is the hot path) and then reads _parked; the parker
// publishes _parked with an atomic exchange, then runs the process-wide memory barrier (Interlocked.
// MemoryBarrierProcessWide: every other thread executes a full fence during it), then re-reads the summary. A ringer
// whose summary store precedes its fence in that barrier has it visible to the re-read; one whose fence comes first
// reads _parked after the exchange and wakes the parker. Either way a ring never sleeps unseen; the barrier's cost
// (microseconds) is paid only on parking, which already costs a wake-up.
// Waking a parked thread costs ~40 µs on a 2-vCPU machine (docs/performance.md), hence spin first, park after.
/// <summary>
/// The scheduling core's interrupt line in threaded mode: rings raise it; the thread that runs the device
/// spins briefly, then parks on it. In deterministic mode nobody parks and <see cref="Raise"/> is one load.
/// </summary>
internal sealed class DoorbellInterruptLine : IDisposable
{
    private readonly DoorbellVector _vector;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 1);
    private int _parked;
    private int _kicked;

    internal DoorbellInterruptLine(DoorbellVector vector) => _vector = vector;

    /// <summary>True when a doorbell is pending or <see cref="Kick"/> was called since the last wait.</summary>
    public bool IsRaised => _vector.AnyPending || Volatile.Read(ref _kicked) != 0;

    /// <summary>Called after a ring has set its bit: wakes the servicing thread if it is parked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Raise()
    {
        if (Volatile.Read(ref _parked) != 0) WakeSlow();
    }

    /// <summary>Raises the line without a doorbell (e.g. to make the device thread re-check a stop request).</summary>
    public void Kick()
    {
        Volatile.Write(ref _kicked, 1);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _parked) != 0) WakeSlow();
    }

    /// <summary>
    /// Waits until the line is raised: up to <paramref name="spinIterations"/> spins, then parks for at most
    /// <paramref name="parkMilliseconds"/> (-1 = until raised). Returns true when the line is raised.
    /// </summary>
    public bool Wait(int spinIterations, int parkMilliseconds = -1)
    {
        for (int i = 0; i < spinIterations; i++)
        {
            if (IsRaised) return Consume();
            Thread.SpinWait(8);
        }
        Interlocked.Exchange(ref _parked, 1);
        Interlocked.MemoryBarrierProcessWide(); // pairs with the ringers' unfenced summary store (see the design note)
        if (!IsRaised) _wake.Wait(parkMilliseconds);
        Volatile.Write(ref _parked, 0);
        _wake.Reset();
        return IsRaised && Consume();
    }

    private bool Consume()
    {
        Volatile.Write(ref _kicked, 0);
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WakeSlow() => _wake.Set();

    /// <summary>Releases the wait handle.</summary>
    public void Dispose() => _wake.Dispose();
}
