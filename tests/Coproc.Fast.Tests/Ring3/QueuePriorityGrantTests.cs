namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// The kernel grants a user queue's priority at registration (docs/scheduling-policy.md rule 3; native-layout.md §13.7):
/// ring 3 asks, the registrar caps the request at what the process is allowed and programs the doorbell block with it.
/// </summary>
[TestFixture]
public sealed class QueuePriorityGrantTests
{
    [Test]
    public void GivenAProcessLimitedToSix_WhenItAsksForFifteen_ThenItsQueueRunsAtSix()
    {
        using var h = new Ring3Harness();
        h.Registrar.SetPriorityLimit(7, 6);

        var (reg, _) = h.Open(process: 7, slot: 0, context: 70, priority: 15);

        Assert.That(reg.Priority, Is.EqualTo(6));
        Assert.That(h.Device.DoorbellBlock[reg.Doorbell].Priority, Is.EqualTo(6), "the device holds the granted priority, not the request");
    }

    [Test]
    public void GivenALimit_ARequestBelowItIsGrantedAsAsked_AndOtherProcessesKeepTheDefault()
    {
        using var h = new Ring3Harness();
        h.Registrar.SetPriorityLimit(7, 6);

        var (low, _) = h.Open(process: 7, slot: 0, context: 70, priority: 3);
        var (other, _) = h.Open(process: 8, slot: 1, context: 80, priority: 15);

        Assert.That(low.Priority, Is.EqualTo(3));
        Assert.That(other.Priority, Is.EqualTo(h.Registrar.DefaultPriorityLimit));
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Registrar.SetPriorityLimit(7, 16));
    }
}
