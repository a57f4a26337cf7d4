using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>Seed 001 §4.1: the kernel inserts into a non-running context's ring and fixes up its ring location.</summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
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
            // When the kernel moves the ring of whichever context the device does not hold (the engine stays on the
            // last one that ran; equals take turns least recently served first, so that alternates).
            var ctx = i % 2 == 0 ? a : b;
            rig.Submit(ctx, (ref PacketWriter w) => w.WriteData(log.Va + (i % 2) * 4, i));
            if (i % 10 == 0)
            {
                Assert.That(rig.Machine.RunUntilIdle(), Is.True);
                if (rig.Scheduler.TryRelocateRing(rig.Scheduler.IsOffDevice(a) ? a : b)) moved++;
            }
        }
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then every buffer completed in order on both contexts, across many moves.
        Assert.That(moved, Is.GreaterThan(5));
        Assert.That((rig.Read32(log, 0), rig.Read32(log, 4)), Is.EqualTo((198u, 199u)));
        Assert.That((a.State, b.State), Is.EqualTo((VaContextState.Ready, VaContextState.Ready)));
    }

    [Test]
    public void PageTableRootOfAProcessOffTheDevice_IsMoved_AndItsSavedContextsAreFixedUp_SoTheOldPlaceIsNeverWalked()
    {
        // Given process 1 (two contexts) that rendered into a surface, and process 2 whose context the engine holds now.
        using var rig = new AdvancedRig(AdvancedRig.Small());
        var p1 = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p1);
        var b = rig.Scheduler.CreateContext(p1);
        var p2 = rig.Scheduler.CreateProcess();
        var z = rig.Scheduler.CreateContext(p2);
        var surface = p1.AllocateSurface(64 << 10);
        rig.Submit(a, (ref PacketWriter w) => w.Fill(surface.Va, 0x11111111, 64 << 10), surface.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var log = p2.AllocatePinned(4096);
        rig.Submit(z, (ref PacketWriter w) => w.WriteData(log.Va, 1));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(rig.Scheduler.IsOffDevice(a) && rig.Scheduler.IsOffDevice(b), Is.True);
        var oldRoot = p1.Space.Descriptor.Root;

        // When the kernel moves process 1's root table, and the old page is then wiped (as a reuse would).
        Assert.That(rig.Scheduler.TryRelocatePageTable(p1), Is.True);
        rig.Machine.VidMm.Memory.GetSpan(oldRoot, 4096).Clear();

        // Then both saved contexts name the new root…
        var newRoot = p1.Space.Descriptor.Root;
        Assert.That(newRoot, Is.Not.EqualTo(oldRoot));
        foreach (var c in new[] { a, b })
            Assert.That(rig.Machine.VidMm.Memory.Local.Ref<Coproc.Fast.Device.Contexts.ContextSaveArea>(c.Hw.SaveArea.Offset).AddressSpace.Root,
                Is.EqualTo(newRoot));
        // …and old and new mappings work through it from either context (the old root would now fault everything).
        var fresh = p1.AllocateSurface(16 << 10);
        var t1 = rig.Submit(a, (ref PacketWriter w) => w.Fill(surface.Va, 0x22222222, 64 << 10), surface.Handle);
        var t2 = rig.Submit(b, (ref PacketWriter w) => w.Fill(fresh.Va, 0x33333333, 16 << 10), fresh.Handle);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(t1.IsComplete && t2.IsComplete, Is.True);
        Assert.That((a.State, b.State), Is.EqualTo((VaContextState.Ready, VaContextState.Ready)));
        AdvancedRig.AssertBytes(rig.Read(surface), AdvancedRig.Pattern(0x22222222, 64 << 10), "old mapping");
        AdvancedRig.AssertBytes(rig.Read(fresh), AdvancedRig.Pattern(0x33333333, 16 << 10), "mapping made after the move");
        Assert.That(rig.Scheduler.PageTablesRelocated, Is.EqualTo(1));

        // And while the device holds one of the process's contexts, the move is refused with nothing changed.
        Assert.That(rig.Scheduler.IsOffDevice(a) && rig.Scheduler.IsOffDevice(b), Is.False);
        Assert.That(rig.Scheduler.TryRelocatePageTable(p1), Is.False);
        Assert.That(p1.Space.Descriptor.Root, Is.EqualTo(newRoot));
    }
}
