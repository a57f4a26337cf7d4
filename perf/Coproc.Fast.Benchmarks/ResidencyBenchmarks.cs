using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 7 (scale) for residency bookkeeping: with local memory full of N resident 4 KiB managed
/// allocations (N swept), make one more resident — which plans one LRU eviction and one page-in and appends two
/// command-list entries (the paging buffers are not run: this measures the VidMm decision only). Flat cost across the
/// sweep = per-context LRU lists, no scans. Baseline: <see cref="ResidencyManager.Touch"/> of one allocation (an O(1)
/// list move), the floor of any residency decision. Expect 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public class ResidencyBenchmarks
{
    private Coprocessor _device = null!;
    private ResidencyManager _rm = null!;
    private ResourceReference[][] _sets = null!;
    private readonly List<PagingOperation> _ops = new(8);
    private int _next, _touch;

    /// <summary>Resident managed allocations (4 KiB each) filling local memory.</summary>
    [Params(1_024, 16_384)]
    public int Resident { get; set; }

    /// <summary>Builds a device whose local memory holds exactly the resident set (plus pinned tables) and fills it.</summary>
    [GlobalSetup]
    public void Setup()
    {
        ulong local = Math.Max(8UL << 20, ((ulong)Resident * 4096 + (4UL << 20) + (2UL << 20) - 1) & ~((2UL << 20) - 1));
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = local, SystemMemoryBytes = 4 * local, VsyncPeriodCycles = 0 });
        var vm = VideoMemoryManager.ForDevice(_device);
        _rm = new ResidencyManager(vm);
        // Pin everything but the resident set, so each further page-in must evict exactly one allocation.
        ulong spare = vm.Local.FreeBytes - (ulong)Resident * 4096;
        if (spare > 0) vm.Allocate(spare, 4096, PlacementHint.LocalOnly);
        _sets = new ResourceReference[Resident + 1][];
        for (int i = 0; i <= Resident; i++)
        {
            var h = _rm.CreateAllocation(4096, 3);
            _sets[i] = [new ResourceReference(h, 0, 0, false)];
            if (i < Resident) { _rm.MakeResident(_sets[i], 3, _ops); _ops.Clear(); }
        }
        _next = Resident; // the one allocation left out: cycling from it, every request misses and evicts the LRU
    }

    /// <summary>Releases device memory.</summary>
    [GlobalCleanup]
    public void Cleanup() => _device.Dispose();

    /// <summary>Baseline: LRU touch of one resident allocation.</summary>
    [Benchmark(Baseline = true)]
    public void Touch() => _rm.Touch(_sets[_touch++ % Resident], 3);

    /// <summary>Make a non-resident allocation resident: one eviction (current context's LRU) and one page-in planned and committed.</summary>
    [Benchmark]
    public ResidencyOutcome MakeResidentWithEviction()
    {
        // Cycling through N+1 allocations with N slots: the requested one is never resident.
        var outcome = _rm.MakeResident(_sets[_next++ % (Resident + 1)], 3, _ops);
        _ops.Clear();
        return outcome;
    }
}
