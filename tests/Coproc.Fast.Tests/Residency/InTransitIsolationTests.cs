using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Driver.VidSch.RunLists;
using Coproc.Fast.Tests.Scheduling;
using static Coproc.Fast.Tests.Residency.InTransitMemoryTests;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// Isolation around memory in transit (docs/memory.md): local memory a recorded eviction vacated still holds the evicted
/// allocation's bytes until the device has run the eviction's COPY. A process must never read them (its new allocation
/// reads zeros through every path) nor write them before the COPY has read them (a ring-3 user queue waits for no
/// paging), and the kernel services that allocate on the host's thread wait for that paging instead of refusing.
/// </summary>
[TestFixture]
public sealed class InTransitIsolationTests
{
    private const ulong MiB = 1024 * 1024;

    private static SchedulingHarness Harness(SchedulingModel model = SchedulingModel.Basic) =>
        new(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true, localBytes: 32 * MiB, systemBytes: 96 * MiB,
            engines: [EngineKind.Render, EngineKind.Compute], model: model,
            runLists: model == SchedulingModel.Advanced ? new RunListOptions { Engine = EngineKind.Compute } : null);

    [Test]
    public void GivenProcessAsEvictionRecordedButNotExecuted_WhenProcessBAllocatesTheOnlyLocalRoom_ThenItIsAsFormerRange_AndReadsZerosOnTheGpuAndTheCpu()
    {
        using var h = Harness();
        var c = h.Machine.CreateContext(2, 0, EngineKind.Compute); // before local memory fills up
        var (y, render, _, yHome) = FillLocalThenRecordEvictionOfY(h);
        ulong evictionRecorded = render.Paging.LastSubmitted;

        // When process 2 allocates 8 MiB of local memory: the only room is the half of y's range v did not take.
        var b = h.Allocate(2, 8 * MiB, PlacementHint.LocalOnly);

        // Then it got that room once the eviction had read it (ordering, not refusal) ...
        Assert.That(render.Paging.Completed, Is.GreaterThanOrEqualTo(evictionRecorded), "handed out after the eviction's COPY ran");
        var vidmm = h.Machine.VidMm;
        Assert.That(vidmm.ExtentsOf(b).All(e => yHome.Any(home => Inside(e, home))), Is.True, "placed on memory that held process 1's y");

        // ... and reads zeros: on the GPU (a COPY to a readback in system memory) ...
        var readback = h.Allocate(2, 8 * MiB, PlacementHint.SystemOnly);
        vidmm.Memory.GetSpan(vidmm.PhysicalAddressOf(readback, 0), (int)(8 * MiB)).Fill(0xA5);
        long id = h.Submit(2, c, cb => cb.Copy(b, 0, readback, 0, 8 * MiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(c.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(CountNot(h.Read(readback), 0), Is.Zero, "the GPU read none of y's bytes");

        // ... and on the CPU, through the driver's Lock.
        var cpu = vidmm.CreateCpuAddressSpace();
        var page = new byte[256 * 1024];
        for (ulong offset = 0; offset < 8 * MiB; offset += 2 * MiB)
        {
            ulong va = h.Machine.MapToCpu(cpu, b, offset, (ulong)page.Length, CpuAddressHalf.User, writable: false);
            cpu.Read(va, page);
            h.Machine.UnmapFromCpu(cpu, va);
            Assert.That(CountNot(page, 0), Is.Zero, $"the CPU read y's bytes at offset 0x{offset:X}");
        }
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes");
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenARing3QueueWritesAProcessAllocationWhoseOnlyRoomWasTheEvictedRange_ThenTheEvictedBytesSurvive()
    {
        using var h = Harness();
        var vidmm = h.Machine.VidMm;
        // Process 2's ring-3 queue on the copy engine, registered before local memory fills up.
        GpuAddressSpace space;
        AllocationHandle fencePage;
        ulong fenceVa;
        lock (h.Scheduler.KernelLock)
        {
            space = vidmm.CreateGpuAddressSpace();
            fencePage = vidmm.Allocate(4096, placement: PlacementHint.SystemOnly, flags: AllocationFlags.Contiguous);
            vidmm.Memory.GetSpan(vidmm.PhysicalAddressOf(fencePage, 0), 4096).Clear();
            fenceVa = space.MapAllocation(fencePage);
        }
        var queue = h.Machine.CreateUserQueue(2, space, 0x100, EngineKind.Copy).Open(h.Machine.Device.Memory);
        var (y, _, _, _) = FillLocalThenRecordEvictionOfY(h);

        // When process 2 allocates the only local room and fills it from its queue (which waits for no paging: its
        // packets write through the process's GPU VA).
        var b = h.Allocate(2, 8 * MiB, PlacementHint.LocalOnly);
        ulong bVa;
        lock (h.Scheduler.KernelLock) bVa = space.MapAllocation(b);
        var packets = new uint[32];
        var w = new PacketWriter(packets);
        w.Fill(bVa, 0x7777_7777, 8 * MiB);
        w.Fence(fenceVa, 1);
        Coproc.Fast.Tests.Models.ModelWorkload.Write(queue, w.WrittenSpan);
        queue.Flush();
        var fence = vidmm.PhysicalAddressOf(fencePage, 0);
        Assert.That(h.Machine.RunUntil(() => h.Machine.Device.Memory.Read64(fence) == 1), Is.True);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then the eviction copied y's own bytes, and the queue's fill is all there.
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes, not the queue's fill");
        Assert.That(CountNot(h.Read(b), 0x7777_7777), Is.Zero);
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenAnAdvancedModelContextWritesAProcessAllocationWhoseOnlyRoomWasTheEvictedRange_ThenTheEvictedBytesSurvive()
    {
        // Given the advanced model (render scheduled by VidSch, where y's eviction is recorded; compute by the run lists)
        // and a run-list process with a context, created before local memory fills up.
        using var h = Harness(SchedulingModel.Advanced);
        var rl = h.Machine.RunListScheduler;
        var process = rl.CreateProcess();
        var ctx = rl.CreateContext(process);
        var buffer = process.CreateDmaBuffer(64);
        var (y, _, _, _) = FillLocalThenRecordEvictionOfY(h);

        // When the process allocates the only local room and fills it through its own GPU VA (a user DMA buffer, which
        // waits for no paging).
        var b = h.Kmd.Allocate(process.Id, 8 * MiB, PlacementHint.LocalOnly);
        var mapped = process.MapShared(b, Coproc.Fast.Driver.VidMm.GpuMappingFlags.Writable);
        var w = buffer.Writer();
        w.Fill(mapped.Va, 0x6666_6666, 8 * MiB);
        Assert.That(rl.TrySubmit(ctx, buffer, w.Written, [], out var ticket), Is.True);
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        // Then the eviction copied y's own bytes, and the context's fill is all there.
        Assert.That(ticket.IsComplete, Is.True, ctx.ErrorReason);
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes, not the context's fill");
        Assert.That(CountNot(h.Read(b), 0x6666_6666), Is.Zero);
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenAProcessOpensAUserQueueWhoseSaveAreaOnlyFitsInTheEvictedRange_ThenItWaitsForThePaging_AndTheEvictedBytesSurvive()
    {
        using var h = Harness();
        var (y, render, _, _) = FillLocalThenRecordEvictionOfY(h);
        var vidmm = h.Machine.VidMm;
        var cpu = vidmm.CreateCpuAddressSpace();
        GpuAddressSpace gpu;
        lock (h.Scheduler.KernelLock) gpu = vidmm.CreateGpuAddressSpace();
        var registrar = h.Machine.UserQueues;
        ulong evictionRecorded = render.Paging.LastSubmitted;

        // When the process opens a queue from the host's thread (the kernel allocates its save area in local memory).
        var registration = registrar.Open(2, vidmm, cpu, gpu,
            new UserQueueOpenRequest { Engine = EngineKind.Copy, Priority = 0, TimeSliceCycles = 100_000, RingBytes = 4096 });

        // Then it was opened once the eviction had run (ordering, not refusal), and y's evicted bytes are its own.
        Assert.That(registration.RingVa, Is.Not.Zero);
        Assert.That(render.Paging.Completed, Is.GreaterThanOrEqualTo(evictionRecorded), "opened after the eviction ran");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes, not the kernel's");
    }

    [Test]
    public void GivenAnEvictionRecordedButNotExecuted_WhenTheRunListBackEndCreatesAContextWhoseOnlyRoomIsTheEvictedRange_ThenItWaitsForThePaging_AndTheEvictedBytesSurvive()
    {
        // Given the advanced model: render scheduled by VidSch (where y's eviction is recorded), compute by the run lists.
        using var h = Harness(SchedulingModel.Advanced);
        var rl = h.Machine.RunListScheduler;
        var process = rl.CreateProcess();
        var (y, render, _, _) = FillLocalThenRecordEvictionOfY(h);
        ulong evictionRecorded = render.Paging.LastSubmitted;
        long live = h.Machine.VidMm.LiveAllocations;

        // When the run-list back end creates a context (save area, ring and fence page: local memory the CPU clears).
        var ctx = rl.CreateContext(process);

        // Then it was created once the eviction had run (ordering, not refusal), and y's evicted bytes are its own.
        Assert.That(ctx, Is.Not.Null);
        Assert.That(render.Paging.Completed, Is.GreaterThanOrEqualTo(evictionRecorded), "created after the eviction ran");
        Assert.That(h.Machine.VidMm.LiveAllocations, Is.EqualTo(live + 4),
            "save-area page, ring, fence page, privileged-buffer area: the refused first attempt left nothing allocated");
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(CountNot(h.Read(y), PatternY), Is.Zero, "y's backing store holds y's bytes, not the kernel's");
    }

    private static bool Inside(PhysicalExtent e, PhysicalExtent home) =>
        e.Address.Location == home.Address.Location && e.Address.Offset >= home.Address.Offset
        && e.Address.Offset + e.Bytes <= home.Address.Offset + home.Bytes;
}
