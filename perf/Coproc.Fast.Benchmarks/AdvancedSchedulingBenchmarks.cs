using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// The advanced model (seed 001 §4–§6) in host time through a deterministic <see cref="Machine"/> in the advanced model: one user
/// DMA buffer submitted as is and retired (ring insertion, run list, device, fence interrupt) — the baseline — beside one
/// demand-paging round trip (the buffer touches an evicted surface: page fault, paging list, paging thread, paging buffer
/// in VidMm's context, Faulted cleared, re-execution). The ratio is what a fault costs the driver over a plain submission.
/// </summary>
[MemoryDiagnoser]
public class AdvancedSchedulingBenchmarks
{
    private Machine _m = null!;
    private VaContext _ctx = null!, _evictor = null!;
    private UserDmaBuffer _plain = null!, _faulting = null!, _evict = null!;
    private int _plainDwords, _faultingDwords, _evictDwords;

    /// <summary>Builds a machine whose local memory holds one of two 2 MiB surfaces at a time.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Advanced,
            Device = new() { LocalMemoryBytes = 6UL << 20, SystemMemoryBytes = 32UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0 },
            RunLists = new RunListOptions { Mechanism = RunListMechanism.History },
        });
        var p = _m.RunListScheduler.CreateProcess();
        _ctx = _m.RunListScheduler.CreateContext(p);
        _evictor = _m.RunListScheduler.CreateContext(p);
        var log = p.AllocatePinned(4096);
        var a = p.AllocateSurface(2 << 20);
        var b = p.AllocateSurface(2 << 20);
        var c = p.AllocateSurface(2 << 20);
        _plain = Write(p, (ref PacketWriter w) => w.WriteData(log.Va, 1), out _plainDwords);
        _faulting = Write(p, (ref PacketWriter w) => w.WriteData(a.Va, 2), out _faultingDwords);
        // Touching b and c (listed) evicts a, so the next faulting buffer faults again.
        _evict = Write(p, (ref PacketWriter w) => { w.WriteData(b.Va, 3); w.WriteData(c.Va, 3); }, out _evictDwords);
        _evictHandles = [b.Handle, c.Handle];
    }

    private AllocationHandle[] _evictHandles = [];

    private delegate void Emit(ref PacketWriter w);

    private static UserDmaBuffer Write(VaProcess p, Emit emit, out int dwords)
    {
        var buf = p.CreateDmaBuffer(64);
        var w = buf.Writer();
        emit(ref w);
        dwords = w.Written;
        return buf;
    }

    /// <summary>Submit one buffer as is and run until it retired.</summary>
    [Benchmark(Baseline = true)]
    public bool SubmitToRetire()
    {
        _m.RunListScheduler.TrySubmit(_ctx, _plain, _plainDwords, [], out var t);
        return _m.RunUntil(() => t.IsComplete);
    }

    /// <summary>Evict the surface (by paging in two others), then submit a buffer that faults on it and run until it retired.</summary>
    [Benchmark]
    public bool FaultRoundTrip()
    {
        _m.RunListScheduler.TrySubmit(_evictor, _evict, _evictDwords, _evictHandles, out var e);
        _m.RunUntil(() => e.IsComplete);
        _m.RunListScheduler.TrySubmit(_ctx, _faulting, _faultingDwords, [], out var t);
        return _m.RunUntil(() => t.IsComplete);
    }

    /// <summary>Frees the machine.</summary>
    [GlobalCleanup]
    public void Cleanup() => _m.Dispose();
}
