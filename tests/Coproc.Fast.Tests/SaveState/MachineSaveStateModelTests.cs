using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Umd;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Tests.Models;

namespace Coproc.Fast.Tests.SaveState;

/// <summary>
/// Machine save-state in the advanced model (user-built DMA buffers in a process's GPU VA space, demand faulting, run
/// lists) and the hardware model (a ring-3 user queue on the device's scheduling core): a snapshot taken mid-run and
/// restored into a fresh machine ends in the same state as the uninterrupted run, and a ring-3 queue re-opened on the
/// restored machine from its registration keeps working.
/// </summary>
public class MachineSaveStateModelTests
{
    private static readonly List<SurfaceOp[]> Batches = ModelWorkload.Batches(seed: 77, batches: 6, perBatch: 5);

    private static Machine NewMachine(SchedulingModel model) =>
        new(new MachineOptions { Model = model, Device = ModelWorkload.Device() with { SystemMemoryBytes = 16UL << 20 } });

    // Advanced: everything submitted up front on one run-list context; returns the surfaces.
    private static AllocationHandle[] SubmitUserBuffers(Machine m)
    {
        var rl = m.RunListScheduler;
        var p = rl.CreateProcess();
        var ctx = rl.CreateContext(p);
        var s = new[] { p.AllocateSurface(ModelWorkload.SurfaceBytes), p.AllocateSurface(ModelWorkload.SurfaceBytes) };
        foreach (var batch in Batches)
        {
            var buffer = p.CreateDmaBuffer(256);
            var w = buffer.Writer();
            foreach (var op in batch)
                if (op.IsCopy) w.Copy(s[op.Destination].Va + op.Offset, s[op.Source].Va + op.Offset, op.Bytes);
                else w.Fill(s[op.Destination].Va + op.Offset, op.Pattern, op.Bytes);
            Assert.That(rl.TrySubmit(ctx, buffer, w.Written, [], out _), Is.True);
        }
        return [s[0].Handle, s[1].Handle];
    }

    // Hardware: a ring-3 user queue of process 1; every batch ends with a fence of its number.
    private sealed record UserQueueRig(AllocationHandle[] Surfaces, ulong[] Va, ulong FenceVa, PhysicalAddress Fence,
        Coproc.Fast.Driver.Kernel.UserQueueRegistration Registration, UserQueue Queue);

    private static UserQueueRig SubmitUserQueue(Machine m)
    {
        var (space, s, va, fenceVa, fence) = ModelWorkload.CreateUserQueueSurfaces(m);
        var registration = m.CreateUserQueue(1, space, 0x100, EngineKind.Render);
        var queue = registration.Open(m.Device.Memory);
        for (int b = 0; b < Batches.Count; b++) Publish(queue, Batches[b], va, fenceVa, (ulong)b + 1);
        return new UserQueueRig(s, va, fenceVa, fence, registration, queue);
    }

    private static void Publish(UserQueue queue, SurfaceOp[] batch, ulong[] va, ulong fenceVa, ulong value)
    {
        var packets = new uint[256];
        var w = new PacketWriter(packets);
        foreach (var op in batch)
            if (op.IsCopy) w.Copy(va[op.Destination] + op.Offset, va[op.Source] + op.Offset, op.Bytes);
            else w.Fill(va[op.Destination] + op.Offset, op.Pattern, op.Bytes);
        w.Fence(fenceVa, value);
        ModelWorkload.Write(queue, w.WrittenSpan);
        queue.Flush();
    }

    // Advanced: every buffer retired. Hardware: the queue's last fence is written (its user queue stays registered, so
    // the machine does not go idle).
    internal static bool Done(Machine m, SchedulingModel model, PhysicalAddress fence) =>
        model == SchedulingModel.Advanced ? m.AllIdle : m.Device.Memory.Read64(fence) >= (ulong)Batches.Count;

    // Both runs advance in the same slices (RunFor), so the snapshot falls between the same two steps as the
    // uninterrupted run's: with user queues the machine does not see the scheduling core's work and would otherwise jump
    // a whole budget at once.
    private const ulong Slice = 2_000;

    private static int RunToDone(Machine m, SchedulingModel model, PhysicalAddress fence)
    {
        int slices = 0;
        while (!Done(m, model, fence))
        {
            Assert.That(slices, Is.LessThan(100_000), "the workload finishes (failure guard)");
            m.RunFor(Slice);
            slices++;
        }
        return slices;
    }

    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void GivenASnapshotMidRun_WhenRestoredIntoAFreshMachine_ThenItEndsInTheUninterruptedRunsState(SchedulingModel model)
    {
        byte[][] expectedBytes;
        byte[] expectedState;
        int total;
        using (var m = NewMachine(model))
        {
            var (surfaces, fence) = Submit(m, model);
            total = RunToDone(m, model, fence);
            expectedBytes = [.. surfaces.Select(h => ModelWorkload.Read(m, h))];
            expectedState = MachineSaveStateWorkload.Save(m);
        }
        Assert.That(expectedBytes, Is.EqualTo(ModelWorkload.CpuModel(Batches)), "the uninterrupted run computes the CPU model's bytes");
        Assert.That(total, Is.GreaterThan(10), "the run is long enough for snapshots inside it");

        foreach (double fraction in new[] { 0.2, 0.5, 0.8 })
        {
            int at = (int)(total * fraction);
            byte[] state;
            AllocationHandle[] surfaces;
            PhysicalAddress fence;
            using (var m = NewMachine(model))
            {
                (surfaces, fence) = Submit(m, model);
                for (int i = 0; i < at; i++) m.RunFor(Slice);
                state = MachineSaveStateWorkload.Save(m);
            }
            using var restored = MachineSaveStateWorkload.Restore(state);
            Assert.That(at + RunToDone(restored, model, fence), Is.EqualTo(total), $"{model}: finishes in the same slice after a snapshot at slice {at}");
            Assert.That(surfaces.Select(h => ModelWorkload.Read(restored, h)), Is.EqualTo(expectedBytes), $"{model}: bytes after a snapshot at slice {at}");
            MachineSaveStateTests.SameBytes(MachineSaveStateWorkload.Save(restored), expectedState, $"{model}: the whole state after a snapshot at slice {at}");
        }
    }

    private static (AllocationHandle[] Surfaces, PhysicalAddress Fence) Submit(Machine m, SchedulingModel model)
    {
        if (model == SchedulingModel.Advanced) return (SubmitUserBuffers(m), default);
        var rig = SubmitUserQueue(m);
        return (rig.Surfaces, rig.Fence);
    }

    [Test]
    public void GivenARestoredHardwareModelMachine_WhenTheCallerReopensItsUserQueue_ThenNewWorkRunsAfterTheSavedWork()
    {
        byte[] state;
        UserQueueRig rig;
        using (var m = NewMachine(SchedulingModel.Hardware))
        {
            rig = SubmitUserQueue(m);
            m.RunFor(Slice * 10);
            state = MachineSaveStateWorkload.Save(m);
        }
        using var restored = MachineSaveStateWorkload.Restore(state);
        var r = rig.Registration;
        var queue = new UserQueue(restored.Device.Memory, r.Descriptor, new DoorbellPage(restored.Device.DoorbellAperture, r.Doorbell, r.ProcessId));
        Assert.That(queue.WritePosition, Is.EqualTo(rig.Queue.WritePosition), "the re-opened queue continues where the saved one was");
        var extra = new[] { new SurfaceOp(false, 0, 0, 0, 4096, 0x5A5A_5A5A) };
        Publish(queue, extra, rig.Va, rig.FenceVa, (ulong)Batches.Count + 1);
        for (int i = 0; restored.Device.Memory.Read64(rig.Fence) != (ulong)Batches.Count + 1; i++)
        {
            Assert.That(i, Is.LessThan(100_000), "the new batch runs (failure guard)");
            restored.RunFor(Slice);
        }
        Assert.That(ModelWorkload.Read(restored, rig.Surfaces[0], 4096), Is.All.EqualTo((byte)0x5A));
    }
}
