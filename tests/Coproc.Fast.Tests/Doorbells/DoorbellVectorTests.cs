using Coproc.Fast.Device.Doorbells;

namespace Coproc.Fast.Tests.Doorbells;

public class DoorbellVectorTests
{
    [Test]
    public void Snapshot_ReturnsExactlyTheRungDoorbells_AndClearsThem()
    {
        var v = new DoorbellVector();
        int[] rung = [0, 63, 64, 130, 255];
        foreach (int d in rung) Assert.That(v.Ring(d), Is.True);
        Assert.That(v.PeekSummary(), Is.EqualTo(0b1111UL));
        var s = v.SnapshotAndClear();
        var got = new List<int>();
        while (s.NextSet(out int d)) got.Add(d);
        Assert.That(got, Is.EqualTo(rung));
        Assert.That(v.AnyPending, Is.False);
        Assert.That(v.SnapshotAndClear().IsEmpty, Is.True);
    }

    [Test]
    public void SecondRingBeforeTheSnapshot_IsCoalesced_IntoOneBit()
    {
        var v = new DoorbellVector();
        Assert.That(v.Ring(5), Is.True);
        Assert.That(v.Ring(5), Is.False);
        var s = v.SnapshotAndClear();
        Assert.That(s.Count, Is.EqualTo(1));
        Assert.That(v.Ring(5), Is.True, "after the snapshot the next ring is new again");
    }

    [Test]
    public void RingsRacingTheSnapshot_AreNeverLost_EachSeenAtMostOncePerRing()
    {
        // Given 4 ringing threads over 64 doorbells each (one per vector word) and one snapshotting thread.
        // Each ring publishes a per-doorbell sequence number first (as a producer publishes WritePtr), then rings.
        const int Rings = 3000, PerThread = 64, Threads = 4;
        var v = new DoorbellVector();
        var published = new long[DoorbellVector.Count];
        var observed = new long[DoorbellVector.Count];
        var appearances = new long[DoorbellVector.Count];
        int finished = 0;
        var ringers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            for (int k = 1; k <= Rings; k++)
            {
                int d = t * PerThread + (k * 7) % PerThread;
                Interlocked.Increment(ref published[d]);
                v.Ring(d);
            }
            Interlocked.Increment(ref finished);
        })).ToArray();

        void Collect()
        {
            var s = v.SnapshotAndClear();
            while (s.NextSet(out int d))
            {
                appearances[d]++;
                long p = Volatile.Read(ref published[d]);
                Assert.That(p, Is.GreaterThanOrEqualTo(observed[d]));
                observed[d] = p;
            }
        }

        foreach (var t in ringers) t.Start();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref finished) < Threads)
        {
            Collect();
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "ringers did not finish: a failure, not a pass");
        }
        foreach (var t in ringers) t.Join();
        Collect(); // the rings after the last in-flight snapshot

        // Then every doorbell's last publish was observed (no ring lost) and no doorbell appeared more often than rung.
        for (int d = 0; d < DoorbellVector.Count; d++)
        {
            Assert.That(observed[d], Is.EqualTo(published[d]), $"doorbell {d}: a ring was lost");
            Assert.That(appearances[d], Is.LessThanOrEqualTo(published[d]), $"doorbell {d}: seen more often than rung");
        }
        Assert.That(v.AnyPending, Is.False);
    }

    [Test]
    public void LockstepRingAndSnapshot_SeesEveryRingExactlyOnce()
    {
        // A ringer waits until each ring has been taken before ringing again: no coalescing is possible, so every
        // ring must appear in exactly one snapshot. A lost ring would stall the ringer (bounded: fails by timeout).
        const int Rings = 2000;
        var v = new DoorbellVector();
        long taken = 0;
        var ringer = new Thread(() =>
        {
            for (int k = 0; k < Rings; k++)
            {
                v.Ring(200);
                var spin = new SpinWait();
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (Volatile.Read(ref taken) <= k && DateTime.UtcNow < deadline) spin.SpinOnce(sleep1Threshold: -1);
            }
        });
        ringer.Start();
        var end = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref taken) < Rings && DateTime.UtcNow < end)
        {
            var s = v.SnapshotAndClear();
            if (s.Contains(200)) Interlocked.Increment(ref taken);
        }
        Assert.That(ringer.Join(TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(taken, Is.EqualTo(Rings));
        Assert.That(v.AnyPending, Is.False);
    }
}
