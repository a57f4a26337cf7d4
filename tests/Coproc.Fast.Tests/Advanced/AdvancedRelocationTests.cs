using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.Advanced;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>Seed 001 §4.1: the kernel inserts into a non-running context's ring and fixes up its ring location.</summary>
public class AdvancedRelocationTests
{
    [Test]
    public void RingOfANonRunningContext_IsMovedWithItsQueuedWork_WhichThenRunsFromTheNewPlace()
    {
        // Given a context whose ring holds queued work the device has not seen yet (it is in no run list).
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p);
        var b = rig.Scheduler.CreateContext(p);
        var surface = p.AllocatePinned(4096);
        var first = rig.Submit(a, (ref PacketWriter w) => w.WriteData(surface.Va, 0xA1));
        var oldRing = a.Hw.Ring;
        var oldBytes = rig.Machine.VidMm.Memory.GetSpan(oldRing, (int)a.Hw.WritePtr).ToArray(); // the queued entry
        Assert.That(rig.Scheduler.IsOffDevice(a), Is.True);

        // When the kernel moves the ring and then appends more work to the (still non-running) context.
        Assert.That(rig.Scheduler.TryRelocateRing(a), Is.True);
        var second = rig.Submit(a, (ref PacketWriter w) => w.WriteData(surface.Va + 4, 0xA2));

        // Then the descriptor names the new place, which holds the old bytes, and both buffers run from it.
        Assert.That(a.Hw.Ring, Is.Not.EqualTo(oldRing));
        Assert.That(rig.Machine.VidMm.Memory.GetSpan(a.Hw.Ring, oldBytes.Length).ToArray(), Is.EqualTo(oldBytes));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(first.IsComplete && second.IsComplete, Is.True);
        Assert.That((rig.Read32(surface, 0), rig.Read32(surface, 4)), Is.EqualTo((0xA1u, 0xA2u)));
        Assert.That(rig.Scheduler.RingsRelocated, Is.EqualTo(1));

        // And a context the device holds (the engine stays on the last context that went empty) is refused, unchanged.
        var heldBy = rig.Scheduler.IsOffDevice(a) ? b : a;
        var before = heldBy.Hw.Ring;
        if (heldBy == b)
        {
            rig.Submit(b, (ref PacketWriter w) => w.WriteData(surface.Va + 8, 0xB1));
            Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        }
        Assert.That(rig.Scheduler.IsOffDevice(heldBy), Is.False);
        Assert.That(rig.Scheduler.TryRelocateRing(heldBy), Is.False);
        Assert.That(heldBy.Hw.Ring, Is.EqualTo(before));
    }

    [Test]
    public void RelocatedRing_OfAContextSwitchedAway_KeepsWorking_AcrossManyMoves()
    {
        // Given two contexts taking turns, so each is regularly switched away with its ring part-consumed.
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p);
        var b = rig.Scheduler.CreateContext(p);
        var log = p.AllocatePinned(4096);
        int moved = 0;
        for (uint i = 0; i < 200; i++)
        {
            // When the kernel moves A's ring whenever the device does not hold A.
            var ctx = i % 2 == 0 ? a : b;
            rig.Submit(ctx, (ref PacketWriter w) => w.WriteData(log.Va + (i % 2) * 4, i));
            if (i % 10 == 0)
            {
                Assert.That(rig.Machine.RunUntilIdle(), Is.True);
                if (rig.Scheduler.TryRelocateRing(a)) moved++;
            }
        }
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then every buffer completed in order on both contexts, across many moves.
        Assert.That(moved, Is.GreaterThan(5));
        Assert.That((rig.Read32(log, 0), rig.Read32(log, 4)), Is.EqualTo((198u, 199u)));
        Assert.That(a.State, Is.EqualTo(AdvancedContextState.Ready));
    }
}
