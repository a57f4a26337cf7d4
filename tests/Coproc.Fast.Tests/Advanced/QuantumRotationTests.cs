using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// The advanced model's quantum (seed 001 §5.5 next-buffer rule, run-list back end): a context that held the head of
/// the run list for a quantum yields it to a ready context of equal or higher priority — so equal priorities take turns
/// inside long buffers — and never to a lower one. Each buffer is many FILLs, each followed by a WRITE_DATA of its
/// index to a progress word, so the progress of the other context at the moment one finishes shows whether they
/// alternated.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class QuantumRotationTests
{
    private const int Chunks = 24;
    private const int ChunkBytes = 512 << 10;

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void EqualPriorities_TakeTurnsInsideLongBuffers_WhenTheQuantumExpires(RunListMechanism mechanism)
    {
        // Given two contexts of equal priority, each with one long buffer (many chunks), and a quantum far shorter than a buffer.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { QuantumCycles = 20_000 });
        var (a, aProgress, ta) = LongBuffer(rig, priority: 1);
        var (b, bProgress, tb) = LongBuffer(rig, priority: 1);

        // When the first of them is half way through its buffer.
        Assert.That(rig.Machine.RunUntil(() => rig.Read32(aProgress, 0) >= Chunks / 2 || rig.Read32(bProgress, 0) >= Chunks / 2), Is.True);

        // Then the other one has already run part of its own (they alternated inside their buffers), and quanta expired.
        uint ahead = Math.Max(rig.Read32(aProgress, 0), rig.Read32(bProgress, 0));
        uint behind = Math.Min(rig.Read32(aProgress, 0), rig.Read32(bProgress, 0));
        Assert.That(behind, Is.GreaterThan(0u), $"the other context ran between the first one's chunks (ahead {ahead})");
        Assert.That(rig.Scheduler.Events.Count(e => e.Kind == RunListEventKind.QuantumExpired), Is.GreaterThan(1));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(ta.IsComplete && tb.IsComplete, Is.True);
        Assert.That((rig.Read32(aProgress, 0), rig.Read32(bProgress, 0)), Is.EqualTo(((uint)Chunks, (uint)Chunks)));
        _ = (a, b);
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void EqualsTakingTurnsInsideLongBuffers_AreCountedAsPreempted_AndTheMachineObserverSeesTheSameCount(RunListMechanism mechanism)
    {
        // Given two equals with one long buffer each, a short quantum, and the machine's one observer registered on both.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { QuantumCycles = 20_000 });
        var observer = new Coproc.Fast.Driver.Diagnostics.SchedulingObserver();
        var adapter = new Coproc.Fast.Driver.Diagnostics.MachineObserver(observer, rig.Machine);
        adapter.Attach(rig.Machine);
        var (a, _, _) = LongBuffer(rig, priority: 1);
        var (b, _, _) = LongBuffer(rig, priority: 1);
        int ha = adapter.Register(a, "a", "a"), hb = adapter.Register(b, "b", "b");

        // When both run to the end, alternating at quantum expiries.
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then each was left with work outstanding at least once — a preemption, by the rule the kernel path's are
        // counted — and the observer (statistics and trace) saw exactly the back end's count.
        Assert.That(a.Preemptions, Is.GreaterThan(0));
        Assert.That(b.Preemptions, Is.GreaterThan(0));
        Assert.That((observer.Contexts[ha].Preemptions, observer.Contexts[hb].Preemptions), Is.EqualTo((a.Preemptions, b.Preemptions)));
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void AContextAloneOnItsEngine_IsNeverCountedAsPreempted(RunListMechanism mechanism)
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { QuantumCycles = 20_000 });
        var (a, _, t) = LongBuffer(rig, priority: 1);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(t.IsComplete, Is.True);
        Assert.That(a.Preemptions, Is.Zero, "quanta expired with nobody waiting: the engine never left it");
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void AHigherPriorityHead_KeepsTheEngineAcrossQuanta_WhileALowerOneWaits(RunListMechanism mechanism)
    {
        // Given a priority-2 context and a priority-1 context, each with one long buffer, and a short quantum.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { QuantumCycles = 20_000 });
        var (_, _, high) = LongBuffer(rig, priority: 2);
        var (_, lowProgress, low) = LongBuffer(rig, priority: 1);

        // When the high one finishes.
        Assert.That(rig.Machine.RunUntil(() => high.IsComplete), Is.True);

        // Then the low one has not run a single chunk: a quantum yields only to equal or higher priority.
        Assert.That(rig.Read32(lowProgress, 0), Is.Zero);
        Assert.That(rig.Scheduler.Events.Count(e => e.Kind == RunListEventKind.QuantumExpired), Is.Zero);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(low.IsComplete, Is.True);
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void EqualsWithBuffersShorterThanTheQuantum_AllTakeTurns_WhenTheListCannotHoldThemAll(RunListMechanism mechanism)
    {
        // Given three equal contexts and lists of two entries; A and B submit a short buffer again as soon as their last
        // one completes (each goes empty for a moment, never for a quantum), C has one short buffer queued.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { RunListLength = 2, QuantumCycles = 1_000_000 });
        var p = rig.Scheduler.CreateProcess();
        var target = p.AllocatePinned(64 << 10);
        VaContext a = rig.Scheduler.CreateContext(p), b = rig.Scheduler.CreateContext(p), c = rig.Scheduler.CreateContext(p);
        VaTicket Short(VaContext ctx, uint value) => rig.Submit(ctx, (ref PacketWriter w) => w.Fill(target.Va, value, 64 << 10));
        var ta = Short(a, 1);
        var tb = Short(b, 2);
        var tc = Short(c, 3);

        // When A and B keep resubmitting for up to 40 buffers each.
        int served = 0;
        while (!tc.IsComplete && served < 80)
        {
            Assert.That(rig.Machine.RunUntil(() => ta.IsComplete || tb.IsComplete || tc.IsComplete), Is.True);
            if (ta.IsComplete) { ta = Short(a, 1); served++; }
            if (tb.IsComplete) { tb = Short(b, 2); served++; }
        }

        // Then C's turn came within the first round of turns (a turn ends when the engine leaves a context, so the
        // least recently served equal is listed first), not after A and B stopped.
        Assert.That(tc.IsComplete, Is.True, $"A and B completed {served} buffers while C waited");
        Assert.That(served, Is.LessThanOrEqualTo(4));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
    }

    private static (VaContext Context, GpuAllocation Progress, VaTicket Ticket) LongBuffer(AdvancedRig rig, int priority)
    {
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p, priority);
        var target = p.AllocatePinned(ChunkBytes);
        var progress = p.AllocatePinned(4096);
        var buffer = p.CreateDmaBuffer(Chunks * 12);
        var w = buffer.Writer();
        for (int i = 1; i <= Chunks; i++)
        {
            w.Fill(target.Va, (uint)i, ChunkBytes);
            w.WriteData(progress.Va, (uint)i);
        }
        Assert.That(rig.Scheduler.TrySubmit(ctx, buffer, w.Written, [], out var ticket), Is.True);
        return (ctx, progress, ticket);
    }
}
