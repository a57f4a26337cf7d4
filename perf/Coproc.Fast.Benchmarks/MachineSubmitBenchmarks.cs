using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// <see cref="Machine.TrySubmit{TState}(GpuContext, TState, Action{WorkRecorder, TState})"/> in each scheduling model
/// (docs/models.md "One submission call"): one recording (a WRITE_DATA and a FENCE) per operation, sent down the model's
/// path — the kernel path's UMD builder, gate and KMD; a run-list DMA buffer with VAs; a user queue's packets and one
/// doorbell — and run to idle on this thread (deterministic machine). <see cref="SubmitOnly"/> is the call alone, the
/// machine drained after every 8 (so the path never runs out of room). The Allocated column is the claim: 0 B per
/// operation in steady state, on every path.
/// </summary>
[MemoryDiagnoser]
public class MachineSubmitBenchmarks
{
    private const int Batch = 8;
    private Machine _machine = null!;
    private GpuContext _context = null!;
    private (AllocationHandle Target, AllocationHandle Fence, ulong Value) _state;

    /// <summary>The machine's scheduling model.</summary>
    [Params(SchedulingModel.Basic, SchedulingModel.Advanced, SchedulingModel.Hardware)]
    public SchedulingModel Model { get; set; }

    /// <summary>A machine of <see cref="Model"/> with one context of process 1 and two of its allocations.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _machine = new Machine(new MachineOptions
        {
            Model = Model,
            Device = new CoprocessorOptions { LocalMemoryBytes = 16UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
        });
        var target = _machine.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var fence = _machine.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        _context = _machine.OpenContext(1);
        _state = (target, fence, 0);
    }

    /// <summary>Disposes the machine.</summary>
    [GlobalCleanup]
    public void Cleanup() => _machine.Dispose();

    private static void Record(WorkRecorder r, (AllocationHandle Target, AllocationHandle Fence, ulong Value) s)
    {
        r.WriteData(s.Target, 0, (uint)s.Value);
        r.Fence(s.Fence, 0, s.Value);
    }

    /// <summary>One recording submitted and run until the machine is idle.</summary>
    [Benchmark]
    public bool SubmitAndRun()
    {
        _state.Value++;
        bool ok = _machine.TrySubmit(_context, _state, Record);
        _machine.RunUntilIdle();
        return ok;
    }

    /// <summary>The call alone: <see cref="Batch"/> recordings submitted, then the machine drained (counted in the time).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int SubmitOnly()
    {
        int accepted = 0;
        for (int i = 0; i < Batch; i++)
        {
            _state.Value++;
            if (_machine.TrySubmit(_context, _state, Record)) accepted++;
        }
        _machine.RunUntilIdle();
        return accepted;
    }
}
