using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Coproc.Fast.Device.Memory;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// PERFORMANCE.md goal 4: COPY and FILL packets through page tables (4 KiB pages, physically contiguous
/// allocations, as the video memory manager places them) against <c>Buffer.MemoryCopy</c> and
/// <see cref="Span{T}.Fill"/> over the very same physical bytes — so size and relative alignment are identical.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public unsafe class CopyFillBenchmarks
{
    private const ulong SrcVa = 0x1000_0000, DstVa = 0x2000_0000;

    [Params(1 << 20, 64 << 20)]
    public int Size { get; set; }

    private BenchMachine _copy = null!, _fill = null!;
    private byte* _src, _dst, _fillDst;

    [GlobalSetup]
    public void Setup()
    {
        ulong local = 2 * (ulong)Size + (8UL << 20);
        local = (local + (2UL << 20) - 1) & ~((2UL << 20) - 1);
        _copy = new BenchMachine(local, 4096);
        var src = _copy.Map(SrcVa, (ulong)Size);
        var dst = _copy.Map(DstVa, (ulong)Size);
        _src = _copy.Device.Memory.Local.Base + src.Offset;
        _dst = _copy.Device.Memory.Local.Base + dst.Offset;
        new Span<byte>(_src, Size).Fill(0x5A);
        var w = new Coproc.Fast.Device.Packets.PacketWriter(_copy.RingDwords);
        w.Copy(DstVa, SrcVa, (ulong)Size);
        _copy.Seal(w.Written);
        _copy.Replay(1UL << 40);

        _fill = new BenchMachine(local, 4096);
        var fillDst = _fill.Map(DstVa, (ulong)Size);
        _fillDst = _fill.Device.Memory.Local.Base + fillDst.Offset;
        var f = new Coproc.Fast.Device.Packets.PacketWriter(_fill.RingDwords);
        f.Fill(DstVa, 0xA5A5A5A5, (ulong)Size);
        _fill.Seal(f.Written);
        _fill.Replay(1UL << 40);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _copy.Dispose();
        _fill.Dispose();
    }

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Copy")]
    public void MemoryCopy() => Buffer.MemoryCopy(_src, _dst, Size, Size);

    [Benchmark]
    [BenchmarkCategory("Copy")]
    public void CopyPacket() => _copy.Replay(1UL << 40);

    [Benchmark(Baseline = true)]
    [BenchmarkCategory("Fill")]
    public void SpanFill() => new Span<uint>(_fillDst, Size / 4).Fill(0xA5A5A5A5);

    [Benchmark]
    [BenchmarkCategory("Fill")]
    public void FillPacket() => _fill.Replay(1UL << 40);
}
