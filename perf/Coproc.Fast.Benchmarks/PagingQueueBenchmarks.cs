using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// Seed 004 device paging queue: operations per second through the queue — each operation builds its paging buffer,
/// is submitted to the paging context's ring, executed by the copy engine (the device is stepped until the paging fence
/// is reached) and retired. Baseline: the same map + unmap done synchronously by the CPU on the page tables (what the
/// queue replaces), so the ratio is the cost of making it asynchronous and device-executed. Ops/s = 1 / Mean (each
/// benchmark counts 2 operations per invocation). Expect 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public class PagingQueueBenchmarks
{
    private const ulong Bytes = 64 << 10;
    private Coprocessor _device = null!;
    private VideoMemoryManager _vm = null!;
    private ResidencyManager _rm = null!;
    private DevicePagingQueue _queue = null!;
    private GpuAddressSpace _space = null!;
    private AllocationHandle _target;
    private AllocationHandle _managed;
    private ResourceReference[] _set = null!;
    private ulong _va;

    /// <summary>Builds a 64 MiB device, VidMm, the residency manager and the queue.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 64UL << 20, SystemMemoryBytes = 64UL << 20, VsyncPeriodCycles = 0 });
        _vm = VideoMemoryManager.ForDevice(_device);
        _rm = new ResidencyManager(_vm);
        _queue = new DevicePagingQueue(_rm);
        _space = _vm.CreateGpuAddressSpace();
        _target = _vm.Allocate(Bytes, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        _managed = _rm.CreateAllocation(Bytes, 1);
        _set = [new ResourceReference(_managed, 0, 0, false)];
        _queue.ReserveGpuVa(_space, Bytes, 4096, out _va);
    }

    /// <summary>Releases device memory.</summary>
    [GlobalCleanup]
    public void Cleanup() => _device.Dispose();

    /// <summary>Baseline: synchronous CPU map + unmap of 16 pages (PTE writes + MMIO TLB invalidation).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = 2)]
    public void CpuMapUnmap()
    {
        _space.Map(_va, _target, 0, Bytes);
        _space.Unmap(_va);
    }

    /// <summary>Queued map + unmap (UPDATE_PAGE_TABLE + TLB_FLUSH + FENCE on the copy engine), run to the fence.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public ulong QueuedMapUnmap()
    {
        _queue.MapGpuVa(_space, _va, _target, 0, Bytes);
        ulong v = _queue.UnmapGpuVa(_space, _va);
        RunTo(v);
        return v;
    }

    /// <summary>Queued make-resident + evict of a 64 KiB managed allocation (two 64 KiB copies), run to the fence.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public ulong QueuedPageInEvict()
    {
        _queue.MakeResident(_set, 1);
        ulong v = _queue.Evict(_managed);
        RunTo(v);
        return v;
    }

    private void RunTo(ulong value)
    {
        while (!_queue.Fence.IsSignaled(value)) _device.Step(1 << 12);
        while (_device.Interrupts.TryDequeue(out _)) { }
        _device.Interrupts.Acknowledge(Device.Interrupts.InterruptSources.AllMask);
        _queue.NotifyFenceInterrupt();
    }
}
