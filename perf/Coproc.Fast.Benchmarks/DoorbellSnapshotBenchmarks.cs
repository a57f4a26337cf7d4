using Coproc.Fast.Driver;
using System.Numerics;
using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Doorbells;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Kernel;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 6: the doorbell snapshot's cost grows with the number of rung doorbells, not with 256.
/// Each operation rings <see cref="Rung"/> doorbells (spread over all four vector words) and takes them: the baseline
/// exchanges all four words and tests all 256 bits one by one; the summary snapshot exchanges only non-empty words and
/// walks set bits with TrailingZeroCount; the scheduling-core service adds the per-doorbell descriptor check. The
/// *RingsOnly rows measure the rings alone, so the snapshot's own cost is the difference.
/// </summary>
[MemoryDiagnoser]
public class DoorbellSnapshotBenchmarks
{
    private readonly DoorbellVector _vector = new();
    private readonly DoorbellVector _neverTaken = new();
    private readonly ulong[] _naive = new ulong[4];
    private readonly ulong[] _naiveNeverTaken = new ulong[4];
    private int[] _doorbells = null!;
    private Coprocessor _device = null!;

    /// <summary>Doorbells rung per snapshot.</summary>
    [Params(1, 16, 256)]
    public int Rung { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int stride = DoorbellVector.Count / Rung;
        _doorbells = Enumerable.Range(0, Rung).Select(i => (i * stride + i / 4) % DoorbellVector.Count).Distinct().ToArray();
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 4UL << 20, ApertureBytes = 1UL << 20 });
        var registrar = new UserQueueRegistrar(new DirectDeviceBus(_device), new Ring0Gate(new Ring0GateOptions { Policy = Ring0GatePolicy.None }));
        for (int i = 0; i < DoorbellVector.Count; i++)
            registrar.Register(1, new UserQueueRegistrationRequest
            {
                ContextId = (uint)i, Engine = (EngineKind)(i % Engines.Count), TimeSliceCycles = 1000,
                DescriptorAddress = PhysicalAddress.System(0x1000 + (ulong)i * 256).Encoded,
                RingBase = PhysicalAddress.System(1UL << 20).Encoded, RingBytes = 4096,
            });
    }

    [GlobalCleanup]
    public void Cleanup() => _device.Dispose();

    /// <summary>Baseline: a flat 256-bit vector without summary: exchange all four words, test every one of the 256 bits.</summary>
    [Benchmark(Baseline = true)]
    public int NaiveFullScan()
    {
        foreach (int d in _doorbells) Interlocked.Or(ref _naive[d >> 6], 1UL << (d & 63));
        int found = 0;
        for (int w = 0; w < 4; w++)
        {
            ulong bits = Interlocked.Exchange(ref _naive[w], 0);
            for (int b = 0; b < 64; b++)
                if ((bits & (1UL << b)) != 0) found += (w << 6) | b;
        }
        return found;
    }

    /// <summary>The summary-word snapshot, walking only set bits.</summary>
    [Benchmark]
    public int SummarySnapshot()
    {
        foreach (int d in _doorbells) _vector.Ring(d);
        var s = _vector.SnapshotAndClear();
        int found = 0;
        for (int w = 0; w < 4; w++)
        {
            ulong bits = s[w];
            while (bits != 0)
            {
                found += (w << 6) | BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
            }
        }
        return found;
    }

    /// <summary>
    /// The rings alone (one atomic OR each, into a vector nobody takes, so every ring after the first invocation is
    /// coalesced): subtract from <see cref="SummarySnapshot"/> to estimate the snapshot's own cost.
    /// </summary>
    [Benchmark]
    public bool SummaryRingsOnly()
    {
        bool any = false;
        foreach (int d in _doorbells) any |= _neverTaken.Ring(d);
        return any;
    }

    /// <summary>The baseline's rings alone (subtract from <see cref="NaiveFullScan"/>).</summary>
    [Benchmark]
    public ulong NaiveRingsOnly()
    {
        ulong before = 0;
        foreach (int d in _doorbells) before |= Interlocked.Or(ref _naiveNeverTaken[d >> 6], 1UL << (d & 63));
        return before;
    }

    /// <summary>The scheduling core's whole service: snapshot plus one descriptor check per rung doorbell (rings through the aperture).</summary>
    [Benchmark]
    public int SchedulingCoreService()
    {
        var aperture = _device.DoorbellAperture;
        foreach (int d in _doorbells) aperture.Write32(DoorbellAperture.PageOffset(d), 0, 1);
        return _device.SchedulingCore.Service(0);
    }
}
