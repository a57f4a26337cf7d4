using Coproc.Fast.Device.Packets;
using Coproc.Fast.Driver.Kernel;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;

namespace Coproc.Fast.Tests.Scheduling;

/// <summary>Seed 001 §21 behaviours 1–9 and 11 on the basic model (deterministic mode, scheduling-only residency).</summary>
[TestFixture]
[Category(Coproc.Fast.Tests.Models.ModelCategory.Basic)]
public sealed class BasicModelBehaviourTests
{
    [Test]
    public void Behaviour01_PerAppInterleaving_EqualPriorityContextsAlternate()
    {
        using var h = new SchedulingHarness();
        var apps = new[] { h.Machine.CreateContext(1), h.Machine.CreateContext(2), h.Machine.CreateContext(3) };
        var target = new[] { h.Allocate(1, 65536), h.Allocate(2, 65536), h.Allocate(3, 65536) };
        int[] counts = [7, 2, 1];
        for (int app = 0; app < 3; app++)
            for (int i = 0; i < counts[app]; i++)
            {
                int a = app;
                h.Submit((uint)(a + 1), apps[a], b => b.Fill(target[a], 0, (uint)i, 65536));
            }

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        var order = h.Trace.Of(ScheduleEventKind.BufferStarted).Select(e => e.ContextId).ToArray();
        int a1 = apps[0].Id, a2 = apps[1].Id, a3 = apps[2].Id;
        Assert.That(order, Is.EqualTo(new[] { a1, a2, a3, a1, a2, a1, a1, a1, a1, a1 }));
        Assert.That(apps.Select(c => c.Completed), Is.EqualTo(new long[] { 7, 2, 1 }));
    }

    [Test]
    public void Behaviour02_ReadyQueue_InsertsByPriority_Priority8GoesBetween10And5()
    {
        var process = new KmdProcess(1);
        DmaBuffer Buffer(int priority, long seq) => new(process, default, default, 0, 64, 1) { Priority = priority, Sequence = seq };
        var q = new ReadyQueue();
        q.Insert(Buffer(5, 1));
        q.Insert(Buffer(10, 2));
        q.Insert(Buffer(8, 3));
        var taken = new List<int>();
        while (q.TryTake(out var b)) taken.Add(b.Priority);
        Assert.That(taken, Is.EqualTo(new[] { 10, 8, 5 }));
    }

    [Test]
    public void Behaviour02_PriorityOrder_HigherPriorityBufferSubmittedLaterStartsFirst()
    {
        using var h = new SchedulingHarness();
        var blocker = h.Machine.CreateContext(1, 20);
        var p5 = h.Machine.CreateContext(1, 5);
        var p10 = h.Machine.CreateContext(1, 10);
        var p8 = h.Machine.CreateContext(1, 8);
        var a = h.Allocate(1, 1 << 20);
        h.Submit(1, blocker, b => b.Fill(a, 0, 1, 1 << 20));
        h.Submit(1, blocker, b => b.Fill(a, 0, 2, 1 << 20));
        h.Submit(1, p5, b => b.Fill(a, 0, 5, 4096));
        h.Submit(1, p10, b => b.Fill(a, 0, 10, 4096));
        h.Submit(1, p8, b => b.Fill(a, 0, 8, 4096));

        h.Machine.RunUntilIdle();

        var order = h.Trace.Of(ScheduleEventKind.BufferStarted).Select(e => e.ContextId).ToArray();
        Assert.That(order, Is.EqualTo(new[] { blocker.Id, blocker.Id, p10.Id, p8.Id, p5.Id }));
    }

    [Test]
    public void Behaviour03_BufferBeingPrepared_IsNotDisplacedByAHigherPrioritySubmission()
    {
        using var h = new SchedulingHarness();
        var low = h.Machine.CreateContext(1, 0);
        var high = h.Machine.CreateContext(1, 10);
        var a = h.Allocate(1);
        long x = h.Submit(1, low, b => b.Fill(a, 0, 1, 4096));
        Assert.That(h.Scheduler.Stages.PreparingSubmission, Is.EqualTo(x), "X was selected: the worker is preparing it");

        h.Submit(1, high, b => b.Fill(a, 0, 2, 4096));
        Assert.That(h.Scheduler.Stages.PreparingContext, Is.EqualTo(low.Id), "Y does not displace X");
        h.Machine.RunUntilIdle();

        var prepared = h.Trace.Of(ScheduleEventKind.BufferPrepared).Select(e => e.ContextId).ToArray();
        Assert.That(prepared, Is.EqualTo(new[] { low.Id, high.Id }));
        // Once in its ring, Y takes the engine from X at the next preemption point (strict priority, seed 001 §5.5):
        // Y completes first and X, resumed mid-buffer, writes last.
        var completed = h.Trace.Of(ScheduleEventKind.BufferCompleted).Select(e => e.ContextId).ToArray();
        Assert.That(completed, Is.EqualTo(new[] { high.Id, low.Id }));
        Assert.That(h.Read32(a, 0), Is.EqualTo(1u));
    }

    [Test]
    public void Behaviour04_WorkerOverlap_NextBufferIsPagedAndHandedOverWhileTheCurrentOneRuns()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var big = h.Allocate(1, 8 << 20);
        var src = h.Allocate(1);
        var dst = h.Allocate(1);
        long n = h.Submit(1, ctx, b => b.Fill(big, 0, 7, 8 << 20));
        h.Residency!.StagePageIn(src, Enumerable.Repeat((byte)0x5A, 4096).ToArray());
        long n1 = h.Submit(1, ctx, b => b.Copy(src, 0, dst, 0, 4096));

        h.Machine.RunUntilIdle();

        ulong completedN = h.Trace.Of(ScheduleEventKind.BufferCompleted).Single(e => e.SubmissionId == n).Cycle;
        var prepared = h.Trace.Of(ScheduleEventKind.BufferPrepared).Single(e => e.SubmissionId == n1);
        var started = h.Trace.Of(ScheduleEventKind.BufferStarted).Single(e => e.SubmissionId == n1);
        Assert.That(h.Trace.Of(ScheduleEventKind.PagingBuffer).Single().SubmissionId, Is.EqualTo(n1));
        Assert.That(prepared.Cycle, Is.LessThan(completedN), "paging buffer built while N ran");
        Assert.That(started.Cycle, Is.LessThan(completedN), "N+1 was in the ring before N finished: no idle gap");
        Assert.That(h.Read(dst), Is.All.EqualTo((byte)0x5A));
    }

    [Test]
    public void Behaviour05_PagingBuffer_RunsImmediatelyBeforeItsDmaBuffer_InANonInterruptibleRegion()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var src = h.Allocate(1);
        var dst = h.Allocate(1);
        var pattern = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray();
        h.Residency!.StagePageIn(src, pattern);
        long id = h.Submit(1, ctx, b => b.Copy(src, 0, dst, 0, 4096));

        h.Machine.RunUntilIdle();

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read(dst), Is.EqualTo(pattern), "the DMA buffer saw the paged-in bytes");
        // §3.6: the paging buffer ran in the device paging queue's kernel context (an INDIRECT to its non-interruptible
        // buffer, Behaviour11); the context's own ring waits for the paging fence before its DMA buffer (nothing of the
        // paging is behind the context's work).
        Assert.That(RingOpcodes(h, h.Machine.Paging.Context.Ring), Is.EqualTo(new[] { Opcode.Indirect }));
        Assert.That(RingOpcodes(h, ctx.Ring), Is.EqualTo(new[] { Opcode.WaitFence, Opcode.Indirect, Opcode.Fence }));
    }

    private static List<Opcode> RingOpcodes(SchedulingHarness h, Coproc.Fast.Device.Memory.PhysicalAddress ring)
    {
        var dwords = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(h.Machine.VidMm.Memory.GetSpan(ring, 64)).ToArray();
        var ops = new List<Opcode>();
        for (int off = 0; off < dwords.Length && dwords[off] != 0; off += new PacketHeader(dwords[off]).LengthDwords) ops.Add(new PacketHeader(dwords[off]).Opcode);
        return ops;
    }

    [Test]
    public void Behaviour07_EvictBeforeSplit_SplitsOnlyAtResourceListOffsets_EachChunkFits()
    {
        using var h = new SchedulingHarness();
        var ctx = h.Machine.CreateContext(1);
        var a = Enumerable.Range(0, 4).Select(_ => h.Allocate(1)).ToArray();
        h.Residency!.FitLimit = 2 * 4096;
        long id = h.Submit(1, ctx, b => { for (int i = 0; i < 4; i++) b.Fill(a[i], 0, (uint)(i + 1), 4096, resourceId: 0); });

        h.Machine.RunUntilIdle();

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        for (int i = 0; i < 4; i++) Assert.That(h.Read32(a[i], 4092), Is.EqualTo((uint)(i + 1)));
        var calls = h.Residency.Calls;
        Assert.That(calls[0], Is.EqualTo((ctx.Id, 4 * 4096UL, Coproc.Fast.Driver.VidMm.Residency.ResidencyOutcome.DoesNotFit)),
            "the whole set was tried first (VidMm evicts what it can) before any split");
        Assert.That(calls.Where(c => c.Outcome != Coproc.Fast.Driver.VidMm.Residency.ResidencyOutcome.DoesNotFit).Select(c => c.Footprint),
            Is.All.LessThanOrEqualTo(2 * 4096UL));
        uint fill = (uint)PacketFormat.FillDwords * 4;
        var splitAt = h.Trace.Of(ScheduleEventKind.BufferSplit).Select(e => e.Value).ToArray();
        // Chunk 1 = a0, a1; chunk 2 = a2, a3: its state setup (slot 0's last allocation) is re-bound but not made resident.
        Assert.That(splitAt, Is.EqualTo(new ulong[] { 2 * fill, 4 * fill }), "chunk ends at packet (resource-list) offsets");
    }

    [Test]
    public void Behaviour09_LaterChunk_BeginsWithStateSetup_ThatReprogramsTheBoundResources()
    {
        using var h = new SchedulingHarness(new VidSchOptions { SplitThresholdBytes = 2 * 4096 });
        var ctx = h.Machine.CreateContext(1);
        var rt = h.Allocate(1);
        var depth = h.Allocate(1);
        var tex1 = h.Allocate(1);
        var tex2 = h.Allocate(1);
        long id = h.Submit(1, ctx, b =>
        {
            b.Fill(rt, 0, 0x11, 4096, resourceId: 0);
            b.Fill(tex1, 0, 0x22, 4096, resourceId: 2);
            b.Fill(tex2, 0, 0x33, 4096, resourceId: 2);
            b.Fill(depth, 0, 0x44, 4096, resourceId: 1);
        });

        h.Machine.RunUntilIdle();

        Assert.That(ctx.StatusOf(id), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Trace.Of(ScheduleEventKind.BufferStarted).Count(), Is.GreaterThan(1), "the buffer was split");
        var rm = h.Residency!;
        var mem = h.Machine.VidMm.Memory;
        Assert.That(mem.Read64(ctx.BindingTable), Is.EqualTo(rm.PatchAddress(rt, 0)), "render target (id 0) reprogrammed");
        Assert.That(mem.Read64(ctx.BindingTable.Add(2 * 8)), Is.Not.Zero, "the texture slot (id 2) reprogrammed");
        var ring = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(mem.GetSpan(ctx.Ring, 256)).ToArray();
        int first = 0;
        int second = first + PacketFormat.IndirectDwords + PacketFormat.FenceDwords;
        Assert.That(new PacketHeader(ring[second]).Opcode, Is.EqualTo(Opcode.WriteData), "chunk 2 starts with its state setup");
        Assert.That(h.Read32(depth, 0), Is.EqualTo(0x44u));
        Assert.That(h.Read32(tex2, 0), Is.EqualTo(0x33u));
    }

    [Test]
    public void Claim9_BuffersOfDifferentContexts_MayCompleteOutOfSubmissionOrder()
    {
        using var h = new SchedulingHarness();
        var low = h.Machine.CreateContext(1, 0);
        var high = h.Machine.CreateContext(2, 5);
        var a = h.Allocate(1, 1 << 20);
        var c = h.Allocate(2);
        for (int i = 0; i < 4; i++) h.Submit(1, low, b => b.Fill(a, 0, (uint)i, 1 << 20));
        long late = h.Submit(2, high, b => b.Fill(c, 0, 9, 4096));

        h.Machine.RunUntilIdle();

        var completed = h.Trace.Of(ScheduleEventKind.BufferCompleted).Select(e => (e.ContextId, e.SubmissionId)).ToList();
        Assert.That(completed.IndexOf((high.Id, late)), Is.LessThan(completed.IndexOf((low.Id, 4))));
    }
}
