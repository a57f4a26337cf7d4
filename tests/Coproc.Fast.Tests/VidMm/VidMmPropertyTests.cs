using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// FsCheck: random sequences of alloc / free / GPU map / GPU unmap / CPU map / CPU unmap agree with a simple
/// reference model, and after every step no two live allocations overlap physically, every byte of both
/// memories is accounted for, the device's walker agrees with every GPU mapping and the CPU page table
/// with every CPU mapping. Fixed replay seeds keep the runs deterministic.
/// </summary>
public class VidMmPropertyTests
{
    private const ulong Page = VidMmTestRig.Page;

    private sealed class ModelCpuMapping(ulong va, ulong offset, ulong pages)
    {
        public readonly ulong Va = va, Offset = offset, Pages = pages;
        public readonly List<ulong> References = new();
    }

    private sealed class ModelAllocation(AllocationHandle handle, ulong pages)
    {
        public readonly AllocationHandle Handle = handle;
        public readonly ulong Pages = pages;
        public bool Live = true;
        public readonly List<(int Space, ulong Va)> Gpu = new();
        public readonly List<ModelCpuMapping> Cpu = new();
        public bool Mapped => Gpu.Count + Cpu.Count > 0;
    }

    [FsCheck.NUnit.Property(MaxTest = 30, StartSize = 30, EndSize = 100, Replay = "(20261121,1357)")]
    public void RandomSequences_AgreeWithAReferenceModel(int[] ops)
    {
        using var rig = new VidMmTestRig(apertureBytes: 4 << 20);
        var vm = rig.Vm;
        var gpu = new[] { vm.CreateGpuAddressSpace(), vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { Format = PageTableFormat.Flat }) };
        var cpu = vm.CreateCpuAddressSpace();
        var model = new List<ModelAllocation>();
        for (int i = 0; i < ops.Length; i++)
        {
            // FsCheck's ints cluster near zero; mix each with its position so kinds and operands spread evenly.
            ulong x = Mix((ulong)(uint)ops[i] | ((ulong)i << 32));
            int kind = (int)(x % 7);
            uint a = (uint)(x >> 8) & 0xFFFFF, b = (uint)(x >> 36) & 0xFFFFF;
            ModelAllocation? pick = model.Count == 0 ? null : model[(int)(a % (uint)model.Count)];
            switch (kind)
            {
                case 0 or 1:
                {
                    ulong pages = a % 8 + 1;
                    var h = vm.Allocate(pages * Page, placement: (PlacementHint)(b % 4));
                    model.Add(new ModelAllocation(h, pages));
                    break;
                }
                case 2 when pick is not null:
                {
                    var expected = !pick.Live ? VidMmError.InvalidHandle : pick.Mapped ? VidMmError.StillMapped : (VidMmError?)null;
                    Expect(expected, () => vm.Free(pick.Handle));
                    if (expected is null) pick.Live = false;
                    break;
                }
                case 3 when pick is not null:
                {
                    int s = (int)(b % 2);
                    if (!pick.Live) { Expect(VidMmError.InvalidHandle, () => gpu[s].MapAllocation(pick.Handle)); break; }
                    pick.Gpu.Add((s, gpu[s].MapAllocation(pick.Handle, (GpuMappingFlags)(b % 4))));
                    break;
                }
                case 4:
                {
                    var owner = model.FirstOrDefault(m => m.Gpu.Count > 0 && (a & 1) == 0) ?? model.LastOrDefault(m => m.Gpu.Count > 0);
                    if (owner is null) { Expect(VidMmError.NotMapped, () => gpu[b % 2].Unmap(0x1000_0000_0000 + a % 1000 * Page)); break; }
                    var (s, va) = owner.Gpu[(int)(b % (uint)owner.Gpu.Count)];
                    gpu[s].UnmapAllocation(va);
                    owner.Gpu.Remove((s, va));
                    break;
                }
                case 5 when pick is not null:
                {
                    var mapped = model.Where(m => m.Cpu.Count > 0).ToList();
                    if (mapped.Count > 0 && (b & 1) == 0) pick = mapped[(int)(a % (uint)mapped.Count)];
                    ulong off = b / 3 % pick.Pages, len = a / 5 % (pick.Pages - off) + 1;
                    if (pick.Cpu.Count > 0 && (b & 1) == 0)
                    {
                        // Aim inside an existing mapping half of the time, so reuse (and its edges) is exercised.
                        var target = pick.Cpu[(int)(a % (uint)pick.Cpu.Count)];
                        off = target.Offset + b / 2 % target.Pages;
                        len = a / 3 % (target.Offset + target.Pages - off) + 1;
                    }
                    if (!pick.Live) { Expect(VidMmError.InvalidHandle, () => vm.MapToCpu(cpu, pick.Handle, off * Page, len * Page, CpuAddressHalf.User)); break; }
                    ulong va = vm.MapToCpu(cpu, pick.Handle, off * Page, len * Page, CpuAddressHalf.User);
                    var reuse = pick.Cpu.FirstOrDefault(m => m.Offset <= off && off + len <= m.Offset + m.Pages);
                    if (reuse is not null) Assert.That(va, Is.EqualTo(reuse.Va + (off - reuse.Offset) * Page), "reused mapping");
                    else pick.Cpu.Add(reuse = new ModelCpuMapping(va, off, len));
                    reuse.References.Add(va);
                    break;
                }
                case 6:
                {
                    var owner = model.FirstOrDefault(m => m.Cpu.Count > 0);
                    if (owner is null) { Expect(VidMmError.NotMapped, () => vm.UnmapFromCpu(cpu, CpuAddressSpace.UserBase + a % 1000 * Page)); break; }
                    var m = owner.Cpu[(int)(b % (uint)owner.Cpu.Count)];
                    ulong va = m.References[(int)(a % (uint)m.References.Count)];
                    vm.UnmapFromCpu(cpu, va);
                    m.References.Remove(va);
                    if (m.References.Count == 0) owner.Cpu.Remove(m);
                    break;
                }
            }
            CheckInvariants(rig, gpu, cpu, model);
        }
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    private static void Expect(VidMmError? expected, Action request)
    {
        if (expected is null) { request(); return; }
        Assert.That(Assert.Throws<VidMmException>(request)!.Error, Is.EqualTo(expected.Value));
    }

    private static void CheckInvariants(VidMmTestRig rig, GpuAddressSpace[] gpu, CpuAddressSpace cpu, List<ModelAllocation> model)
    {
        var vm = rig.Vm;
        var live = model.Where(m => m.Live).ToList();
        Assert.That(vm.LiveAllocations, Is.EqualTo(live.Count));
        var pages = new HashSet<(MemoryLocation, ulong)>();
        ulong allocated = 0;
        foreach (var m in live)
        {
            Assert.That(vm.SizeOf(m.Handle), Is.EqualTo(m.Pages * Page));
            foreach (var e in vm.ExtentsOf(m.Handle))
                for (ulong o = 0; o < e.Bytes; o += Page)
                    Assert.That(pages.Add((e.Address.Location, e.Address.Offset + o)), Is.True, "two live allocations overlap");
            allocated += m.Pages * Page;
            Assert.That(vm.MapCountOf(m.Handle), Is.EqualTo(m.Gpu.Count + m.Cpu.Count));
        }
        ulong tables = (gpu[0].TablePages + gpu[1].TablePages + 2) * Page; // + the aperture table (1024 entries = 2 pages)
        Assert.That(vm.Local.FreeBytes + vm.System.FreeBytes + allocated + tables + Page, Is.EqualTo(vm.Local.SizeBytes + vm.System.SizeBytes),
            "every page is free, allocated, a page table or local page 0 (never handed out)");
        foreach (var m in live)
        {
            foreach (var (s, va) in m.Gpu)
                foreach (ulong o in new[] { 0UL, (m.Pages - 1) * Page })
                {
                    Assert.That(rig.Device.Mmu.Walk(gpu[s].Descriptor, va + o, out var leaf, out _, out _, out _), Is.EqualTo(TranslationStatus.Ok));
                    Assert.That(new PhysicalAddress(leaf.Location, leaf.FrameOffset), Is.EqualTo(vm.PhysicalAddressOf(m.Handle, o)));
                }
            foreach (var c in m.Cpu)
                foreach (ulong va in c.References)
                    Assert.That(cpu.TryTranslate(va, out var pa) ? pa : default, Is.EqualTo(vm.PhysicalAddressOf(m.Handle, c.Offset * Page + (va - c.Va))));
        }
        Assert.That(cpu.MappedPages, Is.EqualTo(live.Sum(m => m.Cpu.Sum(c => (int)c.Pages))));
    }

    [FsCheck.NUnit.Property(MaxTest = 60, EndSize = 200, Replay = "(424242,99)")]
    public void BuddyAllocator_RandomAllocFree_NeverOverlaps_AndConservesUnits(int[] ops)
    {
        var b = new BuddyAllocator(777);
        var live = new List<(ulong Start, ulong Units)>();
        var owner = new int[777];
        foreach (int op in ops)
        {
            uint u = (uint)op;
            if (u % 3 != 0 || live.Count == 0)
            {
                ulong units = u / 3 % 40 + 1;
                int align = (int)(u / 200 % 4);
                if (!b.TryAllocate(units, align, out ulong s)) continue;
                Assert.That(s % (1UL << align), Is.Zero);
                for (ulong x = s; x < s + units; x++) { Assert.That(owner[x], Is.Zero, "overlap"); owner[x] = 1; }
                live.Add((s, units));
            }
            else
            {
                var (s, n) = live[(int)(u / 3 % (uint)live.Count)];
                live.Remove((s, n));
                b.FreeRange(s, n);
                for (ulong x = s; x < s + n; x++) owner[x] = 0;
            }
            Assert.That(b.FreeUnits + (ulong)live.Sum(l => (long)l.Units), Is.EqualTo(777UL));
            for (ulong x = 0; x < 777; x += 37) Assert.That(b.IsFree(x), Is.EqualTo(owner[x] == 0));
        }
    }
}
