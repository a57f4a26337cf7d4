using BenchmarkDotNet.Attributes;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 6, second half, swept for goal 7: the basic-model VidSch's scheduling decision — take the
/// highest-priority, earliest-round buffer from the <see cref="ReadyQueue"/> (seed 001 §3.3, §13) and insert the same
/// context's next buffer one round later (§5.5 Fig. 2 round-robin among equals) — with 16, 256 and 4,096 contexts
/// each holding one buffer in the queue (4,096 is goal 7's context count). The baseline in the same class is the
/// same take + insert on a <see cref="PriorityQueue{TElement, TPriority}"/> (binary heap, O(log n)) holding the same
/// count. Times are per decision; goal: &lt; 1 µs and flat (O(1) or O(log n)) in the count; 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public class SchedulingDecisionBenchmarks
{
    private const int Decisions = 1024;

    /// <summary>Contexts, each with one buffer waiting in the ready queue.</summary>
    [Params(16, 256, 4096)]
    public int Contexts { get; set; }

    private ReadyQueue _ready = null!;
    private PriorityQueue<DmaBuffer, long> _heap = null!;
    private long _sequence;

    /// <summary>Fills both queues with one buffer per context (its own owner, priority 0, round 1).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _ready = new ReadyQueue();
        _heap = new PriorityQueue<DmaBuffer, long>(Contexts);
        for (int i = 0; i < Contexts; i++)
        {
            // The buffers are scheduler bookkeeping only here: no process, allocation or packets are touched.
            _ready.Insert(NewBuffer(i));
            var b = NewBuffer(i);
            _heap.Enqueue(b, b.Sequence);
        }
        ReadyDecisions();
        if (_ready.Count != Contexts) throw new InvalidOperationException("the ready queue lost or gained buffers");
    }

    private DmaBuffer NewBuffer(int context) => new(null!, default, default, 0, 0, 0)
    {
        Owner = context, Round = 1, Sequence = ++_sequence, Status = DmaBufferStatus.Ready,
    };

    /// <summary>Baseline: <see cref="PriorityQueue{TElement, TPriority}"/> dequeue + enqueue (next sequence), per decision.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Decisions)]
    public long HeapDequeueEnqueue()
    {
        var heap = _heap;
        long seq = _sequence;
        for (int i = 0; i < Decisions; i++)
        {
            var b = heap.Dequeue();
            b.Sequence = ++seq;
            heap.Enqueue(b, seq);
        }
        _sequence = seq;
        return seq;
    }

    /// <summary>VidSch's ready queue: take the head, re-insert it as its context's next buffer (round + 1), per decision.</summary>
    [Benchmark(OperationsPerInvoke = Decisions)]
    public long ReadyDecisions()
    {
        var q = _ready;
        long seq = _sequence;
        for (int i = 0; i < Decisions; i++)
        {
            q.TryTake(out var b);
            b.Round++;
            b.Sequence = ++seq;
            q.Insert(b);
        }
        _sequence = seq;
        return seq;
    }
}
