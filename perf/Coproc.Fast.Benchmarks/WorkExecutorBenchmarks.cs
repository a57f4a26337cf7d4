using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// Work executors against the plain host loop over the same native pixels: DRAW_RECTS solid fill and
/// constant-colour blend of a 1920×1080 BGRA target through 4 KiB page tables and a 64-entry TLB, and DISPATCH SAXPY
/// over 1 Mi floats. Each category's baseline is the same work done directly on the native buffer.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public unsafe class WorkExecutorBenchmarks
{
    private const uint Width = 1920, Height = 1080;
    private const int SaxpyElements = 1 << 20;
    private const ulong TargetVa = 0x0000_0010_0000_0000, XVa = 0x0000_0020_0000_0000, YVa = 0x0000_0030_0000_0000;
    private const ulong DataBase = 4UL << 20; // first 4 MiB of local memory hold the page tables

    private Coprocessor _device = null!;
    private Tlb _tlb = null!;
    private AddressSpaceDescriptor _space;
    private ulong _nextTable, _nextData = DataBase;
    private readonly uint[] _fill = new uint[DrawRectsPacket.SizeInDwords(1)];
    private readonly uint[] _blend = new uint[DrawRectsPacket.SizeInDwords(1)];
    private readonly uint[] _saxpy = new uint[DispatchPacket.SizeInDwords];
    private uint* _targetPixels;
    private float* _x, _y;

    [GlobalSetup]
    public void Setup()
    {
        _device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 64UL << 20, SystemMemoryBytes = 4UL << 20 });
        _tlb = new Tlb(64);
        _nextTable = 4096;
        _space = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(0), 1, faultOnInvalid: true);
        _targetPixels = (uint*)Map(TargetVa, Width * Height * 4);
        _x = (float*)Map(XVa, SaxpyElements * 4);
        _y = (float*)Map(YVa, SaxpyElements * 4);
        var target = Surface.Packed(TargetVa, Width, Height);
        DrawRectsPacket.Encode(_fill, target, [RectPrimitive.Fill(0, 0, Width, Height, 0xFF336699)]);
        DrawRectsPacket.Encode(_blend, target, [RectPrimitive.BlendColor(0, 0, Width, Height, 0x80C08040)]);
        DispatchPacket.EncodeSaxpy(_saxpy, SaxpyElements, 256, XVa, YVa, 1.0001f);
        for (int i = 0; i < SaxpyElements; i++) { _x[i] = i * 0.5f; _y[i] = 1f; }
    }

    /// <summary>Maps a VA range to physically contiguous local frames (the driver's usual layout) and returns the host pointer.</summary>
    private byte* Map(ulong va, ulong bytes)
    {
        ulong phys = _nextData;
        _nextData += (bytes + 4095) & ~4095UL;
        var mem = _device.Memory;
        for (ulong off = 0; off < bytes; off += 4096)
        {
            ulong table = 0, v = va + off;
            for (int level = 3; level >= 1; level--)
            {
                var at = PhysicalAddress.Local(table + (ulong)PageTableLayout.IndexAt(v, level) * 8);
                var e = new PageTableEntry(mem.Read64(at));
                if (!e.IsValid)
                {
                    e = PageTableEntry.Create(MemoryLocation.Local, _nextTable);
                    _nextTable += 4096;
                    mem.Write64(at, e.Raw);
                }
                table = e.FrameOffset;
            }
            mem.Write64(PhysicalAddress.Local(table + (ulong)PageTableLayout.IndexAt(v, 0) * 8),
                PageTableEntry.Create(MemoryLocation.Local, phys + off).Raw);
        }
        return mem.Local.Base + phys;
    }

    private WorkStatus Run(Opcode op, uint[] packet)
    {
        var memory = new GpuVirtualMemory(_device.Mmu, _device.Memory, _tlb, _space, privileged: false);
        var state = default(WorkState);
        long budget = long.MaxValue / 2;
        return WorkExecutor.Execute(op, memory, packet, ref state, ref budget, WorkCosts.Default, out _);
    }

    /// <summary>Baseline: Span.Fill over the target's native pixels.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("Fill1080p")]
    public void SpanFill() => new Span<uint>(_targetPixels, (int)(Width * Height)).Fill(0xFF336699);

    /// <summary>DRAW_RECTS: one full-screen solid fill.</summary>
    [Benchmark, BenchmarkCategory("Fill1080p")]
    public int DrawRectsFill() => (int)Run(Opcode.DrawRects, _fill);

    /// <summary>Baseline: a plain scalar source-over loop over the target's native pixels.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("Blend1080p")]
    public void ScalarBlendLoop()
    {
        uint* p = _targetPixels;
        for (int i = 0; i < Width * Height; i++) p[i] = PixelBlend.SourceOver(p[i], 0x80C08040);
    }

    /// <summary>DRAW_RECTS: one full-screen constant-colour blend (Vector256 where accelerated).</summary>
    [Benchmark, BenchmarkCategory("Blend1080p")]
    public int DrawRectsBlend() => (int)Run(Opcode.DrawRects, _blend);

    /// <summary>Baseline: plain SAXPY loop over the native buffers.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("Saxpy1M")]
    public void PlainSaxpyLoop()
    {
        float* x = _x, y = _y;
        for (int i = 0; i < SaxpyElements; i++) y[i] = 1.0001f * x[i] + y[i];
    }

    /// <summary>DISPATCH SAXPY, groups of 256.</summary>
    [Benchmark, BenchmarkCategory("Saxpy1M")]
    public int DispatchSaxpy() => (int)Run(Opcode.Dispatch, _saxpy);

    /// <summary>Frees the device.</summary>
    [GlobalCleanup]
    public void Cleanup() => _device.Dispose();
}
