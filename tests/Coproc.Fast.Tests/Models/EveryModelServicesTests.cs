using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Display;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.Sync;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// What every scheduling model offers besides its own submission path (docs/models.md): the kernel path with
/// synchronization objects shared across processes and the present path's flips, and the threaded run mode.
/// </summary>
public class EveryModelServicesTests
{
    private const int Frame = 64 << 10;

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void ASemaphoreSharedAcrossProcesses_OrdersTheirWork_AndAVsyncFlipIsPresented(SchedulingModel model)
    {
        // Given a machine in the model (in the advanced model render belongs to the run-list back end: the kernel path
        // runs on compute), a producer process and a consumer process sharing a surface and a "filled" semaphore (0 of 1).
        var engine = model == SchedulingModel.Advanced ? EngineKind.Compute : EngineKind.Render;
        using var m = new Machine(new MachineOptions
        {
            Model = model, Device = ModelWorkload.Device() with { VsyncPeriodCycles = 1_000_000 },
        });
        var producer = m.CreateContext(1, 0, engine);
        var consumer = m.CreateContext(2, 0, engine);
        var surface = m.AllocateManaged(1, producer, Frame);
        var copy = m.AllocateManaged(2, consumer, Frame);
        m.Kmd.Process(2).Own(surface, Frame);
        uint filled = m.Kmd.CreateSynchronizationObject(1, SyncObjectKind.Semaphore, 0, 1);
        m.Kmd.ShareSynchronizationObject(1, filled, 2);

        // When the consumer's wait and copy are queued before the producer's fill and signal.
        m.Kmd.WaitOnSingleObject(2, consumer, filled);
        Submit(m, 2, consumer, cb => cb.Copy(surface, 0, copy, 0, Frame));
        Submit(m, 1, producer, cb => cb.Fill(surface, 0, 0x5A5A5A5Au, Frame));
        m.Kmd.SignalObject(1, producer, filled);
        // … and the consumer then flips a primary surface at vsync.
        m.Display.SetMode(64, 64);
        var front = m.Display.CreatePrimarySurface(2);
        var back = m.Display.CreatePrimarySurface(2);
        m.Display.Show(front);
        m.Display.CreateFlipChain(consumer, 2);
        Assert.That(m.Display.TryFlip(2, consumer, back, FlipKind.Vsync, out long flip), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);

        // Then the copy saw the producer's whole fill (the wait held it back), and the flip became visible at a vsync.
        var bytes = ModelWorkload.Read(m, copy, Frame);
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(bytes).ToArray(), Is.All.EqualTo(0x5A5A5A5Au));
        Assert.That(m.Display.StatusOf(consumer, flip), Is.EqualTo(FlipStatus.Presented));
        Assert.That(m.Scheduler.QuerySynchronizationObject(filled).Count, Is.Zero);
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void TheThreadedRunMode_RunsAUserQueueAndTheKernelPath(SchedulingModel model)
    {
        // Given a threaded machine in the model with a user queue (copy engine) and a kernel-path context (render; compute
        // in the advanced model, whose render engine the run-list back end drives — it gets a user buffer below).
        using var m = new Machine(new MachineOptions { Model = model, Mode = MachineRunMode.Threaded, Device = ModelWorkload.Device() });
        var ctx = m.CreateContext(1, 0, model == SchedulingModel.Advanced ? EngineKind.Compute : EngineKind.Render);
        var kernelTarget = m.AllocateManaged(1, ctx, Frame);
        GpuAddressSpace space;
        ulong targetVa, fenceVa;
        PhysicalAddress target, fence;
        lock (m.Scheduler.KernelLock)
        {
            space = m.VidMm.CreateGpuAddressSpace(new GpuAddressSpaceOptions { FaultOnInvalid = true });
            var t = m.VidMm.Allocate(Frame, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            var f = m.VidMm.Allocate(VideoMemoryManager.PageSize, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            target = m.VidMm.PhysicalAddressOf(t, 0);
            fence = m.VidMm.PhysicalAddressOf(f, 0);
            m.Device.Memory.GetSpan(fence, 4096).Clear();
            targetVa = space.MapAllocation(t);
            fenceVa = space.MapAllocation(f);
        }
        var queue = m.CreateUserQueue(3, space, 0x100, EngineKind.Copy).Open(m.Device.Memory);
        m.Start();

        // When both submit from this thread while the machine's threads run.
        Submit(m, 1, ctx, cb => cb.Fill(kernelTarget, 0, 0x11111111u, Frame));
        var packets = new uint[16];
        var w = new PacketWriter(packets);
        w.Fill(targetVa, 0x22222222u, Frame);
        w.Fence(fenceVa, 1);
        ModelWorkload.Write(queue, w.WrittenSpan);
        queue.Flush();
        // The advanced model: a user-built buffer on the run-list engine, faulting its surface in, from this thread too.
        Coproc.Fast.Driver.VidSch.RunLists.VaTicket? vaTicket = null;
        Coproc.Fast.Driver.VidSch.RunLists.GpuAllocation vaSurface = default;
        if (model == SchedulingModel.Advanced)
        {
            var rl = m.RunListScheduler;
            var vp = rl.CreateProcess();
            var vc = rl.CreateContext(vp);
            vaSurface = vp.AllocateSurface(Frame);
            var buffer = vp.CreateDmaBuffer(64);
            var bw = buffer.Writer();
            bw.Fill(vaSurface.Va, 0x33333333u, Frame);
            Assert.That(rl.Submit(vc, buffer, bw.Written, [], TimeSpan.FromSeconds(30), out var t), Is.True);
            vaTicket = t;
        }

        // Then all complete (bounded: the wait is a failure guard, not a timing).
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (m.Device.Memory.Read64(fence) < 1 && guard.Elapsed < TimeSpan.FromSeconds(30)) Thread.Yield();
        Assert.That(m.Device.Memory.Read64(fence), Is.EqualTo(1UL), "the user queue's fence");
        Assert.That(m.WaitUntilIdle(TimeSpan.FromSeconds(30)), Is.True, "the kernel path drained");
        Assert.That(ctx.StatusOf(ctx.Submitted), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(m.Device.Memory.GetSpan(target, Frame)).ToArray(), Is.All.EqualTo(0x22222222u));
        if (vaTicket is { } vt)
        {
            Assert.That(vt.IsComplete, Is.True, "the user buffer retired through the run lists");
            var bytes = ModelWorkload.Read(m, vaSurface.Handle, Frame);
            Assert.That(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(bytes).ToArray(), Is.All.EqualTo(0x33333333u));
        }
    }

    private static void Submit(Machine m, uint process, VidSchContext ctx, Action<CommandBufferBuilder> build)
    {
        var o = m.Scheduler.Options;
        var umd = new CommandBufferBuilder(m.Kmd.SinkFor(process, ctx), o.DmaBufferDwords, o.MaxReferences, o.MaxResourceId);
        build(umd);
        umd.Flush();
    }
}
