using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>Seed 001 §3.5, §5.3, §5.5: managed allocations, page-in, eviction order, relocation, refusal.</summary>
public class ResidencyManagerTests
{
    [Test]
    public void CreateAllocation_StartsInItsBackingStore_NotResident()
    {
        using var rig = new ResidencyRig();
        var h = rig.Rm.CreateAllocation(64 * KiB, ownerContextId: 1);
        Assert.That(rig.Rm.IsResident(h), Is.False);
        Assert.That(rig.Vm.LocationOf(h), Is.EqualTo(MemoryLocation.System));
        Assert.That(rig.Vm.PhysicalAddressOf(h, 0), Is.EqualTo(rig.Rm.BackingOf(h).Address));
        Assert.That(rig.Vm.FlagsOf(h) & AllocationFlags.Evictable, Is.EqualTo(AllocationFlags.Evictable));
        Assert.That(() => rig.Vm.Free(h), Throws.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.ManagedAllocation));
    }

    [Test]
    public void GivenACpuMappedResidentManagedAllocation_WhenMemoryPressureEvictsEverythingElse_ThenItStaysWhereItIsUntilUnmapped()
    {
        using var rig = new ResidencyRig();
        var mapped = rig.Rm.CreateAllocation(1 * MiB, 1);
        rig.MakeResident(1, mapped);
        var where = rig.Vm.ExtentsOf(mapped);
        var cpu = rig.Vm.CreateCpuAddressSpace();
        ulong va = rig.Vm.MapToCpu(cpu, mapped, 0, 1 * MiB, Coproc.Fast.Driver.Cpu.CpuAddressHalf.User);
        cpu.Write32(va + 0x100, 0xFEEDu);
        ulong budget = rig.Rm.ResidentBudget;

        var others = Enumerable.Range(0, 12).Select(i => rig.Rm.CreateAllocation(1 * MiB, 2)).ToArray();
        foreach (var o in others) rig.MakeResident(2, o); // 12 MiB through 8 MiB of local memory: evicts all it may

        Assert.That(rig.Vm.IsCpuPinned(mapped), Is.True);
        Assert.That(rig.Rm.IsResident(mapped), Is.True);
        Assert.That(rig.Vm.ExtentsOf(mapped), Is.EqualTo(where), "never moved while mapped");
        Assert.That(budget, Is.EqualTo(rig.Rm.ResidentBudget), "its bytes are outside the budget the sets compete for");
        Assert.That(rig.Rm.Evict(mapped, new()), Is.False);
        Assert.That(cpu.Read32(va + 0x100), Is.EqualTo(0xFEEDu));

        rig.Vm.UnmapFromCpu(cpu, va);
        Assert.That(rig.Vm.IsCpuPinned(mapped), Is.False);
        var evict = new List<PagingOperation>();
        Assert.That(rig.Rm.Evict(mapped, evict), Is.True, "unmap released it");
        rig.RunPaging(evict);
        Assert.That(BitConverter.ToUInt32(rig.Read(mapped), 0x100), Is.EqualTo(0xFEEDu), "the CPU's write travelled with it");
    }

    [Test]
    public void GivenACpuMappedManagedAllocationInItsBackingStore_WhenASetUsesIt_ThenItIsUsedInPlaceAndNotPagedIn()
    {
        using var rig = new ResidencyRig();
        var mapped = rig.Rm.CreateAllocation(64 * KiB, 1);
        var cpu = rig.Vm.CreateCpuAddressSpace();
        ulong va = rig.Vm.MapToCpu(cpu, mapped, 0, 64 * KiB, Coproc.Fast.Driver.Cpu.CpuAddressHalf.User);
        var backing = rig.Rm.BackingOf(mapped);

        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.MakeResident(Refs(mapped), 1, ops), Is.EqualTo(ResidencyOutcome.AlreadyResident));

        Assert.That(ops, Is.Empty);
        Assert.That(rig.Rm.IsResident(mapped), Is.False);
        Assert.That(rig.Vm.PhysicalAddressOf(mapped, 0), Is.EqualTo(backing.Address), "the device reaches it where the CPU does");
        // Patched through its kernel-view alias, which points where it is (docs/memory.md, "Contiguity and extents").
        Assert.That(rig.Rm.PatchAddress(mapped, 0), Is.LessThan(KernelViewSpace.LocalBase), "an evictable allocation is patched through its alias");
        Assert.That(() => rig.Rm.DestroyAllocation(mapped), Throws.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.StillMapped));
        rig.Vm.UnmapFromCpu(cpu, va);
        rig.Rm.DestroyAllocation(mapped);
    }

    [Test]
    public void MakeResident_PagesIn_AndEveryByteArrivesInLocalMemory()
    {
        using var rig = new ResidencyRig();
        var a = rig.Rm.CreateAllocation(192 * KiB, 1);
        var b = rig.Rm.CreateAllocation(64 * KiB, 1);
        rig.Stamp(a, 11);
        rig.Stamp(b, 12);

        var ops = rig.MakeResident(1, a, b, a);

        Assert.That(ops.Select(o => o.Kind), Is.All.EqualTo(PagingOperationKind.PageIn));
        Assert.That(ops, Has.Count.EqualTo(2), "a set naming an allocation twice pages it in once");
        Assert.That(rig.Vm.LocationOf(a), Is.EqualTo(MemoryLocation.Local));
        Assert.That(rig.Read(a).AsSpan().SequenceEqual(Pattern(11, (int)(192 * KiB))), Is.True);
        Assert.That(rig.Read(b).AsSpan().SequenceEqual(Pattern(12, (int)(64 * KiB))), Is.True);
        ulong patched = rig.Rm.PatchAddress(a, 0x123);
        Assert.That(patched, Is.EqualTo(rig.Rm.PatchAddress(a, 0) + 0x123).And.LessThan(KernelViewSpace.LocalBase),
            "an evictable allocation is patched through its kernel-view alias, linear over the allocation");
        Assert.That(rig.Rm.MakeResident(Refs(a, b), 1, new()), Is.EqualTo(ResidencyOutcome.AlreadyResident));
    }

    [Test]
    public void Evict_WritesContentBack_AndPageInToAnotherPlaceRestoresIt()
    {
        using var rig = new ResidencyRig();
        var a = rig.Rm.CreateAllocation(128 * KiB, 1);
        rig.MakeResident(1, a);
        rig.Stamp(a, 21); // the "GPU" wrote it while resident
        var first = rig.Vm.PhysicalAddressOf(a, 0);
        ulong patched = rig.Rm.PatchAddress(a, 0);

        var ops = new List<PagingOperation>();
        Assert.That(rig.Rm.Evict(a, ops), Is.True);
        rig.RunPaging(ops);
        Assert.That(rig.Vm.LocationOf(a), Is.EqualTo(MemoryLocation.System));
        Assert.That(rig.Read(a).AsSpan().SequenceEqual(Pattern(21, (int)(128 * KiB))), Is.True, "evict copied local → backing");

        var blocker = rig.Rm.CreateAllocation(128 * KiB, 2);
        rig.MakeResident(2, blocker); // takes the freed range
        rig.MakeResident(1, a);
        Assert.That(rig.Vm.PhysicalAddressOf(a, 0), Is.Not.EqualTo(first));
        Assert.That(rig.Read(a).AsSpan().SequenceEqual(Pattern(21, (int)(128 * KiB))), Is.True);
        Assert.That(rig.Rm.PatchAddress(a, 0), Is.EqualTo(patched), "a patched operand keeps naming the allocation after it moved (its alias)");
    }

    [Test]
    public void Eviction_TakesCurrentContextsLeastRecentFirst_ThenOtherContextsByRecency()
    {
        using var rig = new ResidencyRig();
        var b1 = rig.Rm.CreateAllocation(1 * MiB, 2);
        var a1 = rig.Rm.CreateAllocation(1 * MiB, 1);
        var a2 = rig.Rm.CreateAllocation(1 * MiB, 1);
        rig.MakeResident(2, b1); // globally the oldest
        rig.MakeResident(1, a1);
        rig.MakeResident(1, a2);
        var fill = new List<AllocationHandle>();
        while (rig.Vm.Local.FreeBytes >= 1 * MiB)
        {
            var f = rig.Rm.CreateAllocation(1 * MiB, 3);
            rig.MakeResident(3, f);
            fill.Add(f);
        }
        var x = rig.Rm.CreateAllocation(1 * MiB, 1);
        var y = rig.Rm.CreateAllocation(1 * MiB, 1);
        var z = rig.Rm.CreateAllocation(1 * MiB, 1);

        var ops1 = rig.MakeResident(1, x);
        var ops2 = rig.MakeResident(1, x, y);
        var ops3 = rig.MakeResident(1, x, y, z);

        Assert.That(Evicted(ops1), Is.EqualTo(new[] { a1 }), "context 1's LRU goes first, though b1 is older");
        Assert.That(Evicted(ops2), Is.EqualTo(new[] { a2 }));
        Assert.That(Evicted(ops3), Is.EqualTo(new[] { b1 }), "only the set is left in context 1: the globally oldest goes");
        Assert.That(ops1.Single(o => o.Kind == PagingOperationKind.PageIn).PreFence, Is.True, "x lands in the range a1's evict frees");
        Assert.That(rig.Rm.WorkingSet(1), Is.EqualTo(new[] { x, y, z }));
        Assert.That(fill.All(rig.Rm.IsResident), Is.True);
    }

    [Test]
    public void Touch_ReordersTheWorkingSet()
    {
        using var rig = new ResidencyRig();
        var a = rig.Rm.CreateAllocation(64 * KiB, 1);
        var b = rig.Rm.CreateAllocation(64 * KiB, 1);
        rig.MakeResident(1, a, b);
        rig.Rm.Touch(Refs(a), 1);
        Assert.That(rig.Rm.WorkingSet(1), Is.EqualTo(new[] { b, a }));
        rig.Rm.Touch(Refs(b), 4);
        Assert.That(rig.Rm.WorkingSet(1), Is.EqualTo(new[] { a }));
        Assert.That(rig.Rm.WorkingSet(4), Is.EqualTo(new[] { b }), "an allocation belongs to the working set of its last user");
    }

    [Test]
    public void FragmentedFreeSpace_IsCompactedByRelocation_KeepingEveryByte()
    {
        using var rig = new ResidencyRig();
        var small = new List<AllocationHandle>();
        while (rig.Vm.Local.FreeBytes >= 256 * KiB)
        {
            var h = rig.Rm.CreateAllocation(256 * KiB, 1);
            var ops = rig.MakeResident(1, h);
            Assert.That(ops.Any(o => o.Kind == PagingOperationKind.Evict), Is.False);
            rig.Stamp(h, 100 + small.Count);
            small.Add(h);
        }
        // Evict every other 256 KiB block: plenty of free bytes, no free aligned 1 MiB block.
        var evictOps = new List<PagingOperation>();
        foreach (var h in small.Where(h => (rig.Vm.PhysicalAddressOf(h, 0).Offset / (256 * KiB)) % 2 == 1)) rig.Rm.Evict(h, evictOps);
        rig.RunPaging(evictOps);
        Assert.That(rig.Vm.Local.FreeBytes, Is.GreaterThanOrEqualTo(1 * MiB));
        var big = rig.Rm.CreateAllocation(1 * MiB, 2);
        rig.Stamp(big, 7);

        var ops2 = rig.MakeResident(2, big);

        Assert.That(ops2.Count(o => o.Kind == PagingOperationKind.Relocate), Is.GreaterThan(0));
        Assert.That(ops2.Count(o => o.Kind == PagingOperationKind.Evict), Is.Zero, "compaction, not eviction");
        Assert.That(ops2[^1].Kind, Is.EqualTo(PagingOperationKind.PageIn));
        Assert.That(ops2[^1].PreFence, Is.True, "the page-in lands where relocations moved data out");
        foreach (var op in ops2.Where(o => o.Kind == PagingOperationKind.Relocate))
        {
            Assert.That(op.From.Location, Is.EqualTo(MemoryLocation.Local));
            Assert.That(op.To.Location, Is.EqualTo(MemoryLocation.Local));
        }
        for (int i = 0; i < small.Count; i++) Assert.That(rig.Read(small[i]).AsSpan().SequenceEqual(Pattern(100 + i, (int)(256 * KiB))), Is.True, $"small[{i}]");
        Assert.That(rig.Read(big).AsSpan().SequenceEqual(Pattern(7, (int)MiB)), Is.True);
    }

    [Test]
    public void SetLargerThanTheBudget_DoesNotFit_AndNothingChanges()
    {
        using var rig = new ResidencyRig();
        var resident = rig.Rm.CreateAllocation(1 * MiB, 1);
        rig.MakeResident(1, resident);
        var huge = Enumerable.Range(0, 4).Select(_ => rig.Rm.CreateAllocation(2 * MiB, 2)).ToArray();
        var all = huge.Append(resident).ToArray();
        string before = rig.State(all, 1, 2);
        var ops = new List<PagingOperation> { default };

        Assert.That(rig.Rm.FootprintOf(Refs(huge)), Is.EqualTo(8 * MiB));
        Assert.That(rig.Rm.MakeResident(Refs(huge), 2, ops), Is.EqualTo(ResidencyOutcome.DoesNotFit));
        Assert.That(ops, Has.Count.EqualTo(1), "no operation appended");
        Assert.That(rig.State(all, 1, 2), Is.EqualTo(before));
    }

    [Test]
    public void GivenPinnedMemoryThatSplitsEveryLargeBlock_WhenASetThatFitsTheBudgetIsMadeResident_ThenItIsPlacedInPiecesAndEveryByteArrives()
    {
        using var rig = new ResidencyRig();
        var others = new List<AllocationHandle>();
        for (int i = 0; i < 6; i++)
        {
            var h = rig.Rm.CreateAllocation(1 * MiB, 3);
            rig.MakeResident(3, h);
            others.Add(h);
        }
        // 4 MiB + 3 MiB fit the budget in bytes, but no aligned 4 MiB block is free of pinned memory.
        var a = rig.Rm.CreateAllocation(4 * MiB, 1);
        var b = rig.Rm.CreateAllocation(3 * MiB, 1);
        rig.Stamp(a, 41);
        rig.Stamp(b, 42);
        Assert.That(rig.Rm.FootprintOf(Refs(a, b)), Is.LessThanOrEqualTo(rig.Rm.ResidentBudget));

        var ops = rig.MakeResident(1, a, b);

        Assert.That(rig.Rm.IsResident(a) && rig.Rm.IsResident(b), Is.True);
        Assert.That(rig.Vm.ExtentsOf(a).Length + rig.Vm.ExtentsOf(b).Length, Is.GreaterThan(2), "at least one lies in several extents");
        Assert.That(rig.Vm.ExtentsOf(a).Concat(rig.Vm.ExtentsOf(b)).All(e => e.Address.Location == MemoryLocation.Local), Is.True);
        Assert.That(ops.Where(o => o.Kind == PagingOperationKind.PageIn).Sum(o => (long)o.Bytes), Is.EqualTo((long)(7 * MiB)), "one page-in per piece, covering both");
        Assert.That(rig.Read(a).AsSpan().SequenceEqual(Pattern(41, (int)(4 * MiB))), Is.True);
        Assert.That(rig.Read(b).AsSpan().SequenceEqual(Pattern(42, (int)(3 * MiB))), Is.True);
    }

    [Test]
    public void GivenAScatteredResidentAllocation_WhenItIsEvictedAndPagedInAgain_ThenEveryByteSurvivesBothMoves()
    {
        using var rig = new ResidencyRig();
        // 4,100 KiB: more than half of the 8 MiB local memory, so never one buddy block once kernel pages split the top one.
        var big = rig.Rm.CreateAllocation(4100 * KiB, 1);
        rig.Stamp(big, 9);
        rig.MakeResident(1, big);
        Assert.That(rig.Vm.ExtentsOf(big), Has.Length.GreaterThan(1), "precondition: scattered");
        var evict = new List<PagingOperation>();
        Assert.That(rig.Rm.Evict(big, evict), Is.True);
        Assert.That(evict.Select(o => o.Offset), Is.Ordered.Ascending.And.Unique, "one evict per piece, in allocation order");

        rig.RunPaging(evict);
        Assert.That(rig.Read(big).AsSpan().SequenceEqual(Pattern(9, (int)(4100 * KiB))), Is.True, "back in its backing store");
        rig.MakeResident(2, big);

        Assert.That(rig.Rm.IsResident(big), Is.True);
        Assert.That(rig.Read(big).AsSpan().SequenceEqual(Pattern(9, (int)(4100 * KiB))), Is.True);
    }

    [Test]
    public void PinnedAllocations_AreNeverEvicted_AndCountAsResident()
    {
        using var rig = new ResidencyRig();
        var pinned = rig.Vm.Allocate(512 * KiB, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var where = rig.Vm.ExtentsOf(pinned);
        ResidencyRig.Pattern(5, rig.Bytes(pinned));
        var managed = Enumerable.Range(0, 24).Select(i => rig.Rm.CreateAllocation(1 * MiB, i % 3)).ToArray();
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < managed.Length; i++) rig.MakeResident(i % 3, managed[i], pinned);

        Assert.That(rig.Vm.ExtentsOf(pinned), Is.EqualTo(where));
        Assert.That(rig.Read(pinned).AsSpan().SequenceEqual(Pattern(5, (int)(512 * KiB))), Is.True);
        Assert.That(rig.Rm.FootprintOf(Refs(pinned)), Is.Zero, "pinned memory is outside the budget");
        Assert.That(() => rig.Rm.Evict(pinned, new()), Throws.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.NotManaged));
    }

    [Test]
    public void StaleHandleInTheSet_Throws_AndNothingChanges()
    {
        using var rig = new ResidencyRig();
        var a = rig.Rm.CreateAllocation(64 * KiB, 1);
        var dead = rig.Rm.CreateAllocation(64 * KiB, 1);
        rig.Rm.DestroyAllocation(dead);
        string before = rig.State([a], 1);
        Assert.That(() => rig.Rm.MakeResident(Refs(a, dead), 1, new()),
            Throws.TypeOf<VidMmException>().With.Property(nameof(VidMmException.Error)).EqualTo(VidMmError.InvalidHandle));
        Assert.That(rig.State([a], 1), Is.EqualTo(before));
    }

    private static AllocationHandle[] Evicted(List<PagingOperation> ops) =>
        ops.Where(o => o.Kind == PagingOperationKind.Evict).Select(o => o.Handle).ToArray();
}
