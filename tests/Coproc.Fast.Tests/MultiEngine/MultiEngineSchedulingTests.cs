using System.Runtime.InteropServices;
using Coproc.Fast.Device.Engines;
using Coproc.Fast.Device.Engines.Work;
using Coproc.Fast.Driver.VidMm;
using Coproc.Fast.Driver.VidSch;
using Coproc.Fast.Tests.Scheduling;

namespace Coproc.Fast.Tests.MultiEngine;

/// <summary>
/// One scheduler per engine sharing the kernel lock, VidMm / residency, the paging order and each other's pinned
/// chunks (docs/concepts.md, "The basic model"): engines run at once, interrupts reach their engine's scheduler, a fault resets
/// only its context, memory pressure across engines keeps every byte, and replay is exact.
/// </summary>
[TestFixture]
public sealed class MultiEngineSchedulingTests
{
    private const int N = 1 << 17;

    private sealed record Outcome(uint Target, uint Y, List<ScheduleEvent> Trace, ulong Cycles, long RenderBusy, long ComputeBusy, long Paging);

    // Render: DRAW_RECTS frames into two managed targets; compute: SAXPYs over two managed buffers; both at once.
    private static Outcome RenderAndCompute(ulong localBytes)
    {
        using var h = new SchedulingHarness(new VidSchOptions { QuantumCycles = 50_000 }, realResidency: true, localBytes: localBytes);
        h.Machine.SetObserver(h.Trace);
        var game = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var job = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        var t0 = h.Machine.AllocateManaged(1, game, 256 * 512 * 4);
        var t1 = h.Machine.AllocateManaged(1, game, 256 * 512 * 4);
        var x = h.Machine.AllocateManaged(2, job, N * 4);
        var y = h.Machine.AllocateManaged(2, job, N * 4);
        h.Write(x, MemoryMarshal.AsBytes(Enumerable.Range(0, N).Select(i => (float)i).ToArray().AsSpan()));
        var surface = Surface.Packed(0, 256, 512);
        for (int frame = 0; frame < 6; frame++)
        {
            var target = frame % 2 == 0 ? t0 : t1;
            int f = frame;
            h.Submit(1, game, cb => cb.DrawRects(target, surface,
                [RectPrimitive.Fill(0, 0, 256, 512, 0xFF000000u | (uint)f), RectPrimitive.BlendColor(f * 16, 32, 200, 300, 0x80FF8040u)]));
            h.Submit(2, job, cb => cb.Saxpy(N, 512, x, 0, y, 0, 0.5f + f));
        }
        Assert.That(h.Machine.RunUntilIdle(), Is.True);
        Assert.That((game.Completed, job.Completed), Is.EqualTo((6L, 6L)));
        long paging = h.Machine.Schedulers.Sum(s => s?.PagingBuffersBuilt ?? 0);
        return new Outcome(SchedulingHarness.Checksum(h.Read(t0)) ^ SchedulingHarness.Checksum(h.Read(t1)), SchedulingHarness.Checksum(h.Read(y)),
            h.Trace.Events.ToList(), h.Machine.Now, h.Machine.Device.Engine(EngineKind.Render).BusyCycles,
            h.Machine.Device.Engine(EngineKind.Compute).BusyCycles, paging);
    }

    [Test]
    public void RenderAndCompute_RunAtTheSameTime_EachOnItsOwnEngine()
    {
        var r = RenderAndCompute(16UL << 20);
        Assert.That(r.RenderBusy, Is.GreaterThan(0));
        Assert.That(r.ComputeBusy, Is.GreaterThan(0));
        Assert.That(r.Cycles, Is.LessThan((ulong)(r.RenderBusy + r.ComputeBusy)), "the engines overlapped in time");
        var completed = r.Trace.Where(e => e.Kind == ScheduleEventKind.BufferCompleted).Select(e => e.ContextId).Distinct().Count();
        Assert.That(completed, Is.EqualTo(2), "fence interrupts reached both engines' schedulers");
    }

    [Test]
    public void MemoryPressureAcrossEngines_PagesWithoutMovingTheOtherEnginesPinnedBuffers_SameBytes()
    {
        // 16 MiB holds everything; 2 MiB (less the kernel's pages) for 2 MiB of working set forces eviction across engines.
        var roomy = RenderAndCompute(16UL << 20);
        var tight = RenderAndCompute(2UL << 20);
        Assert.That(tight.Paging, Is.GreaterThan(roomy.Paging), "the tight run paged");
        Assert.That((tight.Target, tight.Y), Is.EqualTo((roomy.Target, roomy.Y)));
    }

    [Test]
    public void SameInputs_SameEventOrder_AcrossEngines()
    {
        var a = RenderAndCompute(2UL << 20);
        var b = RenderAndCompute(2UL << 20);
        Assert.That(b.Trace, Is.EqualTo(a.Trace));
        Assert.That(b.Cycles, Is.EqualTo(a.Cycles));
    }

    [Test]
    public void FaultOnTheComputeEngine_ResetsOnlyThatContext_RenderWorkFinishes()
    {
        using var h = new SchedulingHarness(realResidency: true);
        h.Machine.SetObserver(h.Trace);
        var game = h.Machine.CreateContext(1, 0, EngineKind.Render);
        var bad = h.Machine.CreateContext(2, 0, EngineKind.Compute);
        var target = h.Allocate(1, 256 * 256 * 4);
        var buf = h.Allocate(2, 4096);
        long frame = h.Submit(1, game, cb => cb.DrawRects(target, Surface.Packed(0, 256, 256), [RectPrimitive.Fill(0, 0, 256, 256, 0xFF112233)]));
        // Group size 0: well-formed for the KMD (operands in bounds), malformed for the device (§8A.3) — an invalid command.
        long faulting = h.Submit(2, bad, cb => cb.Dispatch(DispatchKernel.Saxpy, 16, 0, buf, 0, buf, 0));

        Assert.That(h.Machine.RunUntilIdle(), Is.True);

        Assert.That(bad.StatusOf(faulting), Is.EqualTo(SubmissionStatus.FailedFault));
        Assert.That(game.StatusOf(frame), Is.EqualTo(SubmissionStatus.Completed));
        Assert.That(h.Read32(target, 4 * 1000), Is.EqualTo(0xFF112233u));
        Assert.That(h.Trace.Of(ScheduleEventKind.ContextFault).Select(e => e.ContextId), Is.EqualTo(new[] { bad.Id }));
        Assert.That(game.Resets, Is.Zero);
    }

    [Test]
    public void ContextIds_AreUniqueAcrossEngines_DefaultEngineKeepsTheFirstRange()
    {
        using var h = new SchedulingHarness();
        var r = h.Machine.CreateContext(1);
        var c = h.Machine.CreateContext(1, 0, EngineKind.Compute);
        var v = h.Machine.CreateContext(1, 0, EngineKind.VideoDecode);
        Assert.That(r.Id, Is.EqualTo(new VidSchOptions().FirstContextId));
        Assert.That(new[] { r.Engine, c.Engine, v.Engine }, Is.EqualTo(new[] { EngineKind.Render, EngineKind.Compute, EngineKind.VideoDecode }));
        Assert.That(new[] { r.Id, c.Id, v.Id }, Is.Unique);
        Assert.That(h.Machine.SchedulerFor(EngineKind.Compute).FindContext(c.Id), Is.SameAs(c));
        Assert.That(h.Machine.SchedulerFor(EngineKind.Render).FindContext(c.Id), Is.Null);
    }

    [Test]
    public void ScheduledEngines_LimitWhichEnginesGetContexts()
    {
        using var m = new Coproc.Fast.Driver.Machine(new Coproc.Fast.Driver.MachineOptions
        {
            ScheduledEngines = [EngineKind.Render, EngineKind.VideoDecode],
        });
        Assert.That(m.Schedulers.Select(s => s is not null), Is.EqualTo(new[] { true, false, false, true, false }));
        Assert.That(m.CreateContext(1, 0, EngineKind.VideoDecode).Engine, Is.EqualTo(EngineKind.VideoDecode));
        Assert.Throws<InvalidOperationException>(() => m.CreateContext(1, 0, EngineKind.Compute));
        Assert.Throws<ArgumentException>(() => new Coproc.Fast.Driver.Machine(new Coproc.Fast.Driver.MachineOptions
        {
            ScheduledEngines = [EngineKind.Compute],
        }), "the default engine must be scheduled");
    }
}
