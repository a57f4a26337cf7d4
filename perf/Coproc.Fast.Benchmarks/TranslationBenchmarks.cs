using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// PERFORMANCE.md goal 5 — translation. A 1 GiB GPU VA range is mapped with real multi-level page tables in
/// emulated local memory (its 262,144 pages aliased onto a 4 MiB physical pool to keep the device small).
/// Baseline: a plain lookup in a native <c>ulong</c> array indexed by VPN (the physical limit of a translation).
/// Every benchmark translates the same count of independent addresses; results are per translation.
/// </summary>
[MemoryDiagnoser]
public unsafe class TranslationBenchmarks
{
    private const int Ops = 4096;
    private const ulong MappedBytes = 1UL << 30;
    private const ulong Pages = MappedBytes >> 12;
    private const ulong PoolFrames = 1024; // 4 MiB of frames
    private const ulong VaBase = 0x0000_0040_0000_0000;

    private DeviceMemory _memory = null!;
    private GpuMmu _mmu = null!;
    private Tlb _tlb = null!;
    private AddressSpaceDescriptor _space;
    private ulong[] _randomVas = null!;   // over the whole 1 GiB: TLB misses
    private ulong[] _hotVas = null!;      // over 64 consecutive pages: TLB hits
    private ulong* _nativeTable;          // baseline: VPN-indexed frame offsets
    private ulong* _anchorTags;           // PERFORMANCE.md anchor: a bare 64-entry direct-mapped TLB in native memory
    private ulong* _anchorData;

    /// <summary>Builds the page tables by writing PTEs into emulated memory, as a driver would.</summary>
    [GlobalSetup]
    public void Setup()
    {
        // Local: [0, 4 MiB) frames, [4 MiB, 6 MiB) 512 L0 tables, then L1/L2/L3 tables.
        _memory = DeviceMemory.Allocate(8UL << 20, 64 * 1024);
        var local = _memory.Local;
        ulong l0Base = 4UL << 20, l1 = 6UL << 20, l2 = l1 + 4096, l3 = l2 + 4096;
        var rng = new Random(12345);
        _nativeTable = (ulong*)NativeMemory.AlignedAlloc((nuint)(Pages * 8), 4096);
        for (ulong p = 0; p < Pages; p++)
        {
            ulong frame = (ulong)rng.NextInt64((long)PoolFrames) << 12;
            local.Ref<ulong>(l0Base + p * 8) = PageTableEntry.Create(MemoryLocation.Local, frame).Raw;
            _nativeTable[p] = frame;
        }
        ulong vpn0 = VaBase >> 12;
        for (ulong t = 0; t < Pages / 512; t++)
            local.Ref<ulong>(l1 + ((((vpn0 >> 9) + t) & 511) * 8)) = PageTableEntry.Create(MemoryLocation.Local, l0Base + t * 4096).Raw;
        local.Ref<ulong>(l2 + (ulong)PageTableLayout.IndexAt(VaBase, 2) * 8) = PageTableEntry.Create(MemoryLocation.Local, l1).Raw;
        local.Ref<ulong>(l3 + (ulong)PageTableLayout.IndexAt(VaBase, 3) * 8) = PageTableEntry.Create(MemoryLocation.Local, l2).Raw;
        _space = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(l3), asid: 1, faultOnInvalid: true);
        _mmu = new GpuMmu(_memory);
        _tlb = _mmu.CreateClientTlb("bench", 64);

        _randomVas = new ulong[Ops];
        _hotVas = new ulong[Ops];
        for (int i = 0; i < Ops; i++)
        {
            _randomVas[i] = VaBase + (ulong)rng.NextInt64((long)MappedBytes);
            _hotVas[i] = VaBase + (ulong)rng.Next(64) * 4096 + (ulong)rng.Next(4096);
        }
        _anchorTags = (ulong*)NativeMemory.AlignedAlloc(64 * 8, 64);
        _anchorData = (ulong*)NativeMemory.AlignedAlloc(64 * 8, 64);
        for (ulong p = 0; p < 64; p++)
        {
            ulong vpn = (VaBase >> 12) + p;
            _anchorTags[vpn & 63] = vpn;
            _anchorData[vpn & 63] = _nativeTable[p];
        }
        // Sanity: every VA translates to what the baseline says.
        foreach (ulong va in _randomVas)
            if (_mmu.Translate(null, _space, va, AccessKind.Read, false, out var run) != TranslationStatus.Ok
                || run.PhysicalOffset != _nativeTable[(va - VaBase) >> 12] + (va & 0xFFF))
                throw new InvalidOperationException($"translation of 0x{va:X} disagrees with the baseline table");
    }

    /// <summary>Frees the native baseline table and the device memory.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_nativeTable);
        NativeMemory.AlignedFree(_anchorTags);
        NativeMemory.AlignedFree(_anchorData);
        _memory.Dispose();
    }

    /// <summary>Baseline: frame = table[vpn], plus the page offset.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public ulong NativeArrayLookup()
    {
        ulong sum = 0;
        ulong* table = _nativeTable;
        foreach (ulong va in _randomVas) sum += table[(va - VaBase) >> 12] + (va & 0xFFF);
        return sum;
    }

    /// <summary>
    /// 64-entry TLB, working set of 64 consecutive pages: every translation hits. The MMU, TLB and space are read into
    /// locals first, as the anchor does with its arrays (and as a client holds them), so both loops start equal.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong TlbHit()
    {
        ulong sum = 0;
        var mmu = _mmu;
        var tlb = _tlb;
        var space = _space;
        foreach (ulong va in _hotVas)
        {
            mmu.Translate(tlb, space, va, AccessKind.Read, false, out var run);
            sum += run.PhysicalOffset;
        }
        return sum;
    }

    /// <summary>
    /// The anchor of PERFORMANCE.md goal 5 (~420 M translations/s): the least a 64-entry TLB hit can cost — tag
    /// compare and data load in native arrays, no ASID, no rights, no counters. Goal: TlbHit ≥ 0.9× this rate.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong AnchorTlb64Hit()
    {
        ulong sum = 0;
        ulong* tags = _anchorTags, data = _anchorData;
        foreach (ulong va in _hotVas)
        {
            ulong vpn = va >> 12;
            ulong i = vpn & 63;
            sum += tags[i] == vpn ? data[i] + (va & 0xFFF) : 0;
        }
        return sum;
    }

    /// <summary>Random VAs over 1 GiB through the same 64-entry TLB: almost every translation misses and walks 4 levels in emulated memory.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong TlbMissWalk()
    {
        ulong sum = 0;
        foreach (ulong va in _randomVas)
        {
            _mmu.Translate(_tlb, _space, va, AccessKind.Read, false, out var run);
            sum += run.PhysicalOffset;
        }
        return sum;
    }
}
