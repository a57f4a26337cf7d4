using System.Runtime.InteropServices;
using Coproc.Fast.Device.Contexts;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Memory;
using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.Paging;

/// <summary>
/// One paging channel for every model (seed 004; docs/memory.md "One paging channel"): in the basic model every paging
/// buffer runs on the machine's device paging queue — its kernel context on the paging engine (copy by default), never
/// the submitting context's ring nor a per-engine context — and the chunk it serves waits on the queue's paging fence.
/// </summary>
[TestFixture]
public sealed class OnePagingChannelTests
{
    private const ulong MiB = 1024 * 1024;

    [Test]
    public void GivenABasicModelBufferNeedingAPageIn_ThenItsPagingBufferRunsOnTheQueuesContextOnTheCopyEngine_AndTheChunkWaitsOnTheQueuesFence()
    {
        using var h = new SchedulingHarness();
        var copyTrace = new TraceRecorder();
        var copy = h.Machine.SchedulerFor(EngineKind.Copy);
        copy.Observer = copyTrace;
        var ctx = h.Machine.CreateContext(1); // render
        var src = h.Allocate(1);
        var dst = h.Allocate(1);
        var pattern = Enumerable.Range(0, 4096).Select(i => (byte)(i * 5 + 1)).ToArray();
        h.Residency!.StagePageIn(src, pattern);
        long id = h.Submit(1, ctx, b => b.Copy(src, 0, dst, 0, 4096));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(dst), Is.EqualTo(pattern), "the DMA buffer saw the paged-in bytes");
        var paging = h.Machine.Paging;
        Assert.That(copy.IsPagingEngine, Is.True, "the copy engine is the paging engine");
        Assert.That(h.Machine.Schedulers.Where(s => s is not null && s.IsPagingEngine), Has.Exactly(1).Items, "one paging channel");
        Assert.That(paging.BuffersSubmitted, Is.EqualTo(1), "the paging buffer went to the machine's queue");
        Assert.That(paging.Completed, Is.EqualTo(paging.LastSubmitted).And.GreaterThan(0UL));
        Assert.That(copyTrace.Of(ScheduleEventKind.ContextSwitched).Select(e => e.ContextId), Does.Contain(copy.PagingContextId),
            "the copy engine switched to the queue's context");
        Assert.That(h.Trace.Of(ScheduleEventKind.ContextSwitched).Where(e => e.ContextId == copy.PagingContextId), Is.Empty,
            "no other engine ran it");

        // The submitting context's ring: one WAIT_FENCE on the queue's fence for the paging's value, then its chunk.
        var ring = Dwords(h, ctx.Ring, 16);
        Assert.That(new PacketHeader(ring[0]).Opcode, Is.EqualTo(Opcode.WaitFence));
        Assert.That(PacketFormat.U64(ring[1], ring[2]), Is.EqualTo(paging.FenceKernelAddress), "it waits on the queue's paging fence");
        Assert.That(PacketFormat.U64(ring[3], ring[4]), Is.EqualTo(paging.LastSubmitted), "for the value its paging buffer ends with");
        Assert.That(new PacketHeader(ring[PacketFormat.WaitFenceDwords]).Opcode, Is.EqualTo(Opcode.Indirect));
        // The queue's ring holds the paging buffer (an INDIRECT to its arena), not the context's.
        Assert.That(new PacketHeader(Dwords(h, paging.Context.Ring, 1)[0]).Opcode, Is.EqualTo(Opcode.Indirect));
    }

    [TestCase(MachineRunMode.Deterministic)]
    [TestCase(MachineRunMode.Threaded)]
    public void GivenTwoEnginesWhosePagingMovesTheSameMemory_WhenTheyRunUnderMemoryPressure_ThenEveryPagingBufferRunsInOrderOnTheOneQueue_AndEveryByteIsRight(MachineRunMode mode)
    {
        // Three 6 MiB working sets on 16 MiB of local memory: render's X, compute's Y and W evict each other in turn, each
        // engine's page-in placed into memory the other engine's eviction vacated.
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000 }, mode: mode, realResidency: true,
            localBytes: 16 * MiB, systemBytes: 96 * MiB, engines: [EngineKind.Render, EngineKind.Compute, EngineKind.Copy]);
        var render = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var compute = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        var x = h.Machine.AllocateManaged(1, render, 6 * MiB);
        var y = h.Machine.AllocateManaged(2, compute, 6 * MiB);
        var w = h.Machine.AllocateManaged(2, compute, 6 * MiB);
        const int Rounds = 6;
        if (mode == MachineRunMode.Threaded) h.Machine.Start();
        var ids = new List<(VidSchContext Context, long Id)>();
        for (uint i = 0; i < Rounds; i++)
        {
            uint k = i;
            ids.Add((render, h.Submit(1, render, cb => cb.Fill(x, 0, 0x100 + k, (uint)(6 * MiB)))));
            ids.Add((compute, h.Submit(2, compute, cb => cb.Fill(y, 0, 0x200 + k, (uint)(6 * MiB)))));
            ids.Add((compute, h.Submit(2, compute, cb => cb.Fill(w, 0, 0x300 + k, (uint)(6 * MiB)))));
        }

        if (mode == MachineRunMode.Threaded) Assert.That(h.Machine.WaitUntilIdle(TimeSpan.FromSeconds(60)), Is.True, "no wedge (failure guard)");
        else Assert.That(h.Machine.RunUntilIdle(), Is.True, "no wedge");

        Assert.That(ids.Select(p => p.Context.StatusOf(p.Id)), Is.All.EqualTo(SubmissionStatus.Completed));
        var r = h.Machine.SchedulerFor(EngineKind.Render);
        var c = h.Machine.SchedulerFor(EngineKind.Compute);
        Assert.That(r.PagingBuffersBuilt, Is.GreaterThan(0));
        Assert.That(c.PagingBuffersBuilt, Is.GreaterThan(0));
        Assert.That(r.TotalBytesEvicted + c.TotalBytesEvicted, Is.GreaterThan(0UL), "memory pressure: allocations were evicted");
        var paging = h.Machine.Paging;
        Assert.That(paging.BuffersSubmitted, Is.EqualTo(r.PagingBuffersBuilt + c.PagingBuffersBuilt), "both engines' paging went to the one queue");
        Assert.That(paging.Completed, Is.EqualTo(paging.LastSubmitted), "every paging buffer ran");
        AssertFilled(h, x, 0x100 + Rounds - 1, "X");
        AssertFilled(h, y, 0x200 + Rounds - 1, "Y");
        AssertFilled(h, w, 0x300 + Rounds - 1, "W");
    }

    [Test]
    public void GivenAHigherPriorityContextOnThePagingEngineHungOnAWait_WhenARenderBufferNeedsAPageIn_ThenItsPagingRunsAtOnce_AndOnlyTheHungContextIsReset()
    {
        const ulong Timeout = 50_000_000; // 50 ms at 1 GHz
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000, TimeoutCycles = Timeout });
        var hung = h.Machine.CreateContext(1, 10, EngineKind.Copy);
        var b = h.Machine.CreateContext(2, 0, EngineKind.Render);
        var counter = h.Allocate(1);
        long stuck = h.Submit(1, hung, cb => cb.Wait(counter, 0));
        Assert.That(h.Machine.RunUntil(() => hung.Loaded), Is.True, "the hung context holds the copy engine (precondition)");

        var src = h.Allocate(2);
        var dst = h.Allocate(2);
        var pattern = Enumerable.Range(0, 4096).Select(i => (byte)(i * 11 + 3)).ToArray();
        h.Residency!.StagePageIn(src, pattern);
        long id = h.Submit(2, b, cb => cb.Copy(src, 0, dst, 0, 4096));

        // The queue's context outranks every process's context on its engine (seed 001 behaviour 17), and it is not the
        // hung context's ring: the paging runs, and the render buffer waiting on it completes, long before the timeout.
        Assert.That(h.Machine.RunUntil(() => b.StatusOf(id) == SubmissionStatus.Completed), Is.True);
        Assert.That(h.Machine.Now, Is.LessThan(Timeout / 10), "within a tenth of the hung context's timeout");
        Assert.That(hung.Resets, Is.Zero, "the hung context has not been reset yet");
        Assert.That(h.Read(dst), Is.EqualTo(pattern));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That(hung.StatusOf(stuck), Is.EqualTo(SubmissionStatus.FailedTimeout));
        Assert.That(b.Resets, Is.Zero);
    }

    [Test]
    public void GivenTwoContextsOfOneEngineWhoseChunksWaitForPagingOnTheCopyEngine_ThenTheyDoNotHandTheEngineBackAndForth_AndBothComplete()
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 200_000 }, realResidency: true,
            localBytes: 64 * MiB, systemBytes: 96 * MiB);
        var computeTrace = new TraceRecorder();
        h.Machine.SchedulerFor(EngineKind.Compute).Observer = computeTrace;
        var a = h.Machine.CreateContext(1, 0, EngineKind.Compute);
        var b = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        var x = h.Machine.AllocateManaged(1, a, 16 * MiB);
        var y = h.Machine.AllocateManaged(2, b, 16 * MiB);
        // Each buffer's 16 MiB page-in runs on the copy engine (hundreds of thousands of cycles) while compute has both.
        long ia = h.Submit(1, a, cb => cb.Fill(x, 0, 0xA, 4096));
        long ib = h.Submit(2, b, cb => cb.Fill(y, 0, 0xB, 4096));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(new[] { a.StatusOf(ia), b.StatusOf(ib) }, Is.All.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(x, 0), Is.EqualTo(0xAu));
        Assert.That(h.Read32(y, 0), Is.EqualTo(0xBu));
        // A WAIT yields to NEXT_CONTEXT; a context waiting for paging is never named there, so at most the device's own
        // swap (the yielder becomes NEXT_CONTEXT) bounces once before the driver's next pass clears it.
        int yields = computeTrace.Of(ScheduleEventKind.ContextSwitched).Count(e => (SwitchReason)e.Value == SwitchReason.Yielded);
        Assert.That(yields, Is.LessThanOrEqualTo(4), "the two waiting contexts did not hand the engine back and forth");
    }

    private static void AssertFilled(SchedulingHarness h, Coproc.Fast.Driver.VidMm.AllocationHandle a, uint value, string name)
    {
        var bytes = h.Read(a);
        int bad = 0;
        for (int i = 0; i < bytes.Length; i += 4) if (BitConverter.ToUInt32(bytes, i) != value) bad++;
        Assert.That(bad, Is.Zero, $"{name} holds its last fill everywhere");
    }

    private static uint[] Dwords(SchedulingHarness h, PhysicalAddress at, int count) =>
        MemoryMarshal.Cast<byte, uint>(h.Machine.VidMm.Memory.GetSpan(at, count * 4)).ToArray();
}
