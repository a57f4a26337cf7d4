using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 7 (scale): VidMm alloc/free and map/unmap cost per operation with 1 K, 64 K and 1 M live
/// allocations, each also mapped into one GPU and one CPU address space. Flat cost across the sweep means
/// O(1)/O(log n) bookkeeping. Baseline: the bare buddy allocator's alloc+free of one page with the same number
/// of live blocks (the floor of the design). Ops/s = 1 / Mean. Device memory: 4 GiB system (host-supplied, committed lazily, so
/// only touched pages cost RSS) + 64 MiB local for page tables and the aperture table.
/// </summary>
[MemoryDiagnoser]
public unsafe class VidMmBenchmarks
{
    private const ulong Page = 4096;
    private const ulong SystemBytes = 4UL << 30;

    private readonly ulong _systemBytes = SystemBytes;
    private byte* _hostSystem;
    private Coprocessor _device = null!;
    private VideoMemoryManager _vm = null!;
    private GpuAddressSpace _gpu = null!;
    private CpuAddressSpace _cpu = null!;
    private BuddyAllocator _buddy = null!;
    private AllocationHandle _probe;
    private AllocationHandle _localProbe;

    /// <summary>Live allocations (each 4 KiB, each mapped into the GPU and the CPU space) while measuring.</summary>
    [Params(1_000, 64_000, 1_000_000)]
    public int LiveAllocations { get; set; }

    /// <summary>Builds the device and the live population.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _hostSystem = (byte*)NativeMemory.AlignedAlloc((nuint)_systemBytes, 2 << 20);
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 64UL << 20, SystemMemoryBytes = SystemBytes, ApertureBytes = 16UL << 20 },
            NativeRegion.Wrap(_hostSystem, _systemBytes));
        _vm = VideoMemoryManager.ForDevice(_device);
        _gpu = _vm.CreateGpuAddressSpace();
        _cpu = _vm.CreateCpuAddressSpace();
        _buddy = new BuddyAllocator(SystemBytes / Page);
        for (int i = 0; i < LiveAllocations; i++)
        {
            var h = _vm.Allocate(Page, placement: PlacementHint.SystemOnly);
            _gpu.MapAllocation(h);
            _vm.MapToCpu(_cpu, h, 0, Page, CpuAddressHalf.User);
            _buddy.TryAllocate(1, 0, out _);
        }
        _probe = _vm.Allocate(Page, placement: PlacementHint.SystemOnly);
        _buddy.TryAllocate(1, 0, out _); // same shape as the system segment (live set + probe)
        _localProbe = _vm.Allocate(Page, placement: PlacementHint.LocalOnly);
    }

    /// <summary>Frees the host-supplied system memory.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _device.Dispose();
        NativeMemory.AlignedFree(_hostSystem);
    }

    /// <summary>Floor: bare buddy allocator, one-page alloc + free.</summary>
    [Benchmark(Baseline = true)]
    public ulong BuddyAllocFree()
    {
        _buddy.TryAllocate(1, 0, out ulong s);
        _buddy.FreeRange(s, 1);
        return s;
    }

    /// <summary>VidMm Allocate + Free of 4 KiB (handle table, segment allocator, extents).</summary>
    [Benchmark]
    public AllocationHandle AllocateFree()
    {
        var h = _vm.Allocate(Page, placement: PlacementHint.SystemOnly);
        _vm.Free(h);
        return h;
    }

    /// <summary>GPU VA reserve + map (PTE writes in emulated memory) + unmap (PTE clear + TLB invalidate via MMIO) + release.</summary>
    [Benchmark]
    public ulong GpuMapUnmap()
    {
        ulong va = _gpu.MapAllocation(_probe);
        _gpu.UnmapAllocation(va);
        return va;
    }

    /// <summary>CPU map + unmap of system memory (direct CPU PTEs).</summary>
    [Benchmark]
    public ulong CpuMapUnmapSystem()
    {
        ulong va = _vm.MapToCpu(_cpu, _probe, 0, Page, CpuAddressHalf.User);
        _vm.UnmapFromCpu(_cpu, va);
        return va;
    }

    /// <summary>CPU map + unmap of local memory through the aperture (aperture PTE + aperture TLB invalidate).</summary>
    [Benchmark]
    public ulong CpuMapUnmapLocalThroughAperture()
    {
        ulong va = _vm.MapToCpu(_cpu, _localProbe, 0, Page, CpuAddressHalf.Kernel);
        _vm.UnmapFromCpu(_cpu, va);
        return va;
    }
}
