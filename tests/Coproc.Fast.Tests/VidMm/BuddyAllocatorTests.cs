using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Tests.VidMm;

public class BuddyAllocatorTests
{
    [Test]
    public void Allocate_NonPowerOfTwo_ReturnsTheTailToThePool()
    {
        var b = new BuddyAllocator(1024);
        Assert.That(b.TryAllocate(3, 0, out ulong s), Is.True);
        Assert.That(b.FreeUnits, Is.EqualTo(1021UL));
        Assert.That(b.IsFree(s + 3), Is.True);
        Assert.That(b.IsFree(s + 2), Is.False);
    }

    [Test]
    public void Allocate_HonoursAlignment_OfAnyPowerOfTwo()
    {
        var b = new BuddyAllocator(4096);
        Assert.That(b.TryAllocate(1, 0, out _), Is.True);
        Assert.That(b.TryAllocate(1, 4, out ulong a16), Is.True);
        Assert.That(b.TryAllocate(2, 9, out ulong a512), Is.True);
        Assert.That(a16 % 16, Is.Zero);
        Assert.That(a512 % 512, Is.Zero);
        Assert.That(b.FreeUnits, Is.EqualTo(4096UL - 4));
    }

    [Test]
    public void FreeEverything_MergesBackToTheInitialBlocks()
    {
        var b = new BuddyAllocator(1000);
        var initial = b.SnapshotFreeRanges();
        var got = new List<(ulong, ulong)>();
        for (ulong n = 1; n < 20; n++) { Assert.That(b.TryAllocate(n, 0, out ulong s), Is.True); got.Add((s, n)); }
        foreach (var (s, n) in got) b.FreeRange(s, n);
        Assert.That(b.SnapshotFreeRanges(), Is.EqualTo(initial));
        Assert.That(b.FreeUnits, Is.EqualTo(1000UL));
        Assert.That(b.TryAllocate(512, 0, out ulong whole), Is.True, "lazily merged buddies coalesce on demand");
        Assert.That(whole, Is.Zero);
    }

    [Test]
    public void AllocFreePingPong_InAHugeEmptyRange_DoesNotResplitEveryTime()
    {
        var b = new BuddyAllocator(1UL << 35);
        Assert.That(b.TryAllocate(1, 0, out ulong first), Is.True);
        b.FreeRange(first, 1);
        for (int i = 0; i < 100; i++)
        {
            Assert.That(b.TryAllocate(1, 0, out ulong s), Is.True);
            Assert.That(s, Is.LessThan(2UL), "served from the order-0 blocks left by the first split");
            b.FreeRange(s, 1);
        }
        Assert.That(b.SnapshotFreeRanges(), Is.EqualTo(new[] { (0UL, 1UL << 35) }));
    }

    [Test]
    public void AllocateAt_TakesExactlyTheRange_AndRefusesAnOverlap()
    {
        var b = new BuddyAllocator(256);
        Assert.That(b.TryAllocateAt(5, 10), Is.True);
        Assert.That(b.FreeUnits, Is.EqualTo(246UL));
        for (ulong u = 0; u < 20; u++) Assert.That(b.IsFree(u), Is.EqualTo(u < 5 || u >= 15), $"unit {u}");
        var before = b.SnapshotFreeRanges();
        Assert.That(b.TryAllocateAt(14, 2), Is.False);
        Assert.That(b.SnapshotFreeRanges(), Is.EqualTo(before));
        Assert.That(b.TryAllocateAt(250, 7), Is.False, "past the end");
    }

    [Test]
    public void Exhaustion_FailsWithoutChangingState()
    {
        var b = new BuddyAllocator(64);
        Assert.That(b.TryAllocate(40, 0, out _), Is.True);
        var before = b.SnapshotFreeRanges();
        Assert.That(b.TryAllocate(32, 0, out _), Is.False);
        Assert.That(b.SnapshotFreeRanges(), Is.EqualTo(before));
    }
}
