using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;

namespace Coproc.Fast.Tests.Models;

/// <summary>
/// The submission path seam (docs/models.md "One submission call"): <see cref="Machine.TrySubmit"/> takes one recording
/// in (allocation, offset) terms and sends it down the context's model's path — the KMD's copy-in and patching, a run-list
/// DMA buffer with VAs, or a user queue's packets with VAs and a doorbell — so the same workload code, on contexts from
/// <see cref="Machine.OpenContext"/>, runs in every model and leaves the same bytes.
/// </summary>
[TestFixture]
public class SubmissionPathTests
{
    private const int Bytes = 64 << 10;
    private const uint Width = 64, Height = 32;

    private static readonly RectPrimitive[] Scene =
    [
        RectPrimitive.Fill(0, 0, Width, Height, 0xFF102030u),
        RectPrimitive.Fill(8, 4, 16, 8, 0xFF00FF00u),
        RectPrimitive.BlendColor(4, 2, 40, 20, 0x80FF0000u),
    ];

    // One workload in model-independent terms: a fill, a copy of it, a one-dword write, a draw, then the fence.
    private static void Workload(WorkRecorder r, AllocationHandle a, AllocationHandle b, AllocationHandle fence)
    {
        r.Fill(a, 0, 0xA5A5_0001u, 16 << 10);
        r.Copy(b, 4096, a, 0, 8 << 10);
        r.WriteData(b, 0, 0xCAFE_F00Du);
        r.DrawRects(a, Surface.Packed(32 << 10, Width, Height), Scene);
        r.Fence(fence, 0, 7);
    }

    private static (byte[] A, byte[] B) Run(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var a = m.Kmd.Allocate(1, Bytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var b = m.Kmd.Allocate(1, Bytes, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var fence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);

        Assert.That(m.TrySubmit(context, r => Workload(r, a, b, fence)), Is.True);

        Assert.That(m.RunUntil(() => Read64(m, fence) == 7, 500_000_000), Is.True, $"{model}: the fence landed");
        Assert.That(context.IsStopped, Is.False);
        return (ModelWorkload.Read(m, a, Bytes), ModelWorkload.Read(m, b, Bytes));
    }

    [Test]
    public void OneRecording_RunsThroughEachModelsPath_AndLeavesTheSameBytes()
    {
        var basic = Run(SchedulingModel.Basic);
        var advanced = Run(SchedulingModel.Advanced);
        var hardware = Run(SchedulingModel.Hardware);

        // The premise: the workload did what it says (checked on the basic run, then the others equal it byte for byte).
        Assert.That(BitConverter.ToUInt32(basic.A, 0), Is.EqualTo(0xA5A5_0001u));
        Assert.That(BitConverter.ToUInt32(basic.B, 4096), Is.EqualTo(0xA5A5_0001u));
        Assert.That(BitConverter.ToUInt32(basic.B, 0), Is.EqualTo(0xCAFE_F00Du));
        Assert.That(BitConverter.ToUInt32(basic.A, (32 << 10) + (4 * (int)Width + 8) * 4), Is.Not.EqualTo(0u), "drawn");
        Assert.That(advanced.A, Is.EqualTo(basic.A), "advanced vs basic");
        Assert.That(advanced.B, Is.EqualTo(basic.B));
        Assert.That(hardware.A, Is.EqualTo(basic.A), "hardware vs basic");
        Assert.That(hardware.B, Is.EqualTo(basic.B));
    }

    [TestCase(SchedulingModel.Basic)]
    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void AnotherProcesssAllocation_IsRefusedWithATypedError_AndItsBytesStayUntouched(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var theirs = m.Kmd.Allocate(2, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var mine = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);

        var refused = Assert.Catch(() => m.TrySubmit(context, r => { r.Fill(mine, 0, 1, 4096); r.Fill(theirs, 0, 0x66666666u, 4096); }));
        Assert.That(refused, Is.InstanceOf<AllocationNotSharedException>().Or.InstanceOf<CommandBufferRejectedException>(), refused!.ToString());

        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(ModelWorkload.Read(m, theirs, 4096), Is.All.EqualTo((byte)0), "the other process's memory is untouched");
        Assert.That(ModelWorkload.Read(m, mine, 4096), Is.All.EqualTo((byte)0), "the refused submission ran none of its work");
        Assert.That(context.IsStopped, Is.False);
    }

    [Test]
    public void Hardware_ARecordingLargerThanTheQueuesRoom_IsNotSubmittedAtAll_AndTheQueueGoesOn()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Hardware, Device = ModelWorkload.Device() });
        var a = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);

        // 64 KiB ring: 4,096 FILLs of 32 bytes or more do not fit.
        Assert.That(m.TrySubmit(context, r => { for (int i = 0; i < 4096; i++) r.Fill(a, 0, 0x11111111u, 4); }), Is.False);
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(ModelWorkload.Read(m, a, 4096), Is.All.EqualTo((byte)0), "nothing of it was published");

        Assert.That(m.TrySubmit(context, r => r.Fill(a, 0, 0x22222222u, 4096)), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);
        Assert.That(ModelWorkload.Read(m, a, 4096), Is.All.EqualTo((byte)0x22));
    }

    [Test]
    public void AContextOfAnotherMachine_OrNotInAMachineProcesssSpace_IsRefused()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Advanced, Device = ModelWorkload.Device() });
        using var other = new Machine(new MachineOptions { Model = SchedulingModel.Advanced, Device = ModelWorkload.Device() });
        var foreign = other.OpenContext(1);
        VaProcess own = m.RunListScheduler.CreateProcess(); // a run-list process made directly, not Machine.Process
        var direct = m.RunListScheduler.CreateContext(own);

        Assert.That(() => m.TrySubmit(foreign, r => r.Trap(1)), Throws.ArgumentException);
        Assert.That(() => m.TrySubmit(direct, r => r.Trap(1)), Throws.ArgumentException);
    }

    [TestCase(SchedulingModel.Advanced)]
    [TestCase(SchedulingModel.Hardware)]
    public void AfterASaveStateRestore_TheRestoredMachineSubmitsThroughTheSameMappings(SchedulingModel model)
    {
        using var m = new Machine(new MachineOptions { Model = model, Device = ModelWorkload.Device() });
        var a = m.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);
        Assert.That(m.TrySubmit(context, r => r.Fill(a, 0, 0x01010101u, 4096)), Is.True);
        Assert.That(m.RunUntilIdle(), Is.True);
        var state = new MemoryStream();
        m.SaveState(state);
        state.Position = 0;

        using var restored = Machine.Restore(state);
        Assert.That(restored.TryGetContext(context.Id, out var again), Is.True);
        Assert.That(restored.TrySubmit(again!, r => r.Fill(a, 0, 0x02020202u, 4096)), Is.True);
        Assert.That(restored.RunUntilIdle(), Is.True);

        Assert.That(ModelWorkload.Read(restored, a, 4096), Is.All.EqualTo((byte)2));
        Assert.That(again!.IsStopped, Is.False, "the saved mapping is the restored space's (no fault)");
    }

    // docs/models.md "One submission call": the sample, as it is there (the docs test compiles it; this runs it).
    [TestCase(SchedulingModel.Basic, ContextPath.Kernel)]
    [TestCase(SchedulingModel.Advanced, ContextPath.RunList)]
    [TestCase(SchedulingModel.Hardware, ContextPath.UserQueue)]
    public void TheModelsDocSample_RunsInEveryModel(SchedulingModel model, ContextPath path)
    {
        using var machine = new Machine(new MachineOptions { Model = model });
        var target = machine.Kmd.Allocate(1, 4096, PlacementHint.LocalOnly, AllocationFlags.Contiguous);  // process 1's
        var fence = machine.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var context = machine.OpenContext(processId: 1);   // kernel path, run list or ring-3 queue
        bool queued = machine.TrySubmit(context, r =>        // KMD copy-in, a VA buffer, or the queue and its doorbell
        {
            r.Fill(target, 0, 0x01020304u, 4096);
            r.Fence(fence, 0, 1);
        });
        machine.RunUntilIdle();
        ulong done = machine.Device.Memory.Read64(machine.VidMm.PhysicalAddressOf(fence, 0));

        Assert.That((context.Path, queued, done), Is.EqualTo((path, true, 1UL)));
        Assert.That(ModelWorkload.Read(machine, target, 4096), Is.EqualTo(Enumerable.Repeat(new byte[] { 4, 3, 2, 1 }, 1024).SelectMany(b => b).ToArray()));
    }

    // Advanced model: a managed (evictable) allocation named in a recording is recorded in the run-list process as
    // managed, as a shared allocation is (RunListScheduler.MapShared), so a fault on it after an eviction is a page fault
    // the paging thread serves, not an error; and the work on it runs.
    [Test]
    public void Advanced_AManagedAllocationNamedInARecording_IsMappedAsManaged_AndItsWorkRuns()
    {
        using var m = new Machine(new MachineOptions { Model = SchedulingModel.Advanced, Device = ModelWorkload.Device() });
        var kernelPath = m.CreateContext(1, 0, Device.Engines.EngineKind.Compute); // managed allocations live in a context's working set
        var managed = m.AllocateManaged(1, kernelPath, 64 << 10);
        var fence = m.Kmd.Allocate(1, 4096, PlacementHint.SystemOnly, AllocationFlags.Contiguous);
        var context = m.OpenContext(1);

        Assert.That(m.TrySubmit(context, r => { r.Fill(managed, 0, 0x5A5A5A5Au, 64 << 10); r.Fence(fence, 0, 1); }), Is.True);
        Assert.That(m.RunUntil(() => Read64(m, fence) == 1, 500_000_000), Is.True);

        var record = m.Process(1).RunLists!.Allocations.Single(a => a.Handle == managed);
        Assert.That(record.Managed, Is.True, "recorded as the evictable allocation it is");
        Assert.That(ModelWorkload.Read(m, managed, 64 << 10), Is.All.EqualTo((byte)0x5A));
        Assert.That(context.IsStopped, Is.False);
    }

    private static ulong Read64(Machine m, AllocationHandle h) => BitConverter.ToUInt64(ModelWorkload.Read(m, h, 8));
}
