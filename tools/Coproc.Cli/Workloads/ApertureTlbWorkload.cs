using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmio;
using Coproc.Fast.Device.Mmu;

namespace Coproc.Fast.Workloads;

/// <summary>
/// TLB hits measured through the host surface: CPU reads through the aperture BAR (<see cref="Aperture.Read32"/>), each
/// translated by the aperture's 64-entry TLB (MMU client 0, native-layout.md §7.2, §8). The aperture table is written into
/// local memory and programmed through the MMU registers (APERTURE_TABLE, APERTURE_ENTRIES, TLB_INV_CMD 3) as a driver
/// would; the addresses lie in 64 hot pages, so every read after the first pass hits. The device's internal translation
/// path (a client TLB, a multi-level walk) is measured by perf/'s TranslationBenchmarks.
/// </summary>
internal sealed class ApertureTlbWorkload : IDisposable
{
    /// <summary>Pages the addresses fall in: as many as the aperture TLB holds.</summary>
    public const int HotPages = 64;

    private const ulong TableOffset = 0x10000, FramesOffset = 1UL << 20;

    public ApertureTlbWorkload(int addresses, int seed = 12345)
    {
        Device = new Coprocessor(new CoprocessorOptions
        {
            LocalMemoryBytes = 4UL << 20, SystemMemoryBytes = 1UL << 20, ApertureBytes = 1UL << 20, VsyncPeriodCycles = 0,
        });
        var local = Device.Memory.Local;
        ulong entries = Device.Aperture.Size / 4096;
        for (ulong p = 0; p < entries; p++)
        {
            local.Ref<ulong>(TableOffset + p * 8) = PageTableEntry.Create(MemoryLocation.Local, FramesOffset + p * 4096).Raw;
            local.Ref<uint>(FramesOffset + p * 4096) = (uint)p; // a marker per page, to check the translation
        }
        Device.Mmio.Write64(MmioMap.MmuBase + MmuRegisters.ApertureTable, PhysicalAddress.Local(TableOffset).Encoded);
        Device.Mmio.Write32(MmioMap.MmuBase + MmuRegisters.ApertureEntries, (uint)entries);
        Device.Mmio.Write32(MmioMap.MmuBase + MmuRegisters.TlbInvCmd, MmuRegisters.CommandInvalidateAperture);

        var rng = new Random(seed);
        Offsets = new ulong[addresses];
        for (int i = 0; i < addresses; i++) Offsets[i] = (ulong)rng.Next(HotPages) * 4096 + (ulong)rng.Next(1024) * 4;
        // Sanity: each page's marker reads back through the aperture.
        for (ulong p = 0; p < HotPages; p++)
            if (Device.Aperture.Read32(p * 4096, out uint marker) != ApertureStatus.Ok || marker != (uint)p)
                throw new InvalidOperationException($"aperture page {p} does not read its frame's marker");
    }

    public Coprocessor Device { get; }

    /// <summary>Aperture offsets (4-byte aligned) in the first <see cref="HotPages"/> pages.</summary>
    public ulong[] Offsets { get; }

    /// <summary>Reads 4 bytes through the aperture at every offset; returns a checksum.</summary>
    public ulong ReadAll()
    {
        var aperture = Device.Aperture;
        ulong sum = 0;
        foreach (ulong offset in Offsets)
        {
            aperture.Read32(offset, out uint v);
            sum += v;
        }
        return sum;
    }

    public void Dispose() => Device.Dispose();
}
