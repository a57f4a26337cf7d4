using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Workloads;

/// <summary>
/// docs/performance.md goal 4's workload: one COPY packet and one FILL packet of <see cref="Size"/> bytes through 4 KiB
/// page tables (physically contiguous allocations, as VidMm places them), each in its own <see cref="BenchMachine"/>
/// ring, plus raw pointers to the very same physical bytes for the <c>Buffer.MemoryCopy</c> / <c>Span.Fill</c>
/// baselines — so size and relative alignment are identical (docs/performance.md's 4 KiB-aliasing trap).
/// </summary>
internal sealed unsafe class CopyFillWorkload : IDisposable
{
    public const ulong SrcVa = 0x1000_0000, DstVa = 0x2000_0000;
    public const uint FillPattern = 0xA5A5A5A5;

    private readonly BenchMachine _copy, _fill;

    public CopyFillWorkload(int size)
    {
        if (size <= 0 || size % 4096 != 0) throw new ArgumentOutOfRangeException(nameof(size), size, "expected a positive multiple of 4 KiB");
        Size = size;
        ulong local = 2 * (ulong)size + (8UL << 20);
        local = (local + (2UL << 20) - 1) & ~((2UL << 20) - 1);
        _copy = new BenchMachine(local, 4096);
        var src = _copy.Map(SrcVa, (ulong)size);
        var dst = _copy.Map(DstVa, (ulong)size);
        Src = _copy.Device.Memory.Local.Base + src.Offset;
        Dst = _copy.Device.Memory.Local.Base + dst.Offset;
        new Span<byte>(Src, size).Fill(0x5A);
        var w = new PacketWriter(_copy.RingDwords);
        w.Copy(DstVa, SrcVa, (ulong)size);
        _copy.Seal(w.Written);
        _copy.Replay(1UL << 40);

        _fill = new BenchMachine(local, 4096);
        var fillDst = _fill.Map(DstVa, (ulong)size);
        FillDst = _fill.Device.Memory.Local.Base + fillDst.Offset;
        var f = new PacketWriter(_fill.RingDwords);
        f.Fill(DstVa, FillPattern, (ulong)size);
        _fill.Seal(f.Written);
        _fill.Replay(1UL << 40);
    }

    public int Size { get; }
    /// <summary>Physical bytes behind the COPY source.</summary>
    public byte* Src { get; }
    /// <summary>Physical bytes behind the COPY destination.</summary>
    public byte* Dst { get; }
    /// <summary>Physical bytes behind the FILL destination.</summary>
    public byte* FillDst { get; }

    /// <summary>Runs the COPY packet once more.</summary>
    public void CopyPacket() => _copy.Replay(1UL << 40);

    /// <summary>Runs the FILL packet once more.</summary>
    public void FillPacket() => _fill.Replay(1UL << 40);

    /// <summary>Baseline: Buffer.MemoryCopy over the same bytes.</summary>
    public void MemoryCopy() => Buffer.MemoryCopy(Src, Dst, Size, Size);

    /// <summary>Baseline: Span.Fill over the same bytes.</summary>
    public void SpanFill() => new Span<uint>(FillDst, Size / 4).Fill(FillPattern);

    /// <summary>True when the copy destination holds the source's bytes and the fill destination the pattern.</summary>
    public bool Verify() =>
        new Span<byte>(Dst, Size).SequenceEqual(new Span<byte>(Src, Size)) && new Span<uint>(FillDst, Size / 4).IndexOfAnyExcept(FillPattern) < 0;

    public void Dispose()
    {
        _copy.Dispose();
        _fill.Dispose();
    }
}
