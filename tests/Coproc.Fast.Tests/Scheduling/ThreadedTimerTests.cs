using Coproc.Fast.Driver;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Review fixes: the threaded machine's one shared timer must not lose an expired-but-unfired request.</summary>
public class ThreadedTimerTests
{
    [Test]
    public void ExpiredTimerNotYetFired_IsNotPostponedByALaterRequest()
    {
        // Given a threaded machine (threads not started) whose timer was armed for cycle 100 by one engine ...
        using var machine = new Machine(new MachineOptions { Mode = MachineRunMode.Threaded });
        var host = machine.Scheduler.Host!;
        host.RequestTimer(100);
        // ... and the device has passed cycle 100 before the scheduler thread fired it.
        machine.PublishCycleForTest(150);

        // When another engine asks for a later timer.
        host.RequestTimer(5_000);

        // Then the pending timer still fires at 100 (the first engine's quantum end is not postponed to 5,000).
        Assert.That(machine.PendingTimerCycle, Is.EqualTo(100));
    }

    [Test]
    public void EarlierRequest_ReplacesALaterPendingTimer()
    {
        using var machine = new Machine(new MachineOptions { Mode = MachineRunMode.Threaded });
        var host = machine.Scheduler.Host!;
        host.RequestTimer(5_000);
        host.RequestTimer(300);
        Assert.That(machine.PendingTimerCycle, Is.EqualTo(300));
    }
}
