using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.Ring3;

/// <summary>
/// Fair share by time among equal-priority user queues in the hardware model (seed 003: the scheduling core time-slices
/// the rung queues; seed 001 §5.5 fair share among equals), checked by the device as in the basic model's property
/// (<c>SchedulingPolicyProperties.FairShare_EqualsWithDifferentBufferLengthsFinishTogether_CheckedByTheDevice</c>):
/// equal queues each get the same total work cut into packets of very different lengths, all queued at once. After
/// each piece of work a queue writes how much of its work is done into its log slot, and its last packet copies every
/// slot. Shared by time, when any queue finishes every other one has done at least half of its work (less one piece).
/// </summary>
public class UserQueueFairShareTests
{
    [Test]
    public void EqualQueuesWithDifferentPacketLengths_FinishTogether_CheckedByTheDevice([Range(1, 6)] int seed)
    {
        const ulong Work = 2_000_000;
        ulong[] lengths = [25_000, 50_000, 200_000, 1_000_000, 2_000_000];
        var rng = new Random(seed);
        using var m = new Machine(new MachineOptions
        {
            Model = SchedulingModel.Hardware,
            Device = ModelWorkload.Device() with { LocalMemoryBytes = 32UL << 20 },
        });
        int n = rng.Next(2, 5);
        byte priority = (byte)rng.Next(0, 16);
        var chosen = Enumerable.Range(0, n).Select(_ => lengths[rng.Next(lengths.Length)]).ToArray();
        chosen[rng.Next(n)] = lengths[0]; // at least one short-packet queue: the case fairness by turns gets wrong
        chosen[(Array.IndexOf(chosen, lengths[0]) + 1) % n] = lengths[^1]; // and one whose packet outlasts a time slice

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
            ulong len = chosen[i], bytes = Math.Min(len * 64, 1UL << 20);
            int fills = (int)(len * 64 / bytes), count = (int)(Work / len);
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

        var bytesLog = m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(log, 0), 4096).ToArray();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                long bound = (long)(Work / 2) - (long)chosen[j];
                if (bound <= 0) continue;
                uint done = BitConverter.ToUInt32(bytesLog, 256 + i * 64 + j * 4);
                Assert.That(done, Is.GreaterThanOrEqualTo((uint)(bound / 1000)),
                    $"seed {seed}: when the queue of {chosen[i]}-cycle packets finished, the one of {chosen[j]}-cycle packets had done {done} of {Work / 1000} kilocycles (lengths {string.Join(", ", chosen)})");
            }
    }

    private static AllocationHandle Zeroed(Machine m, ulong bytes, PlacementHint placement)
    {
        var h = m.VidMm.Allocate(bytes, placement: placement, flags: AllocationFlags.Contiguous);
        m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(h, 0), (int)bytes).Clear();
        return h;
    }
}
