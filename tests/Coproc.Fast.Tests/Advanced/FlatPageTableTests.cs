using Coproc.Fast.Device.Mmu;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Advanced;

/// <summary>
/// The advanced model with the seed's flat page table (seed 001 §5.4.1: one variable-length table and a limit
/// register) beside the multi-level one (§5.4.2) in the same machine: demand faulting, eviction and re-faulting work
/// through either, and the bytes match a CPU model.
/// </summary>
[Category(Coproc.Fast.Tests.Models.ModelCategory.Advanced)]
public class FlatPageTableTests
{
    [TestCase(RunListMechanism.TwoElement)]
    [TestCase(RunListMechanism.History)]
    public void FlatAndMultiLevelProcesses_FaultInEvictAndRefault_AndMatchACpuModel(RunListMechanism mechanism)
    {
        // Given one process with a flat table and one with a multi-level table, each with surfaces that together
        // oversubscribe the 8 MiB of local memory, none resident.
        using var rig = new AdvancedRig(AdvancedRig.Small(mechanism));
        var flat = rig.Scheduler.CreateProcess(PageTableFormat.Flat);
        var multi = rig.Scheduler.CreateProcess(PageTableFormat.MultiLevel);
        Assert.That(flat.Space.Format, Is.EqualTo(PageTableFormat.Flat));
        Assert.That(multi.Space.Format, Is.EqualTo(PageTableFormat.MultiLevel));
        const int size = 2 << 20;
        var contexts = new[] { rig.Scheduler.CreateContext(flat), rig.Scheduler.CreateContext(multi) };
        var surfaces = new[] { Enumerable.Range(0, 3).Select(_ => flat.AllocateSurface(size)).ToArray(), Enumerable.Range(0, 3).Select(_ => multi.AllocateSurface(size)).ToArray() };

        // When each fills its surfaces in turn, twice (the second round refaults what the other evicted), listing nothing.
        var tickets = new List<VaTicket>();
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < 3; i++)
                for (int p = 0; p < 2; p++)
                {
                    var s = surfaces[p][i];
                    uint pattern = (uint)(round * 100 + i * 10 + p + 1);
                    tickets.Add(rig.Submit(contexts[p], (ref PacketWriter w) => w.Fill(s.Va, pattern, size)));
                }
        Assert.That(rig.Machine.RunUntilIdle(), Is.True);

        // Then everything retired through page faults in both formats, and every surface holds its last pattern.
        Assert.That(tickets.All(t => t.IsComplete), Is.True, string.Join("; ", contexts.Select(c => $"{c} {c.ErrorReason} 0x{c.ErrorAddress:X}")));
        Assert.That(contexts.Select(c => c.PageFaults), Is.All.GreaterThan(0), "both formats demand-faulted");
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < 3; i++)
                AdvancedRig.AssertBytes(rig.Read(surfaces[p][i]), AdvancedRig.Pattern((uint)(100 + i * 10 + p + 1), size), $"process {p} surface {i}");
    }
}
