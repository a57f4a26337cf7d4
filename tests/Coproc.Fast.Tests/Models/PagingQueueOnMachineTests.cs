using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// The machine's one paging channel (seed 004, <see cref="Machine.Paging"/>) in every model: a tiled-resource reserve
/// writes page tables, so it is asynchronous — it returns a paging-fence value — and a context that waits on that value
/// with WAIT_FENCE (the fence mapped into its address space) touches the range only once it is usable. Without the wait
/// the same context reaches the range before the reserve ran and faults (the space faults on invalid VAs): the premise.
/// </summary>
[TestFixture]
public class PagingQueueOnMachineTests
{
    private const ulong RangeBytes = 64 << 10;

    [TestCase(SchedulingModel.Basic, true)]
    [TestCase(SchedulingModel.Advanced, true)]
    [TestCase(SchedulingModel.Hardware, true)]
    [TestCase(SchedulingModel.Basic, false)]
    [TestCase(SchedulingModel.Advanced, false)]
    [TestCase(SchedulingModel.Hardware, false)]
    public void GivenAnAsynchronousTiledReserve_WhenAUserQueueWaitsOnItsPagingFence_ThenItReadsTheRangeAsZeros_AndWithoutTheWaitItFaults(
        SchedulingModel model, bool waitForTheReserve)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var surfaces = ModelWorkload.CreateUserQueueSurfaces(m);
        // A 4 MiB page-in queued first (a managed allocation of a kernel-path context on copy, a kernel-path engine in
        // every model), so the reserve behind it completes well after the queue's first packets could run.
        var kernel = m.CreateContext(9, 0, EngineKind.Copy);
        var big = m.AllocateManaged(9, kernel, 4 << 20);
        ulong fenceVa, value, range;
        lock (m.Scheduler.KernelLock)
        {
            m.Device.Memory.GetSpan(m.VidMm.PhysicalAddressOf(surfaces.Surfaces[0], 0), 4096).Fill(0xFF);
            fenceVa = m.Paging.MapPagingFence(surfaces.Space);
            Assert.That(m.Paging.MakeResident(big, kernel.Id), Is.Not.Zero, "premise: the page-in is queued");
            value = m.Paging.ReserveTiledGpuVa(surfaces.Space, RangeBytes, 4096, out range);
        }
        Assert.That(value, Is.GreaterThan(m.Paging.Completed), "a reserve that writes page tables completes later, at its paging fence");

        // A ring-3 queue (every model has them) copies the range's first page over a page of 0xFF, then writes its fence.
        var registration = m.CreateUserQueue(1, surfaces.Space, 0x100, EngineKind.Compute); // not the paging context's engine
        var queue = registration.Open(m.Device.Memory);
        var packets = new uint[64];
        var w = new PacketWriter(packets);
        if (waitForTheReserve) w.WaitFence(fenceVa, value);
        w.Copy(surfaces.Va[0], range, 4096);
        w.Fence(surfaces.FenceVa, 1);
        ModelWorkload.Write(queue, w.WrittenSpan);
        queue.Flush();

        Assert.That(m.RunUntil(() => m.Device.Memory.Read64(surfaces.Fence) == 1 || registration.Context.IsStopped, 500_000_000), Is.True);

        if (waitForTheReserve)
        {
            Assert.That(registration.Context.IsStopped, Is.False, "no fault: the range was read only after the reserve ran");
            Assert.That(m.Paging.Fence.IsSignaled(value), Is.True);
            var page = ModelWorkload.Read(m, surfaces.Surfaces[0], 4096);
            Assert.That(page, Is.All.EqualTo((byte)0), "the reserved range reads the dummy page's zeros");
        }
        else
        {
            Assert.That(registration.Context.IsStopped, Is.True, "premise: without the wait the copy reaches the range before the reserve");
        }
    }
}
