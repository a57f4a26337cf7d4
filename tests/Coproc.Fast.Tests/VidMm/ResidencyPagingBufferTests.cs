using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Paging;
using Coproc.Fast.Driver.VidMm.Residency;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>Seed 001 §3.6 (behaviour 10), §4.2 (behaviour 13), and oversubscription with every byte kept.</summary>
public class ResidencyPagingBufferTests
{
    // Ops copying between pinned scratch pages: f = (pre, post) flags per op.
    private static List<PagingOperation> Ops(ResidencyRig rig, params (bool Pre, bool Post)[] f)
    {
        var scratch = rig.Vm.Allocate((ulong)(f.Length + 1) * 4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var pa = rig.Vm.PhysicalAddressOf(scratch, 0);
        return f.Select((x, i) => new PagingOperation(PagingOperationKind.Relocate, scratch, pa.Add((ulong)i * 4096),
            pa.Add((ulong)(i + 1) * 4096), 4096, x.Pre, x.Post)).ToList();
    }

    [TestCase(new[] { false, false, false }, new[] { true, true, true }, 1, TestName = "PostFences_CollapseIntoOneEndingFence")]
    [TestCase(new[] { false, false, true, false }, new[] { true, true, true, true }, 2, TestName = "PreFenceAfterPendingPost_IsOneMergedFence_PlusTheEnding")]
    [TestCase(new[] { false, true, false, true, false }, new[] { true, false, true, false, true }, 3, TestName = "TwoDependencies_GiveTwoMergedFences_PlusTheEnding")]
    [TestCase(new[] { true, false }, new[] { false, true }, 1, TestName = "PreFenceWithNothingPending_NeedsNoFence")]
    [TestCase(new[] { false, false }, new[] { false, false }, 0, TestName = "NoCpuWork_NoFence")]
    [TestCase(new[] { false, true }, new[] { true, false }, 1, TestName = "MergedFence_CoversTheLastPost_NoEndingFence")]
    public void PagingBuffer_FenceAggregationAndMerge_InterruptsEqualDistinctFences(bool[] pre, bool[] post, int expectedFences)
    {
        using var rig = new ResidencyRig();
        var ops = Ops(rig, pre.Zip(post).Select(p => (p.First, p.Second)).ToArray());
        int before = rig.FenceInterrupts;

        int fences = rig.RunPaging(ops);

        Assert.That(fences, Is.EqualTo(expectedFences));
        Assert.That(rig.FenceInterrupts - before, Is.EqualTo(expectedFences), "one interrupt per distinct fence");
        if (expectedFences > 0) Assert.That(rig.FenceValue, Is.EqualTo((ulong)expectedFences), "values 1, 2, … in order");
    }

    [Test]
    public void PagingBuffer_IsPrivilegedCopiesInKernelViewVas_BracketedByContextSwitchDisable()
    {
        using var rig = new ResidencyRig();
        var ops = Ops(rig, (false, true));
        var buf = new uint[256];
        int n = rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), buf, rig.FenceAddress, 40, out int fences);
        var kinds = new List<Opcode>();
        for (int at = 0; at < n;)
        {
            Assert.That(PacketDecoder.TryDecode(buf.AsSpan(0, n), at, out var p, out var err), Is.True, err.ToString());
            kinds.Add(p.Opcode);
            at += p.LengthDwords;
        }
        Assert.That(kinds, Is.EqualTo(new[] { Opcode.DisableContextSwitch, Opcode.Copy, Opcode.Fence, Opcode.EnableContextSwitch }));
        Assert.That(fences, Is.EqualTo(1));
        ulong src = buf[2] | ((ulong)buf[3] << 32), dst = buf[4] | ((ulong)buf[5] << 32);
        Assert.That(src, Is.EqualTo(rig.Rm.View.VaOf(ops[0].From)));
        Assert.That(dst, Is.EqualTo(rig.Rm.View.VaOf(ops[0].To)));
        Assert.That((buf[8] >> 8) & 0x0C, Is.EqualTo(0x0Cu), "fence: privileged (bit 2) with interrupt (bit 3)");
    }

    [Test]
    public void KernelView_MapsAllMemoryAtFixedBases_WithPrivilegedWritable2MiBPages()
    {
        using var rig = new ResidencyRig();
        var kv = rig.Rm.KernelView;
        var s = rig.Device.Mmu.Walk(kv, KernelViewSpace.LocalBase + 0x345678, out var leaf, out bool w, out bool p, out ulong size);
        Assert.That((s, leaf.Location, leaf.FrameOffset + (0x345678 & (size - 1)), w, p, size),
            Is.EqualTo((Coproc.Fast.Device.Mmu.TranslationStatus.Ok, MemoryLocation.Local, 0x345678UL, true, true, 2 * MiB)));
        s = rig.Device.Mmu.Walk(kv, KernelViewSpace.SystemBase + 32 * MiB - 8, out leaf, out _, out p, out size);
        Assert.That((s, leaf.Location, p), Is.EqualTo((Coproc.Fast.Device.Mmu.TranslationStatus.Ok, MemoryLocation.System, true)));
        Assert.That(leaf.FrameOffset + ((32 * MiB - 8) & (size - 1)), Is.EqualTo(32 * MiB - 8));
        Assert.That(rig.Device.Mmu.Walk(kv, KernelViewSpace.LocalBase + 8 * MiB, out _, out _, out _, out _),
            Is.Not.EqualTo(Coproc.Fast.Device.Mmu.TranslationStatus.Ok), "past local memory nothing is mapped");
        Assert.That(kv.FaultOnInvalid, Is.True);
    }

    [Test]
    public void PagingBuffer_KeepsTheEngineUntilItCompletes_ASwitchRequestIsDeferred()
    {
        using var rig = new ResidencyRig();
        var a = rig.Rm.CreateAllocation(4 * MiB, 1);
        rig.Stamp(a, 8);
        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.MakeResident(Refs(a), 1, ops), Is.EqualTo(ResidencyOutcome.PagingRequired));
        var pa = rig.Vm.PhysicalAddressOf(rig.Buffer, 0);
        int n = rig.Rm.BuildPagingBuffer(CollectionsMarshal.AsSpan(ops), MemoryMarshal.Cast<byte, uint>(rig.Device.Memory.GetSpan(pa, 4096)),
            rig.FenceAddress, 1, out _);
        Assert.That(rig.Paging.TrySubmitIndirect(rig.Rm.View.VaOf(pa), (uint)n, privileged: true), Is.True);
        var other = new KernelContext(rig.Vm, rig.Rm.KernelView, 0x77);
        const uint copyBank = 0x400 + (uint)EngineKind.Copy * 0x80;
        rig.Device.Mmio.Write64(copyBank, rig.Paging.SaveArea.Encoded);
        rig.Device.Step(20_000); // 4 MiB at 32 B/cycle takes ~131 k cycles: mid-copy now

        rig.Device.Mmio.Write64(copyBank, other.SaveArea.Encoded); // the scheduler's quantum expired

        Assert.That(rig.Device.Mmio.Read32(copyBank + 0x20) & 64u, Is.EqualTo(64u), "switch deferred");
        Assert.That(rig.Device.Mmio.Read64(copyBank + 0x08), Is.EqualTo(rig.Paging.SaveArea.Encoded));
        for (int i = 0; i < 100 && rig.Device.Mmio.Read64(copyBank + 0x08) != other.SaveArea.Encoded; i++) rig.Device.Step(1 << 16);
        Assert.That(rig.FenceValue, Is.EqualTo(1UL), "the paging buffer finished before the switch");
        Assert.That(rig.Read(a).AsSpan().SequenceEqual(Pattern(8, (int)(4 * MiB))), Is.True);
    }

    [Test]
    public void Oversubscription_TwiceLocalMemory_RandomTouchesAcrossContexts_KeepEveryByte()
    {
        using var rig = new ResidencyRig();
        var rnd = new Random(4242);
        var sizes = new[] { 64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 1 * MiB };
        var handles = new List<AllocationHandle>();
        var expected = new List<byte[]>();
        ulong total = 0;
        while (total < 2 * 8 * MiB)
        {
            ulong size = sizes[rnd.Next(sizes.Length)];
            var h = rig.Rm.CreateAllocation(size, rnd.Next(4));
            var content = Pattern(handles.Count * 7919, (int)size);
            rig.Write(h, content);
            handles.Add(h);
            expected.Add(content);
            total += size;
        }
        int evictions = 0, pageIns = 0;
        for (int step = 0; step < 80; step++)
        {
            int ctx = rnd.Next(4);
            var set = Enumerable.Range(0, 1 + rnd.Next(4)).Select(_ => rnd.Next(handles.Count)).Distinct().ToArray();
            var ops = rig.MakeResident(ctx, set.Select(i => handles[i]).ToArray());
            evictions += ops.Count(o => o.Kind == PagingOperationKind.Evict);
            pageIns += ops.Count(o => o.Kind == PagingOperationKind.PageIn);
            foreach (int i in set)
            {
                Assert.That(rig.Rm.IsResident(handles[i]), Is.True);
                Assert.That(rig.Read(handles[i]).AsSpan().SequenceEqual(expected[i]), Is.True, $"step {step}: allocation {i} arrived intact");
            }
            // The "GPU" writes one member of the set while it is resident.
            int w = set[rnd.Next(set.Length)];
            expected[w] = Pattern(step * 31 + w, expected[w].Length);
            rig.Write(handles[w], expected[w]);
        }
        Assert.That(evictions, Is.GreaterThan(10), "memory pressure forced repeated eviction");
        Assert.That(pageIns, Is.GreaterThan(20));
        for (int i = 0; i < handles.Count; i++) Assert.That(rig.Read(handles[i]).AsSpan().SequenceEqual(expected[i]), Is.True, $"allocation {i} at the end");
    }

    [Test]
    public void MovedAllocation_KeepsItsGpuVa_AndADmaBufferReadsTheRightBytesAfterTheMove()
    {
        using var rig = new ResidencyRig();
        var space = rig.Vm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
        var m = rig.Rm.CreateAllocation(64 * KiB, 1);
        ulong va = space.MapAllocation(m);
        var result = rig.Vm.Allocate(64 * KiB, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        ulong resultVa = space.MapAllocation(result);
        var dma = rig.Vm.Allocate(4096, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        ulong dmaVa = space.MapAllocation(dma);
        var packets = MemoryMarshal.Cast<byte, uint>(rig.Bytes(dma));
        var pw = new PacketWriter(packets);
        pw.Copy(resultVa, va, 64 * KiB);
        int dmaDwords = pw.Written;
        var user = new KernelContext(rig.Vm, space.Descriptor, 7);

        rig.Stamp(m, 1);                 // content in the backing store; the VA maps it there
        rig.MakeResident(1, m);
        var firstHome = rig.Vm.PhysicalAddressOf(m, 0);
        Assert.That(space.ReadLeaf(va).Location, Is.EqualTo(MemoryLocation.Local), "page-in rewrote the PTE");
        RunUser(rig, user, dmaVa, dmaDwords);   // translations of va now sit in the render engine's TLB
        Assert.That(rig.Read(result).AsSpan().SequenceEqual(Pattern(1, (int)(64 * KiB))), Is.True);

        var ops = new List<PagingOperation>();
        rig.Rm.Evict(m, ops);
        rig.RunPaging(ops);
        var squatter = rig.Rm.CreateAllocation(64 * KiB, 2);
        rig.MakeResident(2, squatter);
        rig.MakeResident(1, m);
        Assert.That(rig.Vm.PhysicalAddressOf(m, 0), Is.Not.EqualTo(firstHome), "m moved");
        Assert.That(rig.Vm.PhysicalAddressOf(squatter, 0), Is.EqualTo(firstHome));
        rig.Stamp(squatter, 99);          // the old home now holds other bytes
        rig.Bytes(result).Clear();

        RunUser(rig, user, dmaVa, dmaDwords);

        Assert.That(space.ReadLeaf(va).FrameOffset, Is.EqualTo(rig.Vm.PhysicalAddressOf(m, 0).Offset), "same VA, new frame");
        Assert.That(rig.Read(result).AsSpan().SequenceEqual(Pattern(1, (int)(64 * KiB))), Is.True, "no stale TLB entry, no patching");
    }

    private static void RunUser(ResidencyRig rig, KernelContext user, ulong dmaVa, int dwords)
    {
        Assert.That(user.TrySubmitIndirect(dmaVa, (uint)dwords, privileged: false), Is.True);
        rig.RunContext(EngineKind.Render, user);
    }
}
