using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.Umd;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 1, the device's fixed cost per service: single-threaded, no device thread. The baseline is one
/// <see cref="Coprocessor.Step"/> of the ring-3 workload's device with nothing to do (its user queue registered and
/// drained, every engine idle); the other row writes one 64-byte NOP into the user queue, publishes it, rings the doorbell
/// and steps once — the scheduling core services the doorbell and the render engine loads the queue, executes the packet
/// and writes ReadPtr back. Their difference is the per-packet cost of a doorbell per packet on the device side. The
/// third row submits 64 packets with a doorbell each before one Step (the batching a busy device thread sees), per packet.
/// </summary>
[MemoryDiagnoser]
public class StepFixedCostBenchmarks
{
    private Ring3QueueWorkload _workload = null!;
    private Coprocessor _device = null!;
    private UserQueue _queue = null!;

    [GlobalSetup]
    public void Setup()
    {
        _workload = new Ring3QueueWorkload(startDeviceThread: false);
        _device = _workload.Device;
        _queue = _workload.Queue;
    }

    [GlobalCleanup]
    public void Cleanup() => _workload.Dispose();

    /// <summary>Baseline: one Step with nothing rung, loaded or pending.</summary>
    [Benchmark(Baseline = true)]
    public ulong IdleStep()
    {
        _device.Step(Ring3DeviceThread.StepCycles);
        return _device.Cycle;
    }

    /// <summary>One packet submitted (write + publish + doorbell), then one Step that executes it.</summary>
    [Benchmark]
    public ulong DoorbellOnePacketThenStep()
    {
        _queue.TrySubmit(_workload.Packet);
        _device.Step(Ring3DeviceThread.StepCycles);
        if (!_workload.Drained) throw new InvalidOperationException("one Step did not drain the packet");
        return _device.Cycle;
    }

    /// <summary>64 packets each submitted with its own doorbell (coalesced until the core takes it), then one Step: per packet.</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public ulong SixtyFourDoorbellsThenStep()
    {
        var q = _queue;
        ReadOnlySpan<uint> p = _workload.Packet;
        for (int i = 0; i < 64; i++) q.TrySubmit(p);
        _device.Step(Ring3DeviceThread.StepCycles);
        if (!_workload.Drained) throw new InvalidOperationException("one Step did not drain the packets");
        return _device.Cycle;
    }
}
