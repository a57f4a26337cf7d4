using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>
/// The ready queue's window-over-an-array storage (O(1) scheduling decision, docs/performance.md goal 6) against a plain
/// sorted list with the same order (seed 001 §3.3: priority, then round, then submission), through the slide, the
/// growth and owner removal.
/// </summary>
[TestFixture]
public sealed class ReadyQueueTests
{
    private static int Compare(DmaBuffer a, DmaBuffer b)
    {
        int c = b.Priority.CompareTo(a.Priority);
        if (c != 0) return c;
        c = a.Round.CompareTo(b.Round);
        return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
    }

    [Test]
    public void GivenMixedInsertsTakesAndRemovals_WhenComparedWithASortedList_ThenTheOrderIsAlwaysTheSame()
    {
        var process = new KmdProcess(1);
        var owners = new object[7];
        for (int i = 0; i < owners.Length; i++) owners[i] = new object();
        var rng = new Random(1234);
        var q = new ReadyQueue();
        var reference = new List<DmaBuffer>();
        var removed = new List<DmaBuffer>();
        long seq = 0;
        for (int step = 0; step < 20_000; step++)
        {
            int op = rng.Next(100);
            // Phases: grow past the initial capacity, then churn (slides), then drain.
            bool grow = step < 2_000, drain = step >= 18_000;
            if (!drain && (op < (grow ? 70 : 50)))
            {
                var b = new DmaBuffer(process, default, default, 0, 64, 1)
                {
                    Priority = rng.Next(3), Owner = owners[rng.Next(owners.Length)], Round = (ulong)rng.Next(1, 40), Sequence = ++seq,
                };
                q.Insert(b);
                int at = reference.FindIndex(x => Compare(x, b) > 0);
                reference.Insert(at < 0 ? reference.Count : at, b);
            }
            else if (op < 98 || drain)
            {
                bool took = q.TryTake(out var b);
                Assert.That(took, Is.EqualTo(reference.Count > 0));
                if (took) { Assert.That(b, Is.SameAs(reference[0])); reference.RemoveAt(0); }
            }
            else
            {
                var owner = owners[rng.Next(owners.Length)];
                removed.Clear();
                q.RemoveOwnedBy(owner, removed);
                Assert.That(removed, Is.EqualTo(reference.Where(x => ReferenceEquals(x.Owner, owner)).ToList()));
                reference.RemoveAll(x => ReferenceEquals(x.Owner, owner));
            }
            Assert.That(q.Count, Is.EqualTo(reference.Count));
            if (reference.Count > 0) Assert.That(q[reference.Count - 1], Is.SameAs(reference[^1]));
        }
        while (q.TryTake(out var rest)) { Assert.That(rest, Is.SameAs(reference[0])); reference.RemoveAt(0); }
        Assert.That(reference, Is.Empty);
        Assert.That(() => q[0], Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void GivenOneBufferPerContext_WhenTheHeadIsReinsertedOneRoundLater_ThenContextsRunRoundRobin()
    {
        var process = new KmdProcess(1);
        var q = new ReadyQueue();
        long seq = 0;
        for (int i = 0; i < 100; i++)
            q.Insert(new DmaBuffer(process, default, default, 0, 64, 1) { Owner = i, Round = 1, Sequence = ++seq });
        for (int n = 0; n < 1_000; n++)
        {
            Assert.That(q.TryTake(out var b), Is.True);
            Assert.That(b.Owner, Is.EqualTo(n % 100));
            b.Round++;
            b.Sequence = ++seq;
            q.Insert(b);
        }
        Assert.That(q.Count, Is.EqualTo(100));
    }

    private readonly record struct Item(int Priority, ulong Round, long Sequence, int Tag);

    private readonly struct ItemKey : IReadyKeyOf<Item>
    {
        public static ReadyKey KeyOf(Item i) => new(i.Priority, i.Round, i.Sequence);
    }

    [Test]
    public void GivenValueItemsOfAnotherBackEnd_WhenInsertedInAnyOrderAndCleared_ThenTheyComeOutInTheOneReadyOrderEachTime()
    {
        // The run-list back end's use (RunListScheduler.RunList.cs): rebuilt from scratch on every pass, read by index.
        var rng = new Random(77);
        var q = new ReadyQueue<Item, ItemKey>();
        for (int pass = 0; pass < 200; pass++)
        {
            q.Clear();
            var items = Enumerable.Range(0, rng.Next(0, 40))
                .Select(t => new Item(rng.Next(-2, 3), (ulong)rng.Next(0, 5), rng.Next(0, 3), t)).ToList();
            foreach (var i in items) q.Insert(i);
            // Priority down, then round up, then sequence up; equal keys in insertion order (a stable sort).
            var expected = items.OrderByDescending(i => i.Priority).ThenBy(i => i.Round).ThenBy(i => i.Sequence).ToList();
            Assert.That(Enumerable.Range(0, q.Count).Select(k => q[k]), Is.EqualTo(expected), $"pass {pass}");
        }
    }
}
