using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Models;
using Coproc.Fast.Tests.Scheduling.Policy;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// Fair share by time among equal-priority user queues in the hardware model (seed 003: the scheduling core time-slices
/// the rung queues; seed 001 §5.5 fair share among equals), checked by the device as in the basic model's property
/// (<c>SchedulingPolicyProperties.FairShare_EqualsWithDifferentBufferLengthsFinishTogether_CheckedByTheDevice</c>):
/// equal queues each get the same work cut into packets of very different lengths, all queued at once
/// (<see cref="FinishTogether"/>).
/// </summary>
public class UserQueueFairShareTests
{
    [Test]
    public void EqualQueuesWithDifferentPacketLengths_FinishTogether_CheckedByTheDevice([Range(1, 6)] int seed)
    {
        var rng = new Random(seed);
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Hardware,
            Device = ModelWorkload.Device() with { LocalMemoryBytes = 32UL << 20 },
        });
        int n = rng.Next(2, 5);
        byte priority = (byte)rng.Next(0, 16);
        var chosen = FinishTogether.Choose(rng, n);

        GpuAddressSpace space;
        ulong logVa, fenceVa;
        AllocationHandle log;
        PhysicalAddress fence;
        ulong[] targetVa = new ulong[n];
        lock (m.Scheduler.KernelLock)
        {
            space = m.VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
            log = Zeroed(m, VideoMemoryManager.PageSize, PlacementHint.SystemOnly);
            logVa = space.MapAllocation(log);
            var fencePage = Zeroed(m, VideoMemoryManager.PageSize, PlacementHint.SystemOnly);
            fence = m.VidMm.PhysicalAddressOf(fencePage, 0);
            fenceVa = space.MapAllocation(fencePage);
            for (int i = 0; i < n; i++) targetVa[i] = space.MapAllocation(Zeroed(m, 1 << 20, PlacementHint.PreferLocal));
        }
        var queues = Enumerable.Range(0, n)
            .Select(i => m.CreateUserQueue(1, space, 0x100 + (uint)i, EngineKind.Render, priority).Open(m.Device.Memory)).ToArray();
        var packets = new uint[4096];
        for (int i = 0; i < n; i++)
        {
            ulong len = chosen[i];
            var (bytes, fills) = FinishTogether.Fills(len);
            int count = (int)(FinishTogether.Work / len);
            for (int k = 1; k <= count; k++)
            {
                var w = new PacketWriter(packets);
                for (int f = 0; f < fills; f++) w.Fill(targetVa[i], (uint)f, bytes);
                w.WriteData(logVa + (ulong)i * 4, (uint)((ulong)k * len / 1000));            // kilocycles of work done
                if (k == count)
                {
                    w.Copy(logVa + 256 + (ulong)i * 64, logVa, 64);                         // everyone's progress at my finish
                    w.Fence(fenceVa + (ulong)i * 8, 1);
                }
                ModelWorkload.Write(queues[i], w.WrittenSpan);
            }
        }
        foreach (var q in queues) q.Flush();

        Assert.That(m.RunUntil(() => Enumerable.Range(0, n).All(i => m.Device.Memory.Read64(fence.Add((ulong)i * 8)) == 1), 2_000_000_000), Is.True,
            "every queue finished");

        FinishTogether.AssertFinishedTogether(m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(log, 0), 4096), chosen, $"seed {seed}");
    }

    private static AllocationHandle Zeroed(Machine m, ulong bytes, PlacementHint placement)
    {
        var h = m.VidMm.Allocate(bytes, placement: placement, flags: AllocationFlags.Contiguous);
        m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(h, 0), (int)bytes).Clear();
        return h;
    }
}
