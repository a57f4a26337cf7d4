using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Benchmarks;

/// <summary>
/// docs/performance.md goal 5 — translation. A 1 GiB GPU VA range is mapped with real multi-level page tables in
/// emulated local memory (its 262,144 pages aliased onto a 4 MiB physical pool to keep the device small).
/// Baseline: a plain lookup in a native <c>ulong</c> array indexed by VPN (the physical limit of a translation).
/// Every benchmark translates the same count of independent addresses; results are per translation.
/// </summary>
[MemoryDiagnoser]
public unsafe class TranslationBenchmarks
{
    private const int Ops = 4096;
    private const ulong VaBase = TranslationWorkload.VaBase;

    private TranslationWorkload _w = null!;
    private GpuMmu _mmu = null!;
    private Tlb _tlb = null!;
    private AddressSpaceDescriptor _space;
    private ulong[] _randomVas = null!;   // over the whole 1 GiB: TLB misses
    private ulong[] _hotVas = null!;      // over 64 consecutive pages: TLB hits
    private ulong* _nativeTable;          // baseline: VPN-indexed frame offsets
    private ulong* _anchorTags;           // docs/performance.md anchor: a bare 64-entry direct-mapped TLB in native memory
    private ulong* _anchorData;

    /// <summary>Builds the page tables by writing PTEs into emulated memory, as a driver would (shared <see cref="TranslationWorkload"/>).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _w = new TranslationWorkload(1UL << 30, Ops);
        _mmu = _w.Mmu;
        _tlb = _w.Tlb;
        _space = _w.Space;
        _randomVas = _w.RandomVas;
        _hotVas = _w.HotVas;
        _nativeTable = _w.NativeTable;
        _anchorTags = (ulong*)NativeMemory.AlignedAlloc(64 * 8, 64);
        _anchorData = (ulong*)NativeMemory.AlignedAlloc(64 * 8, 64);
        for (ulong p = 0; p < 64; p++)
        {
            ulong vpn = (VaBase >> 12) + p;
            _anchorTags[vpn & 63] = vpn;
            _anchorData[vpn & 63] = _nativeTable[p];
        }
    }

    /// <summary>Frees the anchor arrays and the workload.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_anchorTags);
        NativeMemory.AlignedFree(_anchorData);
        _w.Dispose();
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
    /// The same hits as a translation client that loops over many addresses of one context takes them: through a
    /// <see cref="TlbPort"/> bound to the space's ASID and the access class once, in a hit loop that holds no call (so
    /// the port and the cursor stay in registers) and leaves at the first miss for the full <see cref="GpuMmuTranslation.Translate"/>.
    /// The client needs only the physical offset, so the port's hit loads no data word (as the anchor's loads no rights).
    /// </summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public ulong TlbPortHit()
    {
        ulong sum = 0;
        using var port = _tlb.Port(_space.Asid, Tlb.AccessClass(AccessKind.Read, false));
        ReadOnlySpan<ulong> vas = _hotVas;
        while (true)
        {
            int hits = HitRun(port, vas, ref sum);
            if (hits == vas.Length) return sum;
            sum += Miss(vas[hits]);
            vas = vas[(hits + 1)..];
        }
    }

    // A client's hit loop: no call inside, so the port and the cursor stay in registers; it stops at the first miss.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int HitRun(TlbPort port, ReadOnlySpan<ulong> vas, ref ulong sum)
    {
        ulong s = sum;
        int i = 0;
        for (; i < vas.Length; i++)
        {
            if (!port.TryHit(vas[i], out ulong offset)) break;
            s += offset;
        }
        sum = s;
        return i;
    }

    // A client's miss path: out of line, reading what it needs from its own state, as GpuMmu.Translate's is.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong Miss(ulong va)
    {
        _mmu.Translate(_tlb, _space, va, AccessKind.Read, false, out var run);
        return run.PhysicalOffset;
    }

    /// <summary>
    /// The anchor of docs/performance.md goal 5 (~420 M translations/s): the least a 64-entry TLB hit can cost — tag
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
