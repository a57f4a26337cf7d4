using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Diagnostics;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Advanced;

namespace Coproc.Fast.Tests.Diagnostics;

/// <summary>
/// The scheduling auditor watching the advanced model's run-list back end (docs/scheduling-policy.md "Auditor"): a
/// context ready with work that an equal or lower priority keeps off its engine for longer than the starvation
/// threshold is reported, and so is an engine that runs nothing while such a context waits; waiting behind a higher
/// priority, or for a fence, is not.
/// </summary>
public class RunListAuditorTests
{
    private const ulong Quantum = 200_000;

    [Test]
    public void GivenAnEqualKeptOffTheEngine_WhenItWaitsLongerThanTheThreshold_ThenItIsReportedStarved()
    {
        // Given two equal contexts with work, and passes that show A running all along (the state a scheduler that never
        // rotated equals would leave).
        using var rig = new AdvancedRig(new RigOptions { QuantumCycles = Quantum });
        var (a, b) = TwoContexts(rig, 5, 5);
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var state = rig.Scheduler.AuditorState!;

        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, a.SaveArea, 1_000);
            auditor.OnRunListPass(state, EngineKind.Render, a.SaveArea, 1_000 + 20 * Quantum);
        }
        auditor.Finish(1_000 + 20 * Quantum);

        // Then B is reported: 20 quanta is beyond 4 quanta × 2 equals.
        var starved = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.Starved).ToArray();
        Assert.That(starved.Select(f => f.ContextId), Is.EqualTo(new[] { (int)b.Id }));
        Assert.That(starved[0].Cycles, Is.EqualTo(20 * Quantum));
        Assert.That(starved[0].Message, Does.Contain("run list"));
    }

    [Test]
    public void GivenALowerPriorityBehindAHigherOne_OrAContextWaitingForAFence_ThenNothingIsReported()
    {
        // Given a priority-9 context running and a priority-2 one with work (strict priority: it waits by policy), and an
        // equal whose last turn ended on an unsatisfied WAIT (it waits for its fence, not for a turn).
        using var rig = new AdvancedRig(new RigOptions { QuantumCycles = Quantum });
        var (high, low) = TwoContexts(rig, 9, 2);
        var (_, equalOnWait) = TwoContexts(rig, 1, 9);
        equalOnWait.LeftOnWait = true;
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var state = rig.Scheduler.AuditorState!;

        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, high.SaveArea, 1_000);
            auditor.OnRunListPass(state, EngineKind.Render, high.SaveArea, 1_000 + 50 * Quantum);
        }
        auditor.Finish(1_000 + 50 * Quantum);

        Assert.That(auditor.Findings, Is.Empty);
        _ = low;
    }

    [Test]
    public void GivenAnEngineRunningNothingWhileAContextHasWork_WhenItLastsLongerThanTheThreshold_ThenItIsReportedIdleWithWork()
    {
        // Given two contexts with work and passes that show the engine idle (no list named them), then one running.
        using var rig = new AdvancedRig(new RigOptions { QuantumCycles = Quantum });
        var (a, _) = TwoContexts(rig, 5, 5);
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var state = rig.Scheduler.AuditorState!;

        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, 0, 1_000);
            auditor.OnRunListPass(state, EngineKind.Render, 0, 1_000 + Quantum);       // within 2 quanta: not yet
            auditor.OnRunListPass(state, EngineKind.Render, a.SaveArea, 1_000 + 7 * Quantum);
        }
        auditor.Finish(1_000 + 7 * Quantum);

        // Then one stretch of 7 quanta is reported for render, and no more.
        var idle = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.IdleWithWork).ToArray();
        Assert.That(idle.Select(f => (f.Engine, f.Cycles)), Is.EqualTo(new[] { (EngineKind.Render, 7 * Quantum) }));
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenEqualsWithShortBuffersResubmittingWhileAThirdWaits_WhenTheMachineRuns_ThenTheAuditorFindsNoStarvation(RunListMechanism mechanism)
    {
        // Given three equals on lists of two (QuantumRotationTests' set-up) watched by the auditor.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism) with { RunListLength = 2, QuantumCycles = 20_000 });
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var p = rig.Scheduler.CreateProcess();
        var target = p.AllocatePinned(64 << 10);
        VaContext a = rig.Scheduler.CreateContext(p), b = rig.Scheduler.CreateContext(p), c = rig.Scheduler.CreateContext(p);
        VaTicket Short(VaContext ctx) => rig.Submit(ctx, (ref PacketWriter w) => w.Fill(target.Va, 1, 64 << 10));
        var ta = Short(a);
        var tb = Short(b);
        var tcs = Enumerable.Range(0, 20).Select(_ => Short(c)).ToList();

        // When A and B resubmit as soon as theirs complete, until C's twenty buffers are done.
        int served = 0;
        while (!tcs[^1].IsComplete && served < 400)
        {
            Assert.That(rig.Machine.RunUntil(() => ta.IsComplete || tb.IsComplete || tcs[^1].IsComplete), Is.True);
            if (ta.IsComplete) { ta = Short(a); served++; }
            if (tb.IsComplete) { tb = Short(b); served++; }
        }
        bool cDoneWhileTheyRan = tcs[^1].IsComplete; // before RunUntilIdle, which completes C anyway
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);
        auditor.Finish(rig.Machine.Device.Cycle);

        // Then C finished while they still ran, and the auditor, which watched every pass, reports nothing.
        Assert.That(cDoneWhileTheyRan, Is.True, $"A and B completed {served} buffers while C waited");
        Assert.That(auditor.Findings, Is.Empty);
    }

    [Test]
    public void GivenAnEqualWhoseWaitIsOver_WhenItIsKeptOffTheEngineLongerThanTheThreshold_ThenItIsReportedStarved()
    {
        // Given two equals: A stopped on a WAIT_FENCE (the device left it: LeftOnWait), B with a long buffer running.
        using var rig = new AdvancedRig(new RigOptions { RunLists = RunListMechanism.History, QuantumCycles = Quantum });
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p, 5);
        var b = rig.Scheduler.CreateContext(p, 5);
        var fence = p.AllocatePinned(4096);
        var big = p.AllocatePinned(1 << 20);
        rig.Submit(a, (ref PacketWriter w) => { w.WaitFence(fence.Va, 1); w.WriteData(fence.Va + 8, 1); });
        rig.Submit(b, (ref PacketWriter w) => { for (int i = 0; i < 150; i++) w.Fill(big.Va, (uint)i, 1 << 20); });
        rig.Machine.RunFor(100_000);
        Assert.That(a.LeftOnWait, Is.True, "precondition: A's turn ended on its WAIT");

        // When its fence is written, and passes then show B running for 20 quanta while A stays ready with work.
        rig.Machine.VidMm.Memory.Write64(rig.Machine.VidMm.PhysicalAddressOf(fence.Handle, 0), 1);
        var auditor = AuditTwentyQuantaOf(rig, b);

        // Then A is reported: its wait was over, so it waited for a turn.
        Assert.That(auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.Starved).Select(f => f.ContextId), Is.EqualTo(new[] { (int)a.Id }));
    }

    // An auditor attached to the rig's run lists that sees two passes, 20 quanta apart (five times the threshold for two
    // equals), with `running` on render at both, and then finishes.
    private static SchedulingAuditor AuditTwentyQuantaOf(AdvancedRig rig, Coproc.Fast.Driver.VidSch.RunLists.VaContext running)
    {
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        ulong t = rig.Machine.Device.Cycle;
        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(rig.Scheduler.AuditorState!, EngineKind.Render, running.SaveArea, t);
            auditor.OnRunListPass(rig.Scheduler.AuditorState!, EngineKind.Render, running.SaveArea, t + 20 * Quantum);
        }
        auditor.Finish(t + 20 * Quantum);
        return auditor;
    }

    /// <summary>Where the WAIT a context stops on lies (native-layout.md §11.1: the saved position names the ring or a DMA buffer).</summary>
    public enum WaitSite
    {
        /// <summary>In the process's own (limited) DMA buffer.</summary>
        UserBuffer,
        /// <summary>In the ring (kernel commands under ring insertion, seed 001 §7.4 option 2).</summary>
        Ring,
        /// <summary>In a kernel-built privileged DMA buffer (kernel commands under option 3).</summary>
        PrivilegedBuffer,
    }

    [Test]
    public void GivenAnEqualStoppedOnAWaitThatIsStillUnsatisfied_WhenItIsKeptOffTheEngineLongerThanTheThreshold_ThenNothingIsReported(
        [Values] WaitSite site, [Values] bool counter)
    {
        // Given A stopped on a WAIT (or WAIT_FENCE) nobody satisfied, and its equal B running.
        using var rig = new AdvancedRig(Options(site));
        var (a, b, _) = LeaveAnEqualOnAWait(rig, site, counter);

        // When passes show B running for 20 quanta (five times the threshold for two equals).
        var auditor = AuditTwentyQuantaOf(rig, b);

        // Then nothing is reported: A waits for its fence, not for a turn.
        Assert.That(a.LeftOnWait, Is.True);
        Assert.That(auditor.Findings, Is.Empty);
    }

    [Test]
    public void GivenAnEqualStoppedOnAWait_WhenItsWaitIsSatisfiedAndItIsThenKeptOff_ThenItsWaitForATurnStartsAtThePassThatSawIt(
        [Values] WaitSite site, [Values] bool counter)
    {
        // Given A stopped on a WAIT (or WAIT_FENCE), B running, and the auditor watching from the start.
        using var rig = new AdvancedRig(Options(site));
        var (a, b, sync) = LeaveAnEqualOnAWait(rig, site, counter);
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var state = rig.Scheduler.AuditorState!;
        ulong t = rig.Machine.Device.Cycle, released = t + 20 * Quantum + 1;

        // When 20 quanta pass with the wait unsatisfied, then the process satisfies it (the counter or the fence becomes
        // 1, a write no switch record reports) and B runs 20 quanta more.
        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, b.SaveArea, t);
            auditor.OnRunListPass(state, EngineKind.Render, b.SaveArea, t + 20 * Quantum);
        }
        var pa = rig.Machine.VidMm.PhysicalAddressOf(sync.Handle, 0);
        if (counter) rig.Machine.VidMm.Memory.Write32(pa, 1);
        else rig.Machine.VidMm.Memory.Write64(pa, 1);
        lock (rig.Scheduler.KernelLock)
        {
            auditor.OnRunListPass(state, EngineKind.Render, b.SaveArea, released);
            auditor.OnRunListPass(state, EngineKind.Render, b.SaveArea, released + 20 * Quantum);
        }
        auditor.Finish(released + 20 * Quantum);

        // Then A is reported for the 20 quanta after its wait was over, not for the time its WAIT held it.
        Assert.That(a.LeftOnWait, Is.True, "the device has not run A since: only the WAIT's evaluation tells");
        var starved = auditor.Findings.Where(f => f.Kind == SchedulingFindingKind.Starved).ToArray();
        Assert.That(starved.Select(f => (f.ContextId, f.StartCycle, f.Cycles)), Is.EqualTo(new[] { ((int)a.Id, released, 20 * Quantum) }));
    }

    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void GivenAnEqualWhoseWaitIsSatisfiedWhileALongBufferRuns_WhenTheMachineRuns_ThenItIsServedWithinTheThresholdAndNothingIsReported(RunListMechanism mechanism)
    {
        // Given A stopped on a WAIT_FENCE and its equal B running a buffer of about twelve quanta, watched from the start.
        using var rig = new AdvancedRig(new RigOptions { RunLists = mechanism, QuantumCycles = Quantum });
        var auditor = new SchedulingAuditor();
        auditor.Attach(rig.Scheduler);
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p, 5);
        var b = rig.Scheduler.CreateContext(p, 5);
        var fence = p.AllocatePinned(4096);
        var big = p.AllocatePinned(1 << 20);
        var ta = rig.Submit(a, (ref PacketWriter w) => { w.WaitFence(fence.Va, 1); w.WriteData(fence.Va + 8, 1); });
        var tb = rig.Submit(b, (ref PacketWriter w) => { for (int i = 0; i < 150; i++) w.Fill(big.Va, (uint)i, 1 << 20); });
        rig.Machine.RunFor(100_000);
        Assert.That(a.LeftOnWait, Is.True, "precondition: A's turn ended on its WAIT");

        // When the CPU writes A's fence (no interrupt, no switch record says so) and the machine runs both to the end.
        rig.Machine.VidMm.Memory.Write64(rig.Machine.VidMm.PhysicalAddressOf(fence.Handle, 0), 1);
        ulong written = rig.Machine.Device.Cycle;
        Assert.That(rig.Machine.RunUntil(() => ta.IsComplete), Is.True);
        ulong aDone = rig.Machine.Device.Cycle;
        Assert.That(rig.Machine.RunUntil(() => tb.IsComplete), Is.True);
        auditor.Finish(rig.Machine.Device.Cycle);

        // Then A ran again long before B's buffer ended — within the threshold (4 quanta × 2 equals) — and the auditor,
        // which now sees A waiting for a turn from the first pass after the write, reports nothing.
        Assert.That(aDone - written, Is.LessThan(8 * Quantum), $"A completed {(aDone - written) / (double)Quantum:0.0} quanta after its fence");
        Assert.That(rig.Machine.Device.Cycle - written, Is.GreaterThan(8 * Quantum), "precondition: B's buffer outlasts the threshold");
        Assert.That(auditor.Findings, Is.Empty);
    }

    [TestCase(0u, 0u, TestName = "{m}(a zero header (malformed))")]
    [TestCase(0u, 0x0000_007Fu, TestName = "{m}(an unknown opcode)")]
    [TestCase(0u, 0x0001_0000u, TestName = "{m}(a NOP (not a wait))")]
    [TestCase(2u, 0x0000_7F00u, TestName = "{m}(a WAIT_FENCE on an unmapped VA)")]
    [TestCase(2u, 0xFFFF_0000u, TestName = "{m}(a WAIT_FENCE on a VA above 48 bits)")]
    public void GivenAnEqualLeftOnAWait_WhenThePacketAtItsSavedPositionIsRewrittenTo_ThenItIsTreatedAsStillWaitingAndNothingIsReported(uint dword, uint value)
    {
        // Given A stopped on a WAIT_FENCE in its own DMA buffer, and its fence then written.
        using var rig = new AdvancedRig(Options(WaitSite.UserBuffer));
        var (a, b, sync) = LeaveAnEqualOnAWait(rig, WaitSite.UserBuffer, counter: false);
        rig.Machine.VidMm.Memory.Write64(rig.Machine.VidMm.PhysicalAddressOf(sync.Handle, 0), 1);

        // When the process rewrites the packet the save area names (its buffer is its own memory: never trusted).
        var memory = rig.Machine.VidMm.Memory;
        var save = SavedContextQuery.Read(memory, a.Hw.SaveArea);
        Assert.That(save.Flags & (ContextFlags.InIndirect | ContextFlags.Waiting), Is.EqualTo(ContextFlags.InIndirect | ContextFlags.Waiting));
        ulong va = (save.IndirectAddress & ~3UL) + ((ulong)save.IndirectOffset << 2);
        var leaf = a.Process.Space.ReadLeaf(va);
        var packet = new PhysicalAddress(leaf.Location, leaf.FrameOffset + (va & 0xFFF));
        memory.Write32(packet.Add(dword * 4), value);
        ulong fenceVa = memory.Read32(packet.Add(4)) | ((ulong)memory.Read32(packet.Add(8)) << 32);
        if (fenceVa != sync.Va && fenceVa < 1UL << 48) Assert.That(a.Process.Space.ReadLeaf(fenceVa).IsValid, Is.False, "the rewritten VA is unmapped");
        var auditor = AuditTwentyQuantaOf(rig, b);

        // Then the auditor neither throws nor reports A: what it cannot read as a satisfied WAIT is still a wait.
        Assert.That(auditor.Findings, Is.Empty);
    }

    private static RigOptions Options(WaitSite site) => new()
    {
        RunLists = RunListMechanism.History,
        QuantumCycles = Quantum,
        Privilege = site == WaitSite.Ring ? PrivilegeEnforcement.RingInsertion : PrivilegeEnforcement.IndirectBit,
    };

    // Two equals of one process: A stopped on a WAIT (counter) or WAIT_FENCE on `sync` (zero: unsatisfied) at `site` — the
    // device switched away from it (LeftOnWait) — and B with a long buffer running.
    private static (VaContext A, VaContext B, GpuAllocation Sync) LeaveAnEqualOnAWait(AdvancedRig rig, WaitSite site, bool counter)
    {
        var p = rig.Scheduler.CreateProcess();
        var a = rig.Scheduler.CreateContext(p, 5);
        var b = rig.Scheduler.CreateContext(p, 5);
        var sync = p.AllocatePinned(4096);
        var big = p.AllocatePinned(1 << 20);
        void Wait(ref PacketWriter w)
        {
            if (counter) w.Wait(sync.Va);
            else w.WaitFence(sync.Va, 1);
            w.WriteData(sync.Va + 8, 1);
        }
        if (site == WaitSite.UserBuffer) rig.Submit(a, Wait);
        else
        {
            var packets = new uint[16];
            var w = new PacketWriter(packets);
            Wait(ref w);
            Assert.That(rig.Scheduler.TrySubmitKernelCommands(a, w.WrittenSpan, out _), Is.True);
        }
        rig.Submit(b, (ref PacketWriter w) => { for (int i = 0; i < 150; i++) w.Fill(big.Va, (uint)i, 1 << 20); });
        rig.Machine.RunFor(100_000);
        Assert.That(a.LeftOnWait, Is.True, "precondition: A's turn ended on its WAIT");
        Assert.That(rig.Scheduler.RunLists.RunningContext, Is.EqualTo(b.SaveArea), "precondition: B runs");
        return (a, b, sync);
    }

    // Two contexts of one process with the given priorities, each with one buffer queued (nothing run yet).
    private static (VaContext, VaContext) TwoContexts(AdvancedRig rig, int first, int second)
    {
        var p = rig.Scheduler.CreateProcess();
        var target = p.AllocatePinned(4096);
        var x = rig.Scheduler.CreateContext(p, first);
        var y = rig.Scheduler.CreateContext(p, second);
        rig.Submit(x, (ref PacketWriter w) => w.WriteData(target.Va, 1));
        rig.Submit(y, (ref PacketWriter w) => w.WriteData(target.Va + 4, 2));
        return (x, y);
    }
}
