using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Sync;

namespace Coproc.Fast.Tests.Fences;

public class MonitoredFenceTests
{
    private DeviceMemory _memory = null!;

    [SetUp]
    public void SetUp() => _memory = DeviceMemory.Allocate(2UL << 20, 1UL << 20);

    [TearDown]
    public void TearDown() => _memory.Dispose();

    [Test]
    public void Comparison_IsWrapSafe()
    {
        Assert.That(FenceValue.IsReached(5, 5), Is.True);
        Assert.That(FenceValue.IsReached(4, 5), Is.False);
        Assert.That(FenceValue.IsReached(2, ulong.MaxValue - 1), Is.True, "2 comes after 2^64-2 across the wrap");
        Assert.That(FenceValue.IsReached(ulong.MaxValue - 1, 2), Is.False);
        Assert.That(FenceValue.Precedes(ulong.MaxValue, 0), Is.True);
    }

    [Test]
    public void CpuSignal_OnlyIncreases_AndIsVisibleInMemory()
    {
        var f = new MonitoredFence(_memory, PhysicalAddress.System(0x100));
        f.Signal(10);
        f.Signal(7);
        Assert.That(f.CurrentValue, Is.EqualTo(10UL));
        Assert.That(_memory.Read64(PhysicalAddress.System(0x100)), Is.EqualTo(10UL));
        Assert.That(f.IsSignaled(10) && !f.IsSignaled(11), Is.True);
        Assert.That(f.TryWait(11, out ulong cur), Is.False);
        Assert.That(cur, Is.EqualTo(10UL));
    }

    [Test]
    public void DeviceWrittenValue_ThenNotify_WakesTheBlockedWaiter()
    {
        var at = PhysicalAddress.System(0x200);
        var f = new MonitoredFence(_memory, at);
        bool result = false;
        var t = new Thread(() => result = f.Wait(3, TimeSpan.FromSeconds(30), spinIterations: 0));
        t.Start();
        SpinUntil(() => f.BlockedWaiters == 1);
        _memory.Write64(at, 3); // the device's FENCE packet
        // The waiter may still be in its Dekker re-check after registering: then it sees the value itself and wakes
        // itself, and this notification finds nobody left. Either way exactly one wake-up happens and nobody stays blocked.
        Assert.That(f.NotifySignaled(), Is.InRange(0, 1));
        Assert.That(t.Join(TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(result, Is.True);
        Assert.That(f.BlockedWaiters, Is.Zero);
    }

    [Test]
    public void Signal_WakesExactlyTheWaitersItSatisfies_OthersKeepWaiting()
    {
        // Given 24 waiters on values 1..24 in scrambled order, all blocked.
        var f = new MonitoredFence(_memory, PhysicalAddress.System(0x300));
        const int N = 24;
        var done = new int[N + 1];
        var threads = Enumerable.Range(1, N).OrderBy(i => (i * 37) % N).Select(v => new Thread(() =>
        {
            if (f.Wait((ulong)v, TimeSpan.FromSeconds(60), spinIterations: 0)) Volatile.Write(ref done[v], 1);
        })).ToArray();
        foreach (var t in threads) t.Start();
        SpinUntil(() => f.BlockedWaiters == N);

        // When the fence reaches 10, then exactly waiters 1..10 wake.
        Assert.That(f.Signal(10), Is.EqualTo(10));
        Assert.That(f.BlockedWaiters, Is.EqualTo(N - 10));
        SpinUntil(() => done.Take(11).Sum() == 10);
        Assert.That(done.Skip(11).Sum(), Is.EqualTo(0), "no waiter above 10 woke");

        Assert.That(f.Signal(10), Is.EqualTo(0), "signalling the same value again wakes nobody");
        Assert.That(f.Signal(24), Is.EqualTo(N - 10));
        foreach (var t in threads) Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True);
        Assert.That(done.Sum(), Is.EqualTo(N));
    }

    [Test]
    public void Wait_TimesOutWhenNeverSignalled_AndLeavesNoWaiterBehind()
    {
        var f = new MonitoredFence(_memory, PhysicalAddress.System(0x400));
        Assert.That(f.Wait(1, TimeSpan.FromMilliseconds(5), spinIterations: 10), Is.False);
        Assert.That(f.BlockedWaiters, Is.EqualTo(0));
        f.Signal(1);
        Assert.That(f.Wait(1, TimeSpan.Zero, spinIterations: 0), Is.True, "an already reached value never blocks");
    }

    [Test]
    public void RacingSignalsAndWaits_NeverLoseAWakeUp()
    {
        var f = new MonitoredFence(_memory, PhysicalAddress.System(0x500));
        const int Values = 2000;
        var waiter = new Thread(() =>
        {
            for (ulong v = 1; v <= Values; v++)
                if (!f.Wait(v, TimeSpan.FromSeconds(30), spinIterations: (int)(v % 3))) throw new TimeoutException($"lost wake-up at {v}");
        });
        waiter.Start();
        for (ulong v = 1; v <= Values; v++) f.Signal(v);
        Assert.That(waiter.Join(TimeSpan.FromSeconds(60)), Is.True);
    }

    [Test]
    public void MisalignedOrOutOfRangeFence_IsRejected()
    {
        Assert.Throws<ArgumentException>(() => new MonitoredFence(_memory, PhysicalAddress.System(0x104)));
        Assert.Throws<PhysicalAccessFaultException>(() => new MonitoredFence(_memory, PhysicalAddress.System(1UL << 20)));
    }

    private static void SpinUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "condition not reached: failure, not a pass");
            Thread.Yield();
        }
    }
}
