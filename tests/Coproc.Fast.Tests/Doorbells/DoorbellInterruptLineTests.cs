using Coproc.Fast.Device.Doorbells;

namespace Coproc.Fast.Tests.Doorbells;

/// <summary>
/// The scheduling core's interrupt line (seed 003: the doorbell block "interrupts the scheduling core"): a ring, which
/// stores without a fence, must never leave a parked servicing thread asleep (the asymmetric Dekker pair of
/// DoorbellInterruptLine: the parker runs the process-wide barrier).
/// </summary>
public class DoorbellInterruptLineTests
{
    [Test]
    public void GivenAServicingThreadThatAlwaysParksWithoutTimeout_WhenEachRingWaitsForTheLastToBeTaken_ThenEveryRingWakesIt()
    {
        const int Rings = 500;
        var vector = new DoorbellVector();
        using var line = new DoorbellInterruptLine(vector);
        long taken = 0;
        bool stop = false;
        var servicer = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                line.Wait(spinIterations: 0, parkMilliseconds: -1); // no spin: every wait parks unless already raised
                if (vector.SnapshotAndClear().Contains(7)) Interlocked.Increment(ref taken);
            }
        }) { IsBackground = true };
        servicer.Start();
        var deadline = DateTime.UtcNow.AddSeconds(30); // failure guard only: a lost wake-up stalls the ringer
        for (int k = 0; k < Rings && DateTime.UtcNow < deadline; k++)
        {
            vector.Mark(7);
            line.Raise();
            while (Volatile.Read(ref taken) <= k && DateTime.UtcNow < deadline) Thread.Yield();
        }
        long result = Volatile.Read(ref taken);
        Volatile.Write(ref stop, true);
        line.Kick();
        Assert.That(servicer.Join(TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(result, Is.EqualTo(Rings), "a ring left the parked servicing thread asleep");
    }
}
