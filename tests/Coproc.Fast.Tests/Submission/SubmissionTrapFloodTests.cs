using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Interrupts;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Submission;

/// <summary>
/// Found by <c>coproc-fuzz campaign submit</c> (seed 1, case 1735). A recording may hold thousands of TRAPs, each an
/// interrupt (native-layout.md §8.2); the interrupt controller's information queue holds 64 entries and drops the rest,
/// counting them in INFO_DROPPED (§9.1–§9.2). docs/reliability.md promises that after any attack the machine still goes
/// idle and nothing stays pending: an attacker's interrupt flood must not make the kernel lose an interrupt it depends on
/// (here, it seems, the CONTEXT_SWITCH report of a preemption the victim's higher priority caused: the render scheduler is
/// left with a switch pending to the victim's context and one buffer in flight, the engine loaded and empty).
/// </summary>
/// <remarks>
/// Not fixed: the interrupt service routine (Machine/InterruptServiceRoutine.cs) never reads INFO_DROPPED, and no
/// scheduler re-synchronizes from the engines' registers after a drop. Explicit until the fix is merged
/// (docs/reliability.md: the suite stays green, the test runs when selected by name).
/// </remarks>
[TestFixture]
public class SubmissionTrapFloodTests
{
    [Test, Explicit("product bug found by the submit campaign; not fixed yet")]
    public void Reproducer_GivenAnAttackersTrapFloodWhileAHigherPriorityVictimSubmits_ThenTheMachineStillGoesIdle_AndNothingStaysOutstanding()
    {
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Basic,
            Device = new CoprocessorOptions { LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 24UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 5_000_000 },
        });
        var attacker = m.OpenContext(1, priority: 0);
        var victim = m.OpenContext(2, priority: 1);
        var counters = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var data = m.Kmd.Allocate(2, 16 << 10);
        var fence = m.Kmd.Allocate(2, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        ulong Fence() => m.Device.Memory.Read64(m.VidMm.PhysicalAddressOf(fence, 0));

        // The attacker's context is loaded and idle, then it floods TRAPs while the victim submits three jobs.
        Assert.That(m.TrySubmit(attacker, r => r.Signal(counters, 0xFFC)), Is.True);
        m.RunFor(838_929);
        Assert.That(m.TrySubmit(attacker, r => { r.WriteData(counters, 0, 5); for (int i = 0; i < 2048; i++) r.Trap(7); }), Is.True);
        for (ulong job = 1; job <= 3; job++)
        {
            ulong j = job;
            Assert.That(m.TrySubmit(victim, r => { r.Fill(data, 0, (uint)j, 16 << 10); r.Fence(fence, 0, j); }), Is.True);
            Assert.That(m.RunUntil(() => Fence() == j, 500_000_000), Is.True, $"the victim's job {job} finished");
        }
        Assert.That(m.Device.Mmio.Read32(MmioMap.InterruptBase + InterruptRegisters.InfoDropped), Is.GreaterThan(0u), "premise: interrupts were dropped");

        Assert.That(m.RunUntilIdle(800_000_000), Is.True, "the machine goes idle after the flood");
        Assert.That(m.Kmd.Process(1).Outstanding, Is.Zero, "the attacker's submissions all finished");
        Assert.That(m.Kmd.Process(2).Outstanding, Is.Zero, "the victim's submissions all finished");
    }
}
