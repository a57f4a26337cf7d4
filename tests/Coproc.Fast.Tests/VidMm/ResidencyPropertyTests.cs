using Coproc.Fast.Device.Memory;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidMm.Residency;
using static Coproc.Fast.Tests.VidMm.ResidencyRig;

namespace Coproc.Fast.Tests.VidMm;

/// <summary>
/// FsCheck: random sequences of create / make-resident (random sets, random contexts) / touch / evict / destroy on a
/// 4 MiB device, each paging buffer executed on the copy engine. After every step: every set member is resident, no two
/// resident or pinned extents overlap, the byte accounting of local memory balances, the working sets partition the
/// resident allocations, a refused request changed nothing, and every allocation holds exactly its bytes.
/// </summary>
public class ResidencyPropertyTests
{
    [FsCheck.NUnit.Property(MaxTest = 10, StartSize = 20, EndSize = 60, Replay = "(20261201,4711)")]
    public void RandomSequences_KeepTheResidencyInvariants_AndEveryByte(int[] ops)
    {
        using var rig = new ResidencyRig(localBytes: 4 * MiB, systemBytes: 32 * MiB);
        var live = new List<AllocationHandle>();
        var content = new Dictionary<AllocationHandle, byte[]>();
        for (int i = 0; i < ops.Length; i++)
        {
            ulong x = Mix((ulong)(uint)ops[i] | ((ulong)i << 32));
            uint a = (uint)(x >> 8), b = (uint)(x >> 40);
            int ctx = (int)(b % 3);
            switch (x % 6)
            {
                case 0 or 1:
                {
                    ulong size = (a % 96 + 1) * 4096;
                    ulong align = b % 4 == 0 ? 64 * KiB : 4096;
                    var h = rig.Rm.CreateAllocation(size, ctx, align);
                    content[h] = Pattern(i, (int)size);
                    rig.Write(h, content[h]);
                    live.Add(h);
                    break;
                }
                case 2 or 3 when live.Count > 0:
                {
                    var set = Enumerable.Range(0, (int)(b % 4) + 1).Select(k => live[(int)((a + (uint)k * 7919) % (uint)live.Count)]).Distinct().ToArray();
                    string before = rig.State(live, 0, 1, 2);
                    var list = new List<PagingOperation>();
                    var outcome = rig.Rm.MakeResident(Refs(set), ctx, list);
                    if (outcome == ResidencyOutcome.DoesNotFit)
                    {
                        Assert.That(list, Is.Empty);
                        Assert.That(rig.State(live, 0, 1, 2), Is.EqualTo(before), "a refused request changes nothing");
                        break;
                    }
                    if (list.Count > 0) rig.RunPaging(list);
                    Assert.That(set.All(rig.Rm.IsResident), Is.True);
                    // The "GPU" rewrites one member while resident.
                    var w = set[(int)(a % (uint)set.Length)];
                    content[w] = Pattern(i * 31 + 1, content[w].Length);
                    rig.Write(w, content[w]);
                    break;
                }
                case 4 when live.Count > 0:
                {
                    var h = live[(int)(a % (uint)live.Count)];
                    var list = new List<PagingOperation>();
                    if (b % 2 == 0) rig.Rm.Touch(Refs(h), ctx);
                    else if (rig.Rm.Evict(h, list)) rig.RunPaging(list);
                    break;
                }
                case 5 when live.Count > 0:
                {
                    var h = live[(int)(a % (uint)live.Count)];
                    rig.Rm.DestroyAllocation(h);
                    live.Remove(h);
                    content.Remove(h);
                    break;
                }
            }
            CheckInvariants(rig, live, content);
        }
    }

    private static void CheckInvariants(ResidencyRig rig, List<AllocationHandle> live, Dictionary<AllocationHandle, byte[]> content)
    {
        var extents = new List<(ulong Start, ulong End)>();
        ulong resident = 0, pinned = 0;
        foreach (var h in rig.Vm.LiveHandles())
        {
            bool managed = rig.Rm.IsManaged(h);
            var ext = rig.Vm.ExtentsOf(h);
            if (managed)
            {
                Assert.That(ext, Has.Length.EqualTo(1));
                Assert.That(ext[0].Address.Location == MemoryLocation.Local, Is.EqualTo(rig.Rm.IsResident(h)));
                if (!rig.Rm.IsResident(h)) { Assert.That(ext[0], Is.EqualTo(rig.Rm.BackingOf(h))); continue; }
                resident += ext[0].Bytes;
            }
            foreach (var e in ext.Where(e => e.Address.Location == MemoryLocation.Local))
            {
                if (!managed) pinned += e.Bytes;
                extents.Add((e.Address.Offset, e.Address.Offset + e.Bytes));
            }
        }
        extents.Sort();
        for (int i = 1; i < extents.Count; i++) Assert.That(extents[i].Start, Is.GreaterThanOrEqualTo(extents[i - 1].End), "local extents overlap");
        Assert.That(rig.Rm.ResidentBytes, Is.EqualTo(resident));
        Assert.That(rig.Vm.Local.FreeBytes + pinned + resident, Is.LessThanOrEqualTo(rig.Vm.Local.SizeBytes), "page tables are the only unlisted pinned memory");
        Assert.That(rig.Rm.InTransitBytes, Is.Zero, "the rig ran every paging buffer: nothing it vacated is still held");
        Assert.That(rig.Rm.ResidentBudget, Is.EqualTo(rig.Vm.Local.FreeBytes + resident));
        var bySets = Enumerable.Range(0, 3).SelectMany(rig.Rm.WorkingSet).ToList();
        var byRecency = rig.Rm.ResidentByRecency();
        Assert.That(bySets, Is.EquivalentTo(byRecency).And.Unique);
        Assert.That(byRecency, Is.EquivalentTo(live.Where(rig.Rm.IsResident)));
        foreach (var h in live) Assert.That(rig.Read(h).AsSpan().SequenceEqual(content[h]), Is.True, $"{h} lost bytes");
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
