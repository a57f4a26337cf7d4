using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>Seed 001 §21 behaviours 18, 19, 21, 22, 23 driven by the advanced scheduler (device-level run-list tests live in RunLists/).</summary>
[TestFixture]
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class AdvancedRunListTests
{
    private static UserDmaBuffer Buffer(VaContext ctx, AdvancedRig.Emit emit, out int dwords)
    {
        var b = ctx.Process.CreateDmaBuffer(256);
        var w = b.Writer();
        emit(ref w);
        dwords = w.Written;
        return b;
    }

    [Test]
    public void Behaviour18_FullRingRefusesOnlyItsOwnContext_AnotherContextsInsertCompletesAndMovesItsTail()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small() with { RingBytes = 4096 });
        var p = rig.Scheduler.CreateProcess();
        var one = rig.Scheduler.CreateContext(p);
        var two = rig.Scheduler.CreateContext(p);
        var log = p.AllocatePinned(4096);
        var buf2 = Buffer(two, (ref PacketWriter w) => w.WriteData(log.Va, 2), out int d2);
        int accepted = 0;
        while (rig.Scheduler.TrySubmit(two, buf2, d2, [], out _)) accepted++;
        ulong tail = one.Hw.WritePtr;

        var buf1 = Buffer(one, (ref PacketWriter w) => w.WriteData(log.Va + 4, 1), out int d1);
        Assert.That(rig.Scheduler.TrySubmit(one, buf1, d1, [], out var t1), Is.True, "context #1's insertion is not blocked by #2's full ring");
        Assert.That(one.Hw.WritePtr, Is.GreaterThan(tail));
        Assert.That(two.RingFullWaits, Is.GreaterThan(0));
        Assert.That(accepted, Is.GreaterThan(10));

        // When the device drains #2's ring, #2 accepts again
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(t1.IsComplete, Is.True);
        Assert.That(rig.Scheduler.TrySubmit(two, buf2, d2, [], out _), Is.True);
    }

    [Test, CancelAfter(30_000)]
    public void Behaviour18_Threaded_SubmitterOfAFullRingBlocks_WhileAnotherContextsSubmitterCompletes()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small() with { RingBytes = 4096 });
        var p = rig.Scheduler.CreateProcess();
        var one = rig.Scheduler.CreateContext(p);
        var two = rig.Scheduler.CreateContext(p);
        var log = p.AllocatePinned(4096);
        var buf2 = Buffer(two, (ref PacketWriter w) => w.WriteData(log.Va, 2), out int d2);
        var buf1 = Buffer(one, (ref PacketWriter w) => w.WriteData(log.Va + 4, 1), out int d1);
        while (rig.Scheduler.TrySubmit(two, buf2, d2, [], out _)) { }

        using var bStarted = new ManualResetEventSlim();
        var threadB = Task.Run(() =>
        {
            bStarted.Set();
            return rig.Scheduler.Submit(two, buf2, d2, [], TimeSpan.FromSeconds(20), out _);
        });
        bStarted.Wait(TimeSpan.FromSeconds(10));
        var threadA = Task.Run(() => rig.Scheduler.Submit(one, buf1, d1, [], TimeSpan.FromSeconds(20), out _));
        Assert.That(threadA.Wait(TimeSpan.FromSeconds(10)), Is.True, "thread A is not blocked by thread B's wait");
        Assert.That(threadA.Result, Is.True);
        Assert.That(threadB.IsCompleted, Is.False, "thread B waits for room in context #2's ring");

        // When the device runs (this thread), #2's buffers retire and B's insertion goes through
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        Assert.That(threadB.Wait(TimeSpan.FromSeconds(20)), Is.True);
        Assert.That(threadB.Result, Is.True);
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
    }

    [Test]
    public void Behaviour19_EmptyReportRacingANewBuffer_SavedContextQueryFindsIt_AndItRuns()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small() with { InterruptLatencyCycles = 50_000 });
        var p = rig.Scheduler.CreateProcess();
        var ctx = rig.Scheduler.CreateContext(p);
        var log = p.AllocatePinned(4096);
        var big = p.AllocatePinned(4 << 20);
        var t1 = rig.Submit(ctx, (ref PacketWriter w) => w.WriteData(log.Va, 1));
        // Given the device retired the buffer and reported the ring empty, before the CPU took the interrupt
        Assert.That(rig.Machine.RunUntil(() => t1.IsComplete), Is.True);
        // When a long buffer is appended before the empty interrupt is handled
        var t2 = rig.Submit(ctx, (ref PacketWriter w) => w.Fill(big.Va, 0x12345678, 4 << 20));
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        Assert.That(rig.Scheduler.EmptyRaceRequeues, Is.GreaterThanOrEqualTo(1), "the handler's saved-context query saw the queued buffer");
        Assert.That(t2.IsComplete, Is.True);
        Assert.That(ctx.State, Is.EqualTo(VaContextState.Ready));
    }

    [Test]
    public void Behaviour21_WhileAListIsPending_ANewPriorityIsDeferred_ThenSubmittedAfterConfirmation()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History));
        var p = rig.Scheduler.CreateProcess();
        var low = rig.Scheduler.CreateContext(p, 1);
        var high = rig.Scheduler.CreateContext(p, 9);
        var log = p.AllocatePinned(4096);
        var tl = rig.Submit(low, (ref PacketWriter w) => w.WriteData(log.Va, 1));
        rig.Scheduler.Poll();
        Assert.That(rig.Scheduler.RunLists.HasPending, Is.True);

        // When a higher-priority context gets work while the first list awaits its confirmation
        var th = rig.Submit(high, (ref PacketWriter w) => w.WriteData(log.Va + 4, 2));
        rig.Scheduler.Poll();
        Assert.That(rig.Scheduler.RunListsSubmitted, Is.EqualTo(1), "no second list while one is pending");
        Assert.That(rig.Scheduler.RunListsDeferred, Is.EqualTo(1));

        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        var kinds = rig.Scheduler.Events.Select(e => e.Kind).Where(k => k is RunListEventKind.RunListSubmitted or RunListEventKind.RunListDeferred
            or RunListEventKind.RunListConfirmed).Take(4).ToArray();
        Assert.That(kinds, Is.EqualTo(new[] { RunListEventKind.RunListSubmitted, RunListEventKind.RunListDeferred,
            RunListEventKind.RunListConfirmed, RunListEventKind.RunListSubmitted }));
        Assert.That(rig.Scheduler.SubmittedLists[1][0], Is.EqualTo(high.SaveArea), "the resubmitted list is headed by the new priority");
        Assert.That(tl.IsComplete && th.IsComplete, Is.True);
    }

    [Test]
    public void Behaviour22_EveryTwoElementListTheSchedulerSubmits_ObeysRules1And2()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small() with { QuantumCycles = 20_000 });
        var contexts = new List<VaContext>();
        var logs = new List<GpuAllocation>();
        for (int i = 0; i < 4; i++)
        {
            var p = rig.Scheduler.CreateProcess();
            contexts.Add(rig.Scheduler.CreateContext(p, i % 2));
            logs.Add(p.AllocatePinned(256 << 10));
        }
        var tickets = new List<VaTicket>();
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < contexts.Count; i++)
            {
                var log = logs[i];
                tickets.Add(rig.Submit(contexts[i], (ref PacketWriter w) => w.Fill(log.Va, (uint)round, 256 << 10)));
            }
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        var lists = rig.Scheduler.SubmittedLists;
        Assert.That(lists.Length, Is.GreaterThan(3));
        for (int i = 1; i < lists.Length; i++)
            Assert.That(TwoElementRunListRules.IsValid(lists[i - 1], lists[i]), Is.True, $"list {i} against list {i - 1}");
        Assert.That(tickets.All(t => t.IsComplete), Is.True);
    }

    [Test]
    public void Behaviour23_Fig19_FourSwitchesBehindOneInterrupt_AreReconstructedFromTheHistoryBuffer()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { InterruptLatencyCycles = 1_000_000, QuantumCycles = 5_000_000 });
        var p = rig.Scheduler.CreateProcess();
        var c = Enumerable.Range(0, 4).Select(_ => rig.Scheduler.CreateContext(p)).ToArray();
        var log = p.AllocatePinned(1 << 20);
        var t2 = p.AllocateSurface(64 << 10);
        var t3 = p.AllocateSurface(64 << 10);
        rig.Submit(c[0], (ref PacketWriter w) => w.WriteData(log.Va, 1));                   // goes empty
        rig.Submit(c[1], (ref PacketWriter w) => w.Fill(t2.Va, 2, 4096));                   // page-faults (T2 not listed)
        rig.Submit(c[2], (ref PacketWriter w) => w.Fill(t3.Va, 3, 4096));                   // page-faults at once
        rig.Submit(c[3], (ref PacketWriter w) => w.Fill(log.Va + 4096, 4, 512 << 10));      // runs
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        var first = rig.Scheduler.Events.First(e => e.Kind == RunListEventKind.Switch);
        var firstBatch = rig.Scheduler.Events.Where(e => e.Kind == RunListEventKind.Switch && e.Cycle == first.Cycle).Select(e => (SwitchReason)(uint)e.Detail).ToArray();
        Assert.That(firstBatch, Is.EqualTo(new[] { SwitchReason.NewRunList, SwitchReason.Empty, SwitchReason.PageFault, SwitchReason.PageFault }));
        Assert.That(rig.Scheduler.Events.Count(e => e.Kind == RunListEventKind.PageFault && e.Cycle == first.Cycle), Is.EqualTo(2),
            "both faults were learnt from the records of one interrupt");
        Assert.That(c[1].PageFaults + c[2].PageFaults, Is.EqualTo(2));
        Assert.That(rig.Scheduler.History!.LostRecords, Is.Zero);
        Assert.That(rig.Scheduler.FaultsFoundBySweep, Is.Zero);
    }

    [Test]
    public void HistoryMode_ManySwitches_WrapTheBuffer_WithoutLosingARecord()
    {
        using var rig = new AdvancedRig(AdvancedRig.Small(RunListMechanism.History) with { QuantumCycles = 10_000 });
        var p = rig.Scheduler.CreateProcess();
        var c = Enumerable.Range(0, 4).Select(_ => rig.Scheduler.CreateContext(p)).ToArray();
        var log = p.AllocatePinned(64 << 10);
        var tickets = new List<VaTicket>();
        for (int wave = 0; wave < 10; wave++)
        {
            // Each wave: a new list, then each context runs empty in turn — several records per wave.
            foreach (var ctx in c) tickets.Add(rig.Submit(ctx, (ref PacketWriter w) => w.Fill(log.Va, (uint)wave, 64 << 10)));
            Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        }
        Assert.That(rig.Scheduler.HistoryRecordsRead, Is.GreaterThan(rig.Scheduler.History!.Capacity));
        Assert.That(rig.Scheduler.History.LostRecords, Is.Zero);
        Assert.That(tickets.All(t => t.IsComplete), Is.True);
    }
}
