using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Submission;

/// <summary>
/// Found in review: VidSchScheduler.Resynchronize kept the loaded kernel context "loaded" when CURRENT_CONTEXT names a user queue
/// (§13.7 set-aside), but never stopped its clock as Handle does for a UserQueuePreempted report (Unload). If that report
/// is dropped in a flood (or skipped as one of raisedBefore), the context's time set aside is charged as time holding
/// the engine (invariant R1) and a healthy context is reset for a timeout.
/// </summary>
[TestFixture]
public class InterruptLossUserQueueSetAsideTests
{
    private sealed class Tap : IInterruptTap
    {
        public int PreemptReports;
        public uint Watched;
        public void OnInterrupts(ReadOnlySpan<InterruptRecord> records)
        {
            foreach (var r in records)
                if (r.Source == InterruptRecord.ContextSwitch && r.Data0 == (uint)SwitchReason.UserQueuePreempted && r.ContextId == Watched) PreemptReports++;
        }
    }

    [TestCase(true)]
    [TestCase(false)] // control: the same without the flood (the report is delivered): k is set aside and finishes
    public void GivenAUserQueuePreemptedReportDroppedInAFlood_ThenTheSetAsideKernelContextIsNotResetForATimeout(bool flood)
    {
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Hardware, Mode = MachineRunMode.Deterministic,
            Device = new CoprocessorOptions { LocalMemoryBytes = 8UL << 20, SystemMemoryBytes = 24UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 1_000_000 },
        });
        var tap = new Tap();
        m.InterruptTap = tap;
        var k = m.CreateContext(3, priority: 0, EngineKind.Render);
        tap.Watched = (uint)k.Id;
        var kData = m.Kmd.Allocate(3, 64 << 10);
        var kFence = m.Kmd.Allocate(3, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        ulong KFence() => m.Device.Memory.Read64(m.VidMm.PhysicalAddressOf(kFence, 0));

        var flooder = m.OpenContext(1, priority: 15, EngineKind.Copy);
        var queue = m.OpenContext(2, priority: 15, EngineKind.Render);
        var qData = m.Kmd.Allocate(2, 64 << 10);
        var qFence = m.Kmd.Allocate(2, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);

        Assert.That(m.TrySubmit(k, r => { for (int i = 0; i < 40; i++) r.Fill(kData, 0, (uint)i, 64 << 10); r.Fence(kFence, 0, 1); }), Is.True);
        m.RunFor(20_000);
        if (flood) Assert.That(m.TrySubmit(flooder, r => { for (int i = 0; i < 4000; i++) r.Trap(7); }), Is.True);
        m.RunFor(3_000);
        // The high-priority queue takes the render engine from k for far longer than k's timeout.
        Assert.That(m.TrySubmit(queue, r => { for (int i = 0; i < 2000; i++) r.Fill(qData, 0, (uint)i, 64 << 10); r.Fence(qFence, 0, 1); }), Is.True);

        bool done = m.RunUntil(() => KFence() == 1, 400_000_000);
        TestContext.Out.WriteLine($"dropped={m.Device.Mmio.Read32(Coproc.Fast.Device.Mmio.MmioMap.InterruptBase + InterruptRegisters.InfoDropped)} losses={m.InterruptLossesHandled} preemptReportsDelivered={tap.PreemptReports} kStopped={k.IsStopped} done={done} kResets={k.Resets} kFailed={k.Failed} kCompleted={k.Completed} kUqPreemptions={k.UserQueuePreemptions} queueFence={m.Device.Memory.Read64(m.VidMm.PhysicalAddressOf(qFence, 0))}");
        if (!flood) { Assert.That(done, Is.True, "control"); Assert.That(k.Resets, Is.Zero); return; }
        Assume.That(m.InterruptLossesHandled, Is.GreaterThan(0), "premise: records were dropped");
        Assume.That(tap.PreemptReports, Is.Zero, "premise: the UserQueuePreempted report for k was dropped");
        Assert.That(k.Resets, Is.Zero, "k was set aside for a queue, not hung: no timeout reset");
        Assert.That(done, Is.True, "k's job finished");
    }
}
