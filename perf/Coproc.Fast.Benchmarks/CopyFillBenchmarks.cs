using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 4: COPY and FILL packets through page tables (4 KiB pages, physically contiguous
/// allocations, as the video memory manager places them) against <c>Buffer.MemoryCopy</c> and
/// <see cref="Span{T}.Fill"/> over the very same physical bytes — so size and relative alignment are identical
/// (the shared <see cref="CopyFillWorkload"/>, also measured by <c>coproc bench</c>).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CopyFillBenchmarks
{
    [Params(1 << 20, 64 << 20)]
    public int Size { get; set; }

    private CopyFillWorkload _w = null!;

    [GlobalSetup]
    public void Setup() => _w = new CopyFillWorkload(Size);

    [GlobalCleanup]
    public void Cleanup() => _w.Dispose();

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Copy")]
    public void MemoryCopy() => _w.MemoryCopy();

    [Benchmark]
    [BenchmarkCategory("Copy")]
    public void CopyPacket() => _w.CopyPacket();

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Fill")]
    public void SpanFill() => _w.SpanFill();

    [Benchmark]
    [BenchmarkCategory("Fill")]
    public void FillPacket() => _w.FillPacket();
}
