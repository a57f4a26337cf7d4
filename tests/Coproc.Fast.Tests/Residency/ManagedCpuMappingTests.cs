using Coproc.Fast.Driver.Cpu;
using Coproc.Fast.Driver.VidMm.Residency;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Residency;

/// <summary>
/// seed 002: device memory can be mapped into a CPU address space at any time — managed (evictable) allocations too.
/// A managed allocation is pinned where it is while mapped, so the CPU and the device see the same bytes.
/// </summary>
[TestFixture]
public sealed class ManagedCpuMappingTests
{
    private const ulong KiB = 1024, MiB = 1024 * 1024;

    [Test]
    public void GivenAManagedAllocationTheDeviceFilled_WhenTheProcessMapsIt_ThenItReadsTheResultThroughTheMapping()
    {
        using var h = new SchedulingHarness(localBytes: 8 * MiB, realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var result = h.Machine.AllocateManaged(1, ctx, 256 * KiB);
        long id = h.Submit(1, ctx, cb => cb.Fill(result, 0, 0xC0FFEE00, 256 * KiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        var cpu = h.Machine.VidMm.CreateCpuAddressSpace();

        ulong va = h.Machine.VidMm.MapToCpu(cpu, result, 0, 256 * KiB, CpuAddressHalf.User, writable: false);

        Assert.That(cpu.Read32(va), Is.EqualTo(0xC0FFEE00u));
        Assert.That(cpu.Read32(va + 256 * KiB - 4), Is.EqualTo(0xC0FFEE00u));
        h.Machine.VidMm.UnmapFromCpu(cpu, va);
        Assert.That(h.Machine.VidMm.MapCountOf(result), Is.Zero);
    }

    [Test]
    public void GivenAMappedManagedAllocation_WhenOtherWorkOversubscribesLocalMemory_ThenCpuWritesReachTheDeviceAndDeviceWritesReachTheCpu()
    {
        using var h = new SchedulingHarness(localBytes: 8 * MiB, realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var shared = h.Machine.AllocateManaged(1, ctx, 64 * KiB);
        var copy = h.Machine.AllocateManaged(1, ctx, 64 * KiB);
        h.Submit(1, ctx, cb => cb.Fill(shared, 0, 0, 64 * KiB)); // resident first
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        var cpu = h.Machine.VidMm.CreateCpuAddressSpace();
        ulong va;
        lock (h.Scheduler.KernelLock) va = h.Machine.VidMm.MapToCpu(cpu, shared, 0, 64 * KiB, CpuAddressHalf.User);
        cpu.Write32(va + 0x40, 0x1234_5678u);

        // Each buffer touches 3 MiB of fresh memory: 12 MiB through 8 MiB evicts everything that may move.
        var big = Enumerable.Range(0, 4).Select(_ => h.Machine.AllocateManaged(1, ctx, 3 * MiB)).ToArray();
        var ids = big.Select(b => h.Submit(1, ctx, cb => cb.Fill(b, 0, 7, 3 * MiB))).ToList();
        ids.Add(h.Submit(1, ctx, cb => { cb.Copy(shared, 0, copy, 0, 64 * KiB); cb.Fill(shared, 0x80, 0xABCDABCD, 4); }));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ids.Select(ctx.StatusOf), Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Trace.Of(ScheduleEventKind.PagingBuffer).Any(), Is.True, "memory pressure made paging happen");
        Assert.That(h.Read32(copy, 0x40), Is.EqualTo(0x1234_5678u), "the device read what the CPU wrote");
        Assert.That(cpu.Read32(va + 0x80), Is.EqualTo(0xABCDABCDu), "the CPU reads what the device wrote");
        lock (h.Scheduler.KernelLock) h.Machine.VidMm.UnmapFromCpu(cpu, va);
        Assert.That(h.Machine.VidMm.IsCpuPinned(shared), Is.False, "unmap released it");
    }

    [Test]
    public void GivenAPageInRecordedButNotYetExecuted_WhenTheCpuMapsAndWrites_ThenTheWriteSurvivesThePageInAndTheDeviceReadsIt()
    {
        // Given a buffer whose page-in of `shared` VidMm has recorded (VidMm already names its new place in local memory)
        // while the paging buffer that copies its bytes there has not executed yet.
        using var h = new SchedulingHarness(localBytes: 8 * MiB, realResidency: true);
        var ctx = h.Machine.CreateContext(1);
        var shared = h.Machine.AllocateManaged(1, ctx, 64 * KiB);
        var copy = h.Machine.AllocateManaged(1, ctx, 64 * KiB);
        long first = h.Submit(1, ctx, cb => cb.Fill(shared, 0x1000, 0x5A5A5A5A, 4 * KiB));
        bool inFlight = h.Machine.RunUntil(() =>
            h.Scheduler.PagingBuffersBuilt > 0 && h.Scheduler.Paging.Completed != h.Scheduler.Paging.LastSubmitted);
        Assert.That(inFlight, Is.True, "a recorded page-in had not executed yet (precondition)");
        var cpu = h.Machine.VidMm.CreateCpuAddressSpace();

        // When the process maps it and writes through the mapping.
        ulong va = h.Machine.MapToCpu(cpu, shared, 0, 64 * KiB, CpuAddressHalf.User);
        cpu.Write32(va + 0x40, 0xFEED_BEEFu);

        // Then the page-in did not overwrite the write: a later buffer copies what the CPU wrote, beside the device's fill.
        Assert.That(h.Scheduler.Paging.Completed, Is.EqualTo(h.Scheduler.Paging.LastSubmitted), "mapping waited for the paging");
        long second = h.Submit(1, ctx, cb => cb.Copy(shared, 0, copy, 0, 64 * KiB));
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(new[] { ctx.StatusOf(first), ctx.StatusOf(second) }, Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(copy, 0x40), Is.EqualTo(0xFEED_BEEFu), "the device read what the CPU wrote");
        Assert.That(h.Read32(copy, 0x1000), Is.EqualTo(0x5A5A5A5Au), "and what the first buffer filled");
        Assert.That(cpu.Read32(va + 0x1000), Is.EqualTo(0x5A5A5A5Au), "the CPU reads the device's fill through the mapping");
        h.Machine.UnmapFromCpu(cpu, va);
        Assert.That(h.Machine.VidMm.IsCpuPinned(shared), Is.False, "unmap released it");
    }
}
