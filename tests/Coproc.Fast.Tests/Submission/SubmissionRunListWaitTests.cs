using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Submission;

/// <summary>
/// Found by <c>coproc-fuzz campaign submit</c> (seed 11, case 974, minimized). A run-list context whose recording stops on
/// a WAIT yields the engine; docs/models.md ("Strict priority in the run-list back end") says such a head gets its engine
/// back once its wait may be over, "at each quantum tick". Here the context's earlier recording ran to completion, then its
/// second one stops on a WAIT, and the CPU then makes the counter non-zero: the WAIT must be re-executed and the machine
/// must go idle. Instead no event is left armed — no quantum tick, the engine waiting is not busy — so
/// <see cref="Machine.RunUntilIdle"/> returns false at once without time moving, for ever. Without the earlier
/// recording (the context's first run list is submitted then and the timer armed) it goes idle.
/// </summary>
/// <remarks>Not fixed (RunListScheduler's quantum timer). Explicit until the fix is merged (docs/reliability.md).</remarks>
[TestFixture]
public class SubmissionRunListWaitTests
{
    [Test, Explicit("product bug found by the submit campaign; not fixed yet")]
    public void Reproducer_Advanced_GivenAWaitSatisfiedByTheCpuAfterAnEarlierRecordingRan_ThenTheContextRunsOnAndTheMachineGoesIdle()
    {
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new CoprocessorOptions { LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 24UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            Scheduler = new VidSchOptions { QuantumCycles = 200_000, TimeoutCycles = 5_000_000 },
            RunLists = new RunListOptions { TimeoutCycles = 50_000_000 },
        });
        var context = m.OpenContext(1, priority: 1);
        m.OpenContext(2, priority: 1);
        m.OpenContext(3, priority: 0);
        var source = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var counters = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var counter = m.VidMm.PhysicalAddressOf(counters, 0x498);

        Assert.That(m.TrySubmit(context, r => r.Copy(counters, 0x6AC, source, 0x378, 0xC8)), Is.True);
        m.RunUntilIdle(2_349_586);
        m.RunFor(1_324_055);
        Assert.That(m.TrySubmit(context, r => r.Wait(counters, 0x498)), Is.True);
        m.RunFor(1_598_729);
        Assert.That(m.Device.Memory.Read32(counter), Is.Zero, "premise: the WAIT is waiting");

        m.Device.Memory.Write32(counter, 0x4000_0000); // the process's CPU releases it
        ulong before = m.Now;
        bool idle = m.RunUntilIdle(100_000_000);
        Assert.That(idle, Is.True, $"the machine goes idle (time moved {m.Now - before} cycles; the counter reads 0x{m.Device.Memory.Read32(counter):X})");
        Assert.That(m.Device.Memory.Read32(counter), Is.EqualTo(0x3FFF_FFFFu), "the WAIT ran and took one");
        Assert.That(((VaContext)context).IsStopped, Is.False);
    }
}
