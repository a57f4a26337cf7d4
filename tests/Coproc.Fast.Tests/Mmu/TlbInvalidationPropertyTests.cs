using Coproc.Fast.Device.Core;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace Coproc.Fast.Tests.Mmu;

/// <summary>
/// TLB exactness (docs/performance.md goal 5): random map / unmap / remap / invalidate sequences against a dictionary
/// model. The driver side follows the documented rule — a changed or removed PTE is followed by an invalidation
/// through TLB_INV_CMD that covers it — and no translation may ever disagree with the model.
/// </summary>
public class TlbInvalidationPropertyTests
{
    private const int Pages = 12;    // VA pages per address space: more than the TLBs hold, so entries conflict
    private const int Frames = 24;
    private const ulong VaBase = 0x0000_0040_0000_0000 - 6 * 4096; // straddles two L0 tables and two L2 entries
    private static readonly ushort[] Asids = { 1, 2 };

    [Test]
    public void RandomMapUnmapRemapInvalidate_NoStaleTranslationSurvivesTheDocumentedInvalidation()
    {
        var ops = Gen.Choose(50, 300).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, int.MaxValue), n));
        var property = Prop.ForAll(Arb.From(ops), Run);
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(100)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(0x5EED_0001UL, 0x9E37_79B9_7F4A_7C15UL), FSharpOption<int>.None)));
        Check.One(config, property);
    }

    private static bool Run(int[] ops)
    {
        using var device = new Coprocessor(new CoprocessorOptions { LocalMemoryBytes = 2UL << 20, SystemMemoryBytes = 64 * 1024, ApertureBytes = 4096 });
        var clients = new[] { device.Mmu.CreateClientTlb("copy0", 8), device.Mmu.CreateClientTlb("render0", 4) };
        var tables = Asids.Select((_, i) => new PageTableBuilder(device.Memory, MemoryLocation.Local, (1UL << 20) + (ulong)i * (256 * 1024))).ToArray();
        var model = new Dictionary<(int Space, int Page), int>();

        foreach (int op in ops)
        {
            int kind = op % 10, space = (op >> 4) & 1, page = (op >> 5) % Pages, frame = (op >> 11) % Frames, form = (op >> 16) % 5;
            ulong va = VaBase + (ulong)page * 4096;
            switch (kind)
            {
                case 0 or 1 or 2: // map or remap; only a remap (a PTE that was valid) needs the invalidation
                    bool wasMapped = model.ContainsKey((space, page));
                    tables[space].Map(va, PageTableEntry.Create(MemoryLocation.Local, (ulong)frame * 4096));
                    model[(space, page)] = frame;
                    if (wasMapped) InvalidateCovering(device, Asids[space], page, form, op);
                    break;
                case 3: // unmap
                    tables[space].Unmap(va);
                    model.Remove((space, page));
                    InvalidateCovering(device, Asids[space], page, form, op);
                    break;
                case 4: // an unrelated invalidation (other ASID or other pages) must not disturb anything
                    Invalidate(device, Asids[1 - space], va, 1);
                    break;
                default: // translate through one of the clients and compare with the model
                    if (!Agrees(device.Mmu, clients[op & 1], tables[space].Space(Asids[space]), space, page, model)) return false;
                    break;
            }
        }
        for (int s = 0; s < 2; s++)
            for (int p = 0; p < Pages; p++)
                foreach (var tlb in clients)
                    if (!Agrees(device.Mmu, tlb, tables[s].Space(Asids[s]), s, p, model)) return false;
        return true;
    }

    private static bool Agrees(GpuMmu mmu, Tlb tlb, in AddressSpaceDescriptor space, int s, int page, Dictionary<(int, int), int> model)
    {
        var status = mmu.Translate(tlb, space, VaBase + (ulong)page * 4096 + 8, AccessKind.Read, false, out var run);
        if (status != TranslationStatus.Ok) return false;
        return model.TryGetValue((s, page), out int frame)
            ? !run.IsDummy && run.PhysicalOffset == (ulong)frame * 4096 + 8
            : run.IsDummy;
    }

    /// <summary>One of the documented invalidations that covers the page (seed 001 §5.3 step 4: the VA is then invalidated).</summary>
    private static void InvalidateCovering(Coprocessor device, ushort asid, int page, int form, int op)
    {
        ulong va = VaBase + (ulong)page * 4096;
        int before = (op >> 20) % 4, after = (op >> 23) % 4;
        switch (form)
        {
            case 0: Invalidate(device, asid, va, 1); break;
            case 1: Invalidate(device, asid, va - (ulong)before * 4096 + 0x123, (ulong)(before + 1 + after)); break; // low bits ignored
            case 2: Invalidate(device, Tlb.AllAsids, va, 1); break;
            case 3: Invalidate(device, asid, 0, 0); break; // pages = 0: the whole space
            default: device.Mmio.Write32(MmioMap(MmuRegisters.TlbInvCmd), MmuRegisters.CommandInvalidateAll); break;
        }
    }

    private static void Invalidate(Coprocessor device, ushort asid, ulong va, ulong pages)
    {
        device.Mmio.Write32(MmioMap(MmuRegisters.TlbInvAsid), asid);
        device.Mmio.Write64(MmioMap(MmuRegisters.TlbInvVa), va);
        device.Mmio.Write64(MmioMap(MmuRegisters.TlbInvPages), pages);
        device.Mmio.Write32(MmioMap(MmuRegisters.TlbInvCmd), MmuRegisters.CommandInvalidateRange);
    }

    private static uint MmioMap(uint offset) => Coproc.Fast.Device.Mmio.MmioMap.MmuBase + offset;
}
