using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>
/// Threaded mode's bounded lag (Machine.Threaded.cs invariant T1, docs/scheduling-policy.md rule 2): the device clock
/// runs at most <see cref="MachineOptions.SchedulerLagCycles"/> past an interrupt or due timer the scheduler thread has
/// not handled, so a host that deschedules the scheduler thread cannot hand an engine to one context for many quanta.
/// </summary>
public class ThreadedLagBoundTests
{
    [Test]
    [CancelAfter(60_000)]
    public void GivenTheSchedulerThreadCannotRun_WhenTheQuantumEnds_ThenTheDeviceWaitsWithinTheLagBound()
    {
        const ulong Quantum = 100_000, Step = 4096;
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = Quantum, MaxInFlight = 1 }, MachineRunMode.Threaded,
            localBytes: 32UL << 20);
        var m = h.Machine;
        Assert.That(m.Options.SchedulerLagCycles, Is.EqualTo(50_000UL), "the documented default");
        // The scheduler thread is held (as a descheduled host thread would be) in the first pass, once armed, that handled
        // an interrupt or the quantum timer, before it publishes what it handled.
        using var release = new ManualResetEventSlim(false);
        int armed = 0;
        long heldAt = -1;
        m.BeforeHandledPublishedForTests = () =>
        {
            if (Volatile.Read(ref armed) == 0 || Interlocked.CompareExchange(ref heldAt, (long)m.Device.Cycle, -1) != -1) return;
            release.Wait(TimeSpan.FromSeconds(30)); // failure guard only
        };
        // Given two equal contexts, each with one long buffer (about 15 M cycles of fills), both in their rings ...
        var contexts = new[] { m.CreateContext(1, 4), m.CreateContext(1, 4) };
        var target = h.Allocate(1, 1 << 20);
        var ids = contexts.Select(c => h.Submit(1, c, cb => { for (int f = 0; f < 1200; f++) cb.Fill(target, 0, (uint)f, 1 << 20); })).ToArray();
        m.Start();
        for (int guard = 0; Started(h) < 2; guard++)
        {
            Assert.That(guard, Is.LessThan(50_000_000), "failure guard: both buffers reach their rings");
            Thread.SpinWait(64);
        }

        // When the scheduler thread stops before publishing a pass (the next quantum end or switch report) ...
        Volatile.Write(ref armed, 1);
        ulong stalledAt = 0, oldest = 0;
        for (long guard = 0; ; guard++)
        {
            Assert.That(guard, Is.LessThan(500_000_000L), "failure guard: the device waits for the driver");
            // A consistent sample: waiting, and the clock did not move while the oldest event was read.
            ulong before = m.Device.Cycle;
            long o = m.OldestUnhandledCycle;
            if (Volatile.Read(ref heldAt) >= 0 && m.WaitingForDriver && m.Device.Cycle == before && o <= (long)before)
            {
                stalledAt = before;
                oldest = (ulong)o;
                break;
            }
            // Without the bound the device would run both buffers to their end meanwhile.
            Assert.That(m.AllIdle, Is.False, "the device ran everything while the scheduler thread was held");
            Thread.SpinWait(64);
        }

        // Then the device stopped within the lag bound of the oldest event the scheduler had not handled ...
        Assert.That(stalledAt - oldest, Is.LessThanOrEqualTo(m.Options.SchedulerLagCycles + Step));
        Assert.That(stalledAt, Is.LessThanOrEqualTo((ulong)Volatile.Read(ref heldAt) + m.Options.SchedulerLagCycles + 2 * Step),
            "no further than the bound past the point the scheduler thread was held");
        // ... and once the scheduler runs again, everything completes.
        release.Set();
        Assert.That(m.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "bounded: the machine goes idle");
        Assert.That(contexts.Zip(ids).Select(x => x.First.StatusOf(x.Second)), Is.All.EqualTo(SubmissionStatus.Completed));
    }

    private static int Started(SchedulingHarness h)
    {
        lock (h.Trace.Events) return h.Trace.Events.Count(e => e.Kind == ScheduleEventKind.BufferStarted);
    }

    /// <summary>
    /// Invariant T2 (Machine.Threaded.cs): a reset's CONTEXT_SWITCH to idle, applied while the device waits for the driver,
    /// still reaches the scheduler. The test holds every scheduler pass that handled something until the device thread
    /// is waiting for the driver with the pass's register writes applied — the interleaving a descheduled scheduler
    /// thread produces — so the reset's report is raised while the device does not step. It hung before T2.
    /// </summary>
    [Test]
    [CancelAfter(120_000)]
    public void GivenTheDeviceWaitsForTheDriver_WhenAHungContextIsReset_ThenTheResetCompletes()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 100_000, TimeoutCycles = 300_000 }, MachineRunMode.Threaded);
        var m = h.Machine;
        m.BeforeHandledPublishedForTests = () =>
        {
            var spin = new SpinWait();
            for (int i = 0; i < 2_000 && !(m.WaitingForDriver && !m.PostedWritesPending); i++) spin.SpinOnce();
        };
        var ctx = m.CreateContext(1, 4);
        var counter = h.Allocate(1, 4096);
        m.Start();
        for (int round = 0; round < 3; round++)
        {
            // Given a context alone on the engine whose buffer WAITs on a counter nobody writes (a hang) ...
            long id = h.Submit(1, ctx, cb => cb.Wait(counter, 0));
            // When its timeout resets it, then the reset completes and the buffer ends in its typed failure.
            Assert.That(m.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, $"round {round}: bounded: the reset completes");
            Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.FailedTimeout), $"round {round}");
        }
        Assert.That(ctx.Resets, Is.EqualTo(3));
    }
}
