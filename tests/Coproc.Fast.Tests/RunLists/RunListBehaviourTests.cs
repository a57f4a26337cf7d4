using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.RunLists;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.RunLists;

/// <summary>Seed 001 §6 run lists, device and driver register layer: behaviours 12, 15, 19, 20, 21, 22, 28.</summary>
public class RunListBehaviourTests
{
    [Test]
    public void RunList_AutoAdvancesOnEmptyAndPageFault_WithoutCpu()
    {
        // Given run list (1, 3, 5, 2): 1 has a little work, 3 page-faults on its first packet, 5 and 2 have work.
        using var rig = new RunListRig(history: true);
        rig.Write(1, 0, 11);
        rig.PageFault(3);
        rig.Write(5, 0, 55);
        rig.Write(2, 0, 22);
        rig.Submitter.Submit(rig.List(1, 3, 5, 2));

        // When the device runs one step — the CPU does nothing in between.
        rig.Device.Step(100_000);

        // Then it ran 1 → 3 → 5 → 2 by itself, interrupting (not stalling) at each switch.
        Assert.That(rig.ReadLog(1, 0), Is.EqualTo(11u));
        Assert.That(rig.ReadLog(5, 0), Is.EqualTo(55u));
        Assert.That(rig.ReadLog(2, 0), Is.EqualTo(22u));
        Assert.That(rig.Saved(3).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(rig.Switches(), Is.EqualTo(new[]
        {
            (SwitchReason.NewRunList, 1), (SwitchReason.Empty, 3), (SwitchReason.PageFault, 5), (SwitchReason.Empty, 2),
            (SwitchReason.Empty, 0), // 2 empty and nothing left to run: reported once, the engine stays on 2
        }));
        Assert.That(rig.Cp.CurrentContext, Is.EqualTo(rig.Sa(2)));
        Assert.That(rig.Submitter.RunningIndex, Is.EqualTo(3));

        // And the faulted context is skipped until the driver clears Faulted (behaviour 15): work appended to 3 waits.
        rig.Write(3, 1, 33);
        rig.Device.Step(100_000);
        Assert.That(rig.ReadLog(3, 1), Is.Zero);
    }

    [Test]
    public void FaultedContext_ResumesAfterTheDriverClearsFaulted_RestartingTheFaultingPacket()
    {
        using var rig = new RunListRig(history: true);
        rig.PageFault(3, 0x7700_0000);
        rig.Write(5, 0, 55);
        rig.Submitter.Submit(rig.List(3, 5));
        rig.Device.Step(100_000);
        Assert.That(rig.Saved(3).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));

        // VidMm maps the page, the scheduler clears Faulted in the saved context (seed 001 §4.1) and appends work.
        rig.Context(3).Space.Map(0x7700_0000, rig.Machine.AllocLocal(4096), 1);
        ref var save = ref rig.Machine.Memory.Local.Ref<ContextSaveArea>(rig.Context(3).SaveArea.Offset);
        save.Flags &= ~ContextFlags.Faulted;
        rig.Device.Step(100_000);

        Assert.That(rig.Context(3).Space.Read32(0x7700_0000), Is.EqualTo(1u), "the faulting WRITE_DATA re-executed");
        Assert.That(rig.Context(3).ReadPtr, Is.EqualTo(rig.Context(3).WritePtr));
    }

    [Test]
    public void SavedContext_ReportsSwitchReasonCyclesAndFaultAddress()
    {
        // Behaviour 12 (query part, seed 001 §4.1): reason for the last switch away, cycles run, faulting VA.
        using var rig = new RunListRig(history: true);
        rig.Write(1, 0, 1);
        rig.PageFault(1, 0x7700_0123);
        rig.Write(2, 0, 2);
        rig.Write(4, 0, 4);
        rig.Submitter.Submit(rig.List(1, 2));
        rig.Device.Step(100_000);

        var s1 = rig.Saved(1);
        Assert.That(s1.LastSwitchReason, Is.EqualTo(SwitchReason.PageFault));
        Assert.That(s1.Fault.Address, Is.EqualTo(0x7700_0123UL));
        Assert.That(s1.CyclesRun, Is.GreaterThanOrEqualTo(500UL + 5), "switch-in cost plus one WRITE_DATA at least");
        Assert.That(rig.Cp.CurrentContext, Is.EqualTo(rig.Sa(2)), "2 went empty and stays loaded");

        // Switching away from 2 by a new list records NewRunList in 2's save area.
        rig.Submitter.Refresh();
        rig.Submitter.Submit(rig.List(4));
        rig.Device.Step(100_000);
        Assert.That(rig.Saved(2).LastSwitchReason, Is.EqualTo(SwitchReason.NewRunList));
        Assert.That(rig.Saved(2).CyclesRun, Is.GreaterThanOrEqualTo(500UL + 5), "saved on the way out: its cycles are in memory now");
        Assert.That(rig.ReadLog(4, 0), Is.EqualTo(4u));
    }

    [Test]
    public void PendingList_ConfirmedByInterrupt_NoNewSubmissionWhilePending()
    {
        using var rig = new RunListRig(history: false);
        rig.Write(1, 0, 1);
        rig.Write(2, 0, 2);

        // Given a submitted list that the device has not reached yet.
        rig.Submitter.Submit(rig.List(1));
        Assert.That(rig.Submitter.HasPending, Is.True);
        Assert.That(rig.State & RunListState.PendingBit, Is.Not.Zero);

        // When another reprioritization wants to submit: refused, nothing sent (the device's own check agrees).
        Assert.That(rig.Submitter.TrySubmit(rig.List(2)), Is.EqualTo(RunListSubmitStatus.PendingBusy));
        Assert.That(rig.Submitter.RefusedWhilePending, Is.EqualTo(1));
        uint regs = MmioMap.RunListBase + RunListRegisters.EngineBase;
        rig.Device.Mmio.Write32(regs + RunListRegisters.Submit, 1);
        Assert.That((RunListSubmitStatus)rig.Device.Mmio.Read32(regs + RunListRegisters.Submit), Is.EqualTo(RunListSubmitStatus.PendingBusy));
        Assert.That(rig.Submitter.Pending.ToArray(), Is.EqualTo(rig.List(1)));

        // Then the confirmation interrupt (NewRunList) makes pending current and clears it; a fresh list may follow.
        rig.Device.Step(10_000);
        var confirmations = new List<Coproc.Fast.Driver.VidSch.InterruptRecord>();
        while (rig.Device.Interrupts.TryDequeue(out var i))
        {
            var info = new Coproc.Fast.Driver.VidSch.InterruptRecord((byte)i.Source, i.Engine, i.ContextId, i.Data0, i.Data1, i.Cycle);
            if (rig.Submitter.OnInterrupt(info)) confirmations.Add(info);
        }
        Assert.That(confirmations, Has.Count.EqualTo(1));
        Assert.That(confirmations[0].Data0, Is.EqualTo((ulong)SwitchReason.NewRunList));
        Assert.That(rig.Submitter.HasPending, Is.False);
        Assert.That(rig.Submitter.Current.ToArray(), Is.EqualTo(rig.List(1)));
        Assert.That(rig.Submitter.TrySubmit(rig.List(2)), Is.EqualTo(RunListSubmitStatus.Ok));
        rig.Device.Step(10_000);
        Assert.That(rig.ReadLog(2, 0), Is.EqualTo(2u));
    }

    [Test]
    public void TwoElementRules_RejectViolatingLists()
    {
        // Pure rules (behaviour 22): given current (a, b), a never appears and b only as the head.
        ulong a = 0x100, b = 0x200, c = 0x300, d = 0x400;
        ulong[] current = [a, b];
        Assert.That(() => TwoElementRunListRules.Validate(current, [a]), Throws.TypeOf<RunListRuleViolationException>().With.Property("Rule").EqualTo(RunListRule.Rule1));
        Assert.That(() => TwoElementRunListRules.Validate(current, [c, a]), Throws.TypeOf<RunListRuleViolationException>().With.Property("Rule").EqualTo(RunListRule.Rule1));
        Assert.That(() => TwoElementRunListRules.Validate(current, [c, b]), Throws.TypeOf<RunListRuleViolationException>().With.Property("Rule").EqualTo(RunListRule.Rule2));
        Assert.That(() => TwoElementRunListRules.Validate(current, [c, d, b]), Throws.TypeOf<RunListRuleViolationException>().With.Property("Rule").EqualTo(RunListRule.Length));
        Assert.That(() => TwoElementRunListRules.Validate(current, [c, c]), Throws.TypeOf<RunListRuleViolationException>());
        foreach (var ok in new[] { new[] { b, c }, new[] { c, d }, new[] { c }, new[] { b } })
            Assert.That(TwoElementRunListRules.IsValid(current, ok), Is.True, string.Join(",", ok));

        // Through the submitter: a violating list never reaches the device.
        using var rig = new RunListRig(history: false);
        rig.Write(1, 0, 1);
        rig.Write(2, 0, 2);
        rig.Submitter.Submit(rig.List(1, 2));
        rig.Device.Step(10_000);
        Assert.That(rig.Submitter.Refresh(), Is.True);
        Assert.That(() => rig.Submitter.Submit(rig.List(3, 2)), Throws.TypeOf<RunListRuleViolationException>());
        Assert.That(() => rig.Submitter.Submit(rig.List(1)), Throws.TypeOf<RunListRuleViolationException>());
        Assert.That(rig.State & RunListState.PendingBit, Is.Zero, "nothing was submitted");
        Assert.That(rig.Submitter.TrySubmit(rig.List(2, 3)), Is.EqualTo(RunListSubmitStatus.Ok));

        // And the device itself refuses lists longer than two in this mode.
        uint regs = MmioMap.RunListBase + RunListRegisters.EngineBase + 1 * RunListRegisters.EngineStride;
        rig.Device.Mmio.Write32(regs + RunListRegisters.ListCount, 3);
        rig.Device.Mmio.Write32(regs + RunListRegisters.Submit, 1);
        Assert.That((RunListSubmitStatus)rig.Device.Mmio.Read32(regs + RunListRegisters.Submit), Is.EqualTo(RunListSubmitStatus.BadCount));
    }

    [Test]
    public void TwoElementMode_InterruptsOnEverySwitch_IncludingTheFakeSwitchFromXToX()
    {
        using var rig = new RunListRig(history: false);
        rig.LongCopy(1);
        rig.Write(2, 0, 2);
        rig.Submitter.Submit(rig.List(1, 2));
        rig.Device.Step(2_000); // 1 is still copying
        rig.Submitter.Refresh();
        Assert.That(rig.Switches(), Is.EqualTo(new[] { (SwitchReason.NewRunList, 1) }));

        // New list (2, 3) — rule-abiding: 1 absent, 2 at the head. 1 goes empty first, then the engine takes the list.
        rig.Write(3, 0, 3);
        rig.Device.Step(20_000);
        Assert.That(rig.Submitter.RunningContext, Is.EqualTo(rig.Sa(2)));
        rig.Switches();
        rig.Write(2, 1, 2);
        rig.Submitter.Submit(rig.List(2, 3));
        rig.Device.Step(20_000);
        Assert.That(rig.Switches(), Is.EqualTo(new[] { (SwitchReason.NewRunList, 2), (SwitchReason.Empty, 3), (SwitchReason.Empty, 0) }),
            "2 → 2 is reported although no context changed");
        Assert.That(rig.Submitter.Refresh(), Is.True);
    }

    [Test]
    public void EmptyDetection_TailResampled()
    {
        // Behaviour 19. Given context 1 of run list (1, 2) whose ring looks empty while 2 still has work.
        using var rig = new RunListRig(history: true);
        rig.Write(1, 0, 1);
        rig.LongCopy(2);
        rig.Submitter.Submit(rig.List(1, 2));
        rig.Device.Step(3_000);
        Assert.That(rig.Cp.CurrentContext, Is.EqualTo(rig.Sa(2)), "1 went empty, the engine moved on to 2");

        // When a buffer is appended to 1 after its empty report, the scheduler's query of the saved context reveals it
        // (seed 001 §5.6: the driver inspects the saved context for queued, unprocessed commands) ...
        Assert.That(SavedContextQuery.HasQueuedWork(rig.Device.Memory, rig.Context(1).SaveArea), Is.False);
        rig.Write(1, 1, 7);
        Assert.That(SavedContextQuery.HasQueuedWork(rig.Device.Memory, rig.Context(1).SaveArea), Is.True);

        // ... and the engine itself re-samples 1's tail when 2 runs empty: the new buffer runs without CPU help.
        rig.Device.Step(100_000);
        Assert.That(rig.ReadLog(1, 1), Is.EqualTo(7u));

        // A context that is running when work is appended never reports empty: the tail is re-read first.
        rig.Switches();
        rig.LongCopy(1);
        rig.Device.Step(1_000);
        rig.Write(1, 2, 9);
        rig.Device.Step(100_000);
        Assert.That(rig.ReadLog(1, 2), Is.EqualTo(9u));
        Assert.That(rig.Switches().Count(s => s.Reason == SwitchReason.Empty && s.To != 0), Is.Zero, "no switch away from 1 before its last packet");
    }

    [Test]
    public void DisableContextSwitch_DefersRunListChange()
    {
        // Given context 1 in a disable-context-switch region (a privileged ring), mid-copy.
        using var rig = new RunListRig(history: true);
        var c1 = rig.Context(1);
        var space = c1.Space;
        ulong src = space.Alloc(256 << 10), dst = space.Alloc(256 << 10);
        c1.Submit((ref Coproc.Fast.Device.Packets.PacketWriter w) =>
        {
            w.DisableContextSwitch();
            w.Copy(dst, src, 256 << 10);
            w.EnableContextSwitch();
            w.WriteData(rig.Log(1), 0xAF7E);
        });
        rig.Write(2, 0, 2);
        rig.Submitter.Submit(rig.List(1));
        rig.Device.Step(2_000);
        rig.Submitter.Refresh();

        // When the CPU submits a new run list: the device records it but does not switch.
        rig.Submitter.Submit(rig.List(2));
        rig.Device.Step(2_000);
        Assert.That(rig.State & RunListState.DeferredBit, Is.Not.Zero);
        Assert.That(rig.State & RunListState.PendingBit, Is.Not.Zero);
        Assert.That(rig.Cp.CurrentContext, Is.EqualTo(rig.Sa(1)));

        // Then it switches right after ENABLE_CONTEXT_SWITCH: the copy completed, the packet after ENABLE did not run.
        rig.Device.Step(100_000);
        Assert.That(rig.ReadLog(2, 0), Is.EqualTo(2u));
        Assert.That(rig.ReadLog(1, 0), Is.Zero, "the switch happened at ENABLE");
        var records = rig.History!.ReadAll();
        Assert.That(records.Select(r => r.Reason), Is.EqualTo(new[] { SwitchReason.NewRunList, SwitchReason.NewRunList }));
        Assert.That(rig.Saved(1).Work.Step, Is.Zero, "the copy retired before the switch");
    }

    [Test]
    public void DisableContextSwitch_UnforeseenErrorStillSwitchesAway()
    {
        using var rig = new RunListRig(history: true);
        var c1 = rig.Context(1);
        ulong src = c1.Space.Alloc(256 << 10), dst = c1.Space.Alloc(256 << 10);
        c1.Submit((ref Coproc.Fast.Device.Packets.PacketWriter w) =>
        {
            w.DisableContextSwitch();
            w.Copy(dst, src, 256 << 10);
            w.WriteData(RunListRig.UnmappedVa, 1); // the OS promised no faults here: an unforeseen error
            w.EnableContextSwitch();
        });
        rig.Write(2, 0, 2);
        rig.Submitter.Submit(rig.List(1));
        rig.Device.Step(2_000);
        rig.Submitter.Refresh();
        rig.Submitter.Submit(rig.List(2));
        rig.Device.Step(100_000);

        Assert.That(rig.Saved(1).Flags & ContextFlags.Faulted, Is.EqualTo(ContextFlags.Faulted));
        Assert.That(rig.ReadLog(2, 0), Is.EqualTo(2u), "the engine escaped the region and took the recorded run list");
        Assert.That(rig.History!.ReadAll().Select(r => r.Reason),
            Is.EqualTo(new[] { SwitchReason.NewRunList, SwitchReason.PageFault, SwitchReason.NewRunList }));
    }

    [Test]
    public void RunList_AllEntriesEmptyOrWaiting_Idles_ThenResumesWhenAWritePointerMovesOrAWaitIsSatisfied()
    {
        // Given (1, 2, 3): 1 has one packet, 2 waits on a counter that is 0, 3 has nothing.
        using var rig = new RunListRig(history: true);
        rig.Write(1, 0, 1);
        ulong counter = rig.Log(2) + 64;
        rig.Context(2).Submit((ref Coproc.Fast.Device.Packets.PacketWriter w) => { w.Wait(counter); w.WriteData(rig.Log(2), 2); });
        rig.Context(3);
        rig.Submitter.Submit(rig.List(1, 2, 3));
        rig.Device.Step(50_000);
        long switches = rig.Cp.SwitchCount;

        // When nothing can run, further steps make no switches (the engine idles and re-polls once per slice) ...
        rig.Device.Step(50_000);
        rig.Device.Step(50_000);
        Assert.That(rig.ReadLog(2, 0), Is.Zero);
        long idleSwitches = rig.Cp.SwitchCount - switches;
        Assert.That(idleSwitches, Is.Zero, "the waiting entry stays loaded and re-executes its WAIT once per slice");
        Assert.That(rig.Cp.CurrentContext, Is.EqualTo(rig.Sa(2)));

        // ... then a write-pointer move on 3 is picked up at the next slice, without CPU help,
        rig.Write(3, 0, 3);
        rig.Device.Step(50_000);
        Assert.That(rig.ReadLog(3, 0), Is.EqualTo(3u));

        // and so is the wait of 2 once the counter is signalled (by the CPU here).
        rig.Context(2).Space.Write32(counter, 1);
        rig.Device.Step(50_000);
        Assert.That(rig.ReadLog(2, 0), Is.EqualTo(2u));
        Assert.That(rig.Context(2).Space.Read32(counter), Is.Zero, "WAIT consumed the count");
    }

    [Test]
    public void TwoElementDecisionTable_TellsLeavingTheHeadFromMovingToThePendingList()
    {
        ulong one = 0x100, two = 0x200, three = 0x300;
        ulong[] a = [one, two], b = [two, three];
        Assert.That(TwoElementRunListRules.Resolve(a, b, one), Is.EqualTo(TwoElementOutcome.StillOnHead));
        Assert.That(TwoElementRunListRules.Resolve(a, b, two), Is.EqualTo(TwoElementOutcome.PendingHeadRunning));
        Assert.That(TwoElementRunListRules.Resolve(a, b, three), Is.EqualTo(TwoElementOutcome.PendingLeftHead));
        Assert.That(TwoElementRunListRules.Resolve(a, b, 0), Is.EqualTo(TwoElementOutcome.Idle));
        Assert.That(TwoElementRunListRules.Resolve(a, default, two), Is.EqualTo(TwoElementOutcome.LeftHead));

        // On the device: current (1, 2), pending (2, 3); 1 is running when B is submitted.
        using var rig = new RunListRig(history: false);
        rig.LongCopy(1, 32 << 10);
        rig.Write(2, 0, 2);
        rig.Write(3, 0, 3);
        rig.Submitter.Submit(rig.List(1, 2));
        rig.Device.Step(1_000);
        rig.Submitter.Refresh();
        rig.Submitter.Submit(rig.List(2, 3));
        Assert.That(TwoElementRunListRules.Resolve(rig.Submitter.Current, rig.Submitter.Pending, rig.Submitter.RunningContext),
            Is.EqualTo(TwoElementOutcome.StillOnHead), "B not started: wait");
        rig.Device.Step(100_000); // B taken (1 → 2), 2 empty → 3, 3 empty: stays on 3
        Assert.That(TwoElementRunListRules.Resolve(rig.Submitter.Current, rig.Submitter.Pending, rig.Submitter.RunningContext),
            Is.EqualTo(TwoElementOutcome.PendingLeftHead), "B taken and its head left: build C");
        Assert.That(rig.Switches().Select(x => x.Reason), Is.EqualTo(new[]
            { SwitchReason.NewRunList, SwitchReason.NewRunList, SwitchReason.Empty, SwitchReason.Empty }));
    }
}
