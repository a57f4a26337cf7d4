using System.Runtime.InteropServices;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Workloads;

/// <summary>
/// docs/performance.md goal 5's workload: <see cref="MappedBytes"/> of GPU VA mapped with real multi-level page tables
/// in emulated local memory (pages aliased at random onto a 4 MiB frame pool to keep the device small), a
/// VPN-indexed native table with the same mapping as the baseline, a 64-entry client TLB, and two address sets —
/// random over the whole range (TLB misses) and inside 64 consecutive pages (TLB hits).
/// </summary>
internal sealed unsafe class TranslationWorkload : IDisposable
{
    public const ulong VaBase = 0x0000_0040_0000_0000;
    private const ulong PoolFrames = 1024; // 4 MiB of frames

    public TranslationWorkload(ulong mappedBytes, int addresses, int seed = 12345)
    {
        if (mappedBytes < (2UL << 20) || mappedBytes > (1UL << 30) || mappedBytes % (2UL << 20) != 0)
            throw new ArgumentOutOfRangeException(nameof(mappedBytes), mappedBytes, "expected a multiple of 2 MiB up to 1 GiB");
        MappedBytes = mappedBytes;
        ulong pages = mappedBytes >> 12;
        // Local: [0, 4 MiB) frames, then the L0 tables (one per 2 MiB), then L1/L2/L3.
        ulong l0Base = 4UL << 20, l1 = l0Base + pages * 8, l2 = l1 + 4096, l3 = l2 + 4096;
        Memory = DeviceMemory.Allocate((l3 + 4096 + (2UL << 20) - 1) & ~((2UL << 20) - 1), 64 * 1024);
        var local = Memory.Local;
        var rng = new Random(seed);
        NativeTable = (ulong*)NativeMemory.AlignedAlloc((nuint)(pages * 8), 4096);
        for (ulong p = 0; p < pages; p++)
        {
            ulong frame = (ulong)rng.NextInt64((long)PoolFrames) << 12;
            local.Ref<ulong>(l0Base + p * 8) = PageTableEntry.Create(MemoryLocation.Local, frame).Raw;
            NativeTable[p] = frame;
        }
        ulong vpn0 = VaBase >> 12;
        for (ulong t = 0; t < pages / 512; t++)
            local.Ref<ulong>(l1 + ((((vpn0 >> 9) + t) & 511) * 8)) = PageTableEntry.Create(MemoryLocation.Local, l0Base + t * 4096).Raw;
        local.Ref<ulong>(l2 + (ulong)PageTableLayout.IndexAt(VaBase, 2) * 8) = PageTableEntry.Create(MemoryLocation.Local, l1).Raw;
        local.Ref<ulong>(l3 + (ulong)PageTableLayout.IndexAt(VaBase, 3) * 8) = PageTableEntry.Create(MemoryLocation.Local, l2).Raw;
        Space = AddressSpaceDescriptor.MultiLevel(PhysicalAddress.Local(l3), asid: 1, faultOnInvalid: true);
        Mmu = new GpuMmu(Memory);
        Tlb = Mmu.CreateClientTlb("bench", 64);

        RandomVas = new ulong[addresses];
        HotVas = new ulong[addresses];
        for (int i = 0; i < addresses; i++)
        {
            RandomVas[i] = VaBase + (ulong)rng.NextInt64((long)mappedBytes);
            HotVas[i] = VaBase + (ulong)rng.Next(64) * 4096 + (ulong)rng.Next(4096);
        }
        // Sanity: every VA translates to what the baseline says.
        foreach (ulong va in RandomVas)
            if (Mmu.Translate(null, Space, va, AccessKind.Read, false, out var run) != TranslationStatus.Ok
                || run.PhysicalOffset != NativeTable[(va - VaBase) >> 12] + (va & 0xFFF))
                throw new InvalidOperationException($"translation of 0x{va:X} disagrees with the baseline table");
    }

    public ulong MappedBytes { get; }
    public DeviceMemory Memory { get; }
    public GpuMmu Mmu { get; }
    public Tlb Tlb { get; }
    public AddressSpaceDescriptor Space { get; }
    /// <summary>Random VAs over the whole range: TLB misses.</summary>
    public ulong[] RandomVas { get; }
    /// <summary>VAs over 64 consecutive pages: TLB hits once warm.</summary>
    public ulong[] HotVas { get; }
    /// <summary>Baseline: frame offset per VPN.</summary>
    public ulong* NativeTable { get; }

    /// <summary>Translates every VA of <paramref name="vas"/> through the TLB; returns a checksum.</summary>
    public ulong TranslateAll(ulong[] vas)
    {
        ulong sum = 0;
        foreach (ulong va in vas)
        {
            Mmu.Translate(Tlb, Space, va, AccessKind.Read, false, out var run);
            sum += run.PhysicalOffset;
        }
        return sum;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(NativeTable);
        Memory.Dispose();
    }
}
